"""What every reader of artifacts shares: an artifact's files, reached with
os for a local path (importing TFX, and TensorFlow's filesystems, costs
seconds a local report needs not) and with TFX's fileio for a remote URI;
and a proto's NaN as None, which JSON and the report can show.
"""

import glob
import math
import os
from typing import Optional

from fluent_pipeline import _paths


class _LocalFiles:
  """The part of TFX's fileio the readers use, for local paths."""
  exists = staticmethod(os.path.exists)
  listdir = staticmethod(os.listdir)
  walk = staticmethod(os.walk)
  glob = staticmethod(glob.glob)
  open = staticmethod(open)


def fileio(path: str):
  """TFX's fileio for a remote URI, else the local stand-in."""
  if not _paths.is_uri(path):
    return _LocalFiles
  from tfx.dsl.io import fileio
  return fileio


def read_bytes(path: str) -> bytes:
  with fileio(path).open(path, 'rb') as f:
    return f.read()


def join(uri: str, *parts: str) -> str:
  return _paths.join(uri, *parts)


def number(value: float) -> Optional[float]:
  return None if value is None or math.isnan(value) else float(value)
