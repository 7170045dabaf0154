"""TFX's Pusher, which pushes a model once: Pusher and its Executor.

TFX's Pusher executor copies the model into a new version folder at every
execution, so a model that is pushed again (a re-run whose baseline changed,
a notebook alternating two variants, a past run replayed) becomes a new,
byte-identical version, and replaying an old run silently rolls the
serving directory back to it. This executor first compares the model with
the versions already in the destination (saved_model.pb first, which tells
almost every model apart cheaply, then every other file) and does not push
a model a version already holds. Pushing it again as the newest version is
a rollback, done only when asked (`rollback`, an exec property, so it is
recorded on the execution in ML Metadata).

The PushedModel artifact keeps TFX's meanings: `pushed` is 1 only when
this execution copied the model, and `pushed_destination` /
`pushed_version` name the version it wrote. Besides, when a version already
held the model: `already_pushed_version` / `already_pushed_destination`
(that version) and `newest_version` (the newest version then, which a
TensorFlow Serving with its default version policy serves); on a rollback,
`rolled_back_version` (the older version that held the model); a rollback
of a model that no version holds pushes nothing: `rollback_refused`.

The component is TFX's Pusher with this executor and the `rollback`
property (left out unless set, so an ordinary Pusher compiles to TFX's IR
but for the executor class); its type stays TFX's Pusher, as a
`custom_executor_spec` would leave it.
"""

import hashlib
import os
import time
from typing import Any, Dict, List, Optional, Union

from absl import logging
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.orchestration import data_types
from tfx.proto import pusher_pb2
from tfx.types import (
  artifact_utils,
  standard_artifacts,
  standard_component_specs,
)
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils, json_utils, proto_utils

ROLLBACK_KEY = 'rollback'
# Custom properties of the PushedModel artifact, besides TFX's `pushed`,
# `pushed_destination` and `pushed_version`.
ALREADY_PUSHED_VERSION = 'already_pushed_version'
ALREADY_PUSHED_DESTINATION = 'already_pushed_destination'
NEWEST_VERSION = 'newest_version'
ROLLED_BACK_VERSION = 'rolled_back_version'
# Set instead of pushing when a rollback was asked for a model that no
# version holds (the replayed run trained a new model): why nothing went.
ROLLBACK_REFUSED = 'rollback_refused'

_SAVED_MODEL = 'saved_model.pb'
_CHUNK = 1 << 20


def versions(base_directory: str) -> List[str]:
  """The version folders in a push destination, newest (highest) first;
  folders that are not a version number are not versions."""
  if not fileio.isdir(base_directory):
    return []
  names = [name.rstrip('/') for name in fileio.listdir(base_directory)]
  return sorted((n for n in names if n.isdigit()), key=int, reverse=True)


def _digest(path: str) -> str:
  digest = hashlib.sha256()
  with fileio.open(path, 'rb') as f:
    while True:
      chunk = f.read(_CHUNK)
      if not chunk:
        return digest.hexdigest()
      digest.update(chunk)


def _size(path: str) -> int:
  """A file's size: TensorFlow's gfile says `length`, the local plugin
  (os.stat) `st_size`."""
  stat = fileio.stat(path)
  return stat.length if hasattr(stat, 'length') else stat.st_size


def _files(root: str) -> Dict[str, int]:
  """Every file under `root`: its path relative to `root` -> its size."""
  root = root.rstrip('/')
  found = {}
  for directory, _, names in fileio.walk(root):
    directory = str(directory).rstrip('/')
    for name in names:
      path = f'{directory}/{name}'
      found[path[len(root) + 1:]] = _size(path)
  return found


class _Model:
  """The model to push, compared with a version; what is read of it (its
  file list, each file's digest) is read once."""

  def __init__(self, path: str):
    self.path = path.rstrip('/')
    self._files: Optional[Dict[str, int]] = None
    self._digests: Dict[str, str] = {}

  def digest(self, relative: str) -> str:
    if relative not in self._digests:
      self._digests[relative] = _digest(f'{self.path}/{relative}')
    return self._digests[relative]

  def same_as(self, version_path: str) -> bool:
    """Whether `version_path` holds exactly this model: saved_model.pb
    first (size, then content), then the list of files and their sizes,
    then every file's content."""
    version_path = version_path.rstrip('/')
    mine = f'{self.path}/{_SAVED_MODEL}'
    theirs = f'{version_path}/{_SAVED_MODEL}'
    if fileio.exists(mine) != fileio.exists(theirs):
      return False
    if fileio.exists(mine):
      if _size(mine) != _size(theirs):
        return False
      if self.digest(_SAVED_MODEL) != _digest(theirs):
        return False
    if self._files is None:
      self._files = _files(self.path)
    if _files(version_path) != self._files:
      return False
    return all(self.digest(name) == _digest(f'{version_path}/{name}')
               for name in self._files if name != _SAVED_MODEL)


class Executor(pusher_executor.Executor):
  """TFX's Pusher executor, which does not push a model that a version in
  the destination already holds, unless `rollback` asks to serve it again
  (it is then pushed as the newest version)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    destination = pusher_pb2.PushDestination()
    text = exec_properties.get(standard_component_specs.PUSH_DESTINATION_KEY)
    if text:
      proto_utils.json_to_proto(text, destination)
    if destination.WhichOneof('destination') != 'filesystem':
      super().Do(input_dict, output_dict, exec_properties)
      return
    self._log_startup(input_dict, output_dict, exec_properties)
    model_push = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      return
    filesystem = destination.filesystem
    if filesystem.versioning not in (pusher_pb2.Versioning.AUTO,
                                     pusher_pb2.Versioning.UNIX_TIMESTAMP):
      raise NotImplementedError(
          f'Invalid Versioning {filesystem.versioning}')
    base = filesystem.base_directory
    model_path = self.GetModelPath(input_dict)
    existing = versions(base)
    model = _Model(model_path)
    holding = next((v for v in existing
                    if model.same_as(os.path.join(base, v))), None)
    rollback = bool(exec_properties.get(ROLLBACK_KEY))
    if holding is not None and (holding == existing[0] or not rollback):
      logging.info('Model %s is already version %s of %s; not pushed again.',
                   model_path, holding, base)
      self._MarkNotPushed(model_push)
      model_push.set_string_custom_property(ALREADY_PUSHED_VERSION, holding)
      model_push.set_string_custom_property(
          ALREADY_PUSHED_DESTINATION, os.path.join(base, holding))
      model_push.set_string_custom_property(NEWEST_VERSION, existing[0])
      return
    if rollback and holding is None:
      # A rollback serves again a model that was served before; a model no
      # version holds is a new one (the replayed run trained again), which
      # nobody asked to serve this way.
      logging.warning('Rollback asked, but no version of %s holds model %s: '
                      'not pushed.', base, model_path)
      self._MarkNotPushed(model_push)
      model_push.set_string_custom_property(
          ROLLBACK_REFUSED, 'no version in the destination holds this model, '
          'so it is not the model of an earlier push (its Trainer ran '
          'again?); nothing was pushed')
      if existing:
        model_push.set_string_custom_property(NEWEST_VERSION, existing[0])
      return
    # A timestamp, as TFX's, but above every version there: the pushed
    # model is the one served, even when pushed twice in a second.
    number = max(int(time.time()), int(existing[0]) + 1 if existing else 0)
    # TFX's copy_dir empties a folder that exists: never one pushed
    # meanwhile by another pipeline.
    while fileio.exists(os.path.join(base, str(number))):
      number += 1
    version = str(number)
    serving_path = os.path.join(base, version)
    # saved_model.pb last: TF Serving takes it as the sign that the model is
    # complete (as TFX's executor copies).
    io_utils.copy_dir(model_path, serving_path,
                      deny_regex_patterns=[r'saved_model\.pb'])
    saved_model = os.path.join(model_path, _SAVED_MODEL)
    if fileio.exists(saved_model):
      io_utils.copy_file(saved_model, os.path.join(serving_path, _SAVED_MODEL))
    logging.info('Model written to serving path %s.', serving_path)
    io_utils.copy_dir(model_path, model_push.uri)  # archived, as TFX does
    self._MarkPushed(model_push, pushed_destination=serving_path,
                     pushed_version=version)
    if holding is not None:
      logging.info('Rolled back to the model of version %s.', holding)
      model_push.set_string_custom_property(ROLLED_BACK_VERSION, holding)


class PusherSpec(standard_component_specs.PusherSpec):
  """TFX's PusherSpec and `rollback` (1: push a model that an older version
  holds as the newest version)."""
  PARAMETERS = {**standard_component_specs.PusherSpec.PARAMETERS,
                ROLLBACK_KEY: ExecutionParameter(type=int, optional=True)}


class Pusher(pusher_component.Pusher):
  """TFX's Pusher with the Executor above; see the module docstring."""

  SPEC_CLASS = PusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self,
               model: Optional[types.BaseChannel] = None,
               model_blessing: Optional[types.BaseChannel] = None,
               infra_blessing: Optional[types.BaseChannel] = None,
               push_destination: Optional[Union[
                   pusher_pb2.PushDestination,
                   data_types.RuntimeParameter]] = None,
               custom_config: Optional[Dict[str, Any]] = None,
               rollback: bool = False):
    if model is None and infra_blessing is None:
      raise ValueError('Pusher needs a model or infra_blessing channel')
    spec = PusherSpec(
        model=model, model_blessing=model_blessing,
        infra_blessing=infra_blessing, push_destination=push_destination,
        custom_config=json_utils.dumps(custom_config),
        rollback=1 if rollback else None,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel))
    base_component.BaseComponent.__init__(self, spec=spec)

  @classmethod
  def get_class_type(cls) -> str:
    """TFX's Pusher's type: the node, its executions in ML Metadata and
    what reads them see TFX's Pusher (with another executor)."""
    return pusher_component.Pusher.get_class_type()
