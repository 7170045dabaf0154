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


def not_found_errors() -> tuple[type[BaseException], ...]:
  """The exceptions that mean a path does not exist, and nothing else:
  FileNotFoundError, TFX's filesystem NotFoundError and TensorFlow's (each
  only once its module is loaded: none can be raised before)."""
  import sys
  found: list[type[BaseException]] = [FileNotFoundError]
  filesystem = sys.modules.get('tfx.dsl.io.filesystem')
  if filesystem is not None:
    found.append(filesystem.NotFoundError)
  tf_errors = sys.modules.get('tensorflow.python.framework.errors_impl')
  if tf_errors is not None:
    found.append(tf_errors.NotFoundError)
  return tuple(found)


def read_errors() -> tuple[type[BaseException], ...]:
  """The exceptions reading an artifact's file can raise: OSError, a
  malformed file (ValueError, JSON's included; protobuf's DecodeError),
  TensorFlow's OpError (DataLoss, PermissionDenied, ...) and TFX's
  filesystem errors, the last two once their modules are loaded."""
  import sys
  found: list[type[BaseException]] = [OSError, ValueError]
  for module, name in (('google.protobuf.message', 'DecodeError'),
                       ('tensorflow.python.framework.errors_impl', 'OpError'),
                       ('tfx.dsl.io.filesystem', 'NotFoundError')):
    loaded = sys.modules.get(module)
    if loaded is not None:
      found.append(getattr(loaded, name))
  return tuple(found)


def exists(path: str) -> bool:
  """Whether a file exists, locally or (through TFX's filesystems) at a URI;
  TFX is imported only for a URI. Only a genuine not-found means absent: an
  error checking a URI (no access, failed authentication, no filesystem for
  its scheme) is raised, not read as 'does not exist'."""
  if not is_uri(path):
    return os.path.exists(path)
  from tfx.dsl.io import fileio
  try:
    return fileio.exists(path)
  except not_found_errors():
    return False


def read_text(path: str) -> str:
  if not is_uri(path):
    with open(path, encoding='utf-8') as f:
      return f.read()
  from tfx.dsl.io import fileio
  with fileio.open(path, 'r') as f:
    return f.read()
