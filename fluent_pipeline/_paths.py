"""Paths given by users, which may be URIs (gs://, s3://, hdfs://, ...).

A URI stays exactly as given: it is never made absolute nor looked for on the
local disk, so a pipeline whose root or data is remote compiles here and its
compiled spec names the remote locations, not a local folder called 'gs:'.
"""

import os
import re
from typing import Any

_URI = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://')


def is_uri(path: Any) -> bool:
  return isinstance(path, str) and bool(_URI.match(path))


def absolute(path: Any) -> str:
  """A local path made absolute (with ~ expanded); a URI as given."""
  path = os.fspath(path)
  if is_uri(path):
    return path
  return os.path.abspath(os.path.expanduser(path))


def join(base: str, *parts: str) -> str:
  """os.path.join for local paths; '/'-joined for URIs."""
  if is_uri(base):
    return '/'.join([base.rstrip('/')] + [p.strip('/') for p in parts])
  return os.path.join(base, *parts)


def local_exists(path: str) -> bool:
  """Whether a local path exists; a URI counts as existing (it is checked
  where it is read, not here)."""
  return is_uri(path) or os.path.exists(path)


def exists(path: str) -> bool:
  """Whether a file exists, locally or (through TFX's filesystems) at a URI;
  TFX is imported only for a URI."""
  if not is_uri(path):
    return os.path.exists(path)
  from tfx.dsl.io import fileio
  try:
    return fileio.exists(path)
  except Exception:
    return False  # no filesystem for that scheme, or no access: unknown


def read_text(path: str) -> str:
  if not is_uri(path):
    with open(path, encoding='utf-8') as f:
      return f.read()
  from tfx.dsl.io import fileio
  with fileio.open(path, 'r') as f:
    return f.read()
