"""ML Metadata as TFX lays a run out, read by id: the bottom of `recorded/`.

The context and artifact types, the run and node contexts, the events and
the execution states that results, provenance, pushes and gc all read, and
the note a reader leaves on a run whose file cannot be read. A module of
its own, importing no sibling, so each of them imports it without a cycle.
"""

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional, Protocol

if TYPE_CHECKING:  # ML Metadata's types, for annotations only
  from ml_metadata.metadata_store import MetadataStore as Store

  # Generated protos, which ship no stubs: checkers see them as Any.
  from ml_metadata.proto.metadata_store_pb2 import (  # type: ignore[attr-defined]
    Context,
    Execution,
  )

# ml_metadata Execution.State values, by name.
STATE_NAMES = {0: 'UNKNOWN', 1: 'NEW', 2: 'RUNNING', 3: 'COMPLETE',
               4: 'FAILED', 5: 'CACHED', 6: 'CANCELED'}
CACHED = 5  # Execution.CACHED
COMPLETED = (3, CACHED)  # Execution.COMPLETE or CACHED: its outputs exist
# ml_metadata Artifact.State values: what `fluent-pipeline gc` marks.
MARKED_FOR_DELETION, DELETED = 3, 4
REMOVED = (MARKED_FOR_DELETION, DELETED)
# A step a partial run did not execute: ML Metadata records it CACHED, as it
# does a hit of TFX's cache, but its outputs were taken from another run.
REUSED = 'REUSED'
INPUT_EVENT = 3  # metadata_store_pb2.Event.INPUT
OUTPUT_EVENT = 4  # metadata_store_pb2.Event.OUTPUT
# What `fluent-pipeline gc` records on an artifact it removes (when, by what).
REMOVED_PROPERTY = 'fluent_pipeline_removed'


def made_by(state: str, run_id: Optional[str],
            execution_id: Optional[int]) -> str:
  """'reused from run X (execution N)' / 'cached from run X ...': where
  the outputs of a step a run did not execute came from."""
  return f'{state.lower()} from run {run_id} (execution {execution_id})'


def type_id(store: 'Store', kind: str, name: str) -> Optional[int]:
  """The id of context type (`kind` 'context') or artifact type `name`;
  None when this store never registered it."""
  from ml_metadata import errors
  try:
    if kind == 'context':
      return store.get_context_type(name).id
    return store.get_artifact_type(name).id
  except errors.NotFoundError:
    return None


def contexts_of_type(store: 'Store', type_name: str) -> list['Context']:
  """The contexts of type `type_name`; none when the type is not registered
  in this store. Any other error of ML Metadata (a lost connection, a
  corrupt store) is raised, saying what was being read: never 'no runs'."""
  from ml_metadata import errors
  try:
    return store.get_contexts_by_type(type_name)
  except errors.NotFoundError:
    return []  # the type is not registered in this store
  except errors.StatusError as e:
    raise errors.make_exception(
        f'cannot read the runs ({type_name!r} contexts) from ML Metadata: '
        f'{e.message}', e.error_code) from e


def run_contexts(store: 'Store', pipeline_name: str, legacy: bool = True
                 ) -> list['Context']:
  """The run contexts of `pipeline_name`, newest first: 'pipeline_run'
  (TFX's IR-based runners) and, with `legacy`, 'run' (the launchers of
  TFX's AirflowDagRunner, named '<pipeline>.<run id>')."""
  runs = [c for c in contexts_of_type(store, 'pipeline_run')
          if _belongs(store, c, pipeline_name)]
  if legacy:
    runs += [c for c in contexts_of_type(store, 'run')
             if c.properties['pipeline_name'].string_value == pipeline_name]
  return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id),
                reverse=True)


def run_id_of(context: 'Context') -> str:
  """The run id of a run context (a legacy one holds it as a property)."""
  if 'run_id' in context.properties:
    return context.properties['run_id'].string_value
  return context.name


def _belongs(store: 'Store', run_context: 'Context',
             pipeline_name: str) -> bool:
  parents = store.get_parent_contexts_by_context(run_context.id)
  if parents:
    return any(p.name == pipeline_name for p in parents)
  # Older layouts: the run's executions share the pipeline context.
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    return False
  executions = store.get_executions_by_context(run_context.id)
  if not executions:
    return False
  contexts = store.get_contexts_by_execution(executions[0].id)
  return any(c.id == pipeline.id for c in contexts)


def node_ids(store: 'Store', executions: Sequence['Execution'],
             pipeline_name: str) -> dict[int, str]:
  """Execution id -> the id of the pipeline node that ran it (its 'node'
  context, or a legacy launcher's 'component_run' context)."""
  found = {}
  prefix = f'{pipeline_name}.'
  types = {}
  from ml_metadata import errors
  for name in ('node', 'component_run'):
    try:
      types[store.get_context_type(name).id] = name
    except errors.NotFoundError:
      pass  # not registered in this store
  for execution in executions:
    for context in store.get_contexts_by_execution(execution.id):
      kind = types.get(context.type_id)
      if kind == 'node' and context.name.startswith(prefix):
        found[execution.id] = context.name[len(prefix):]
      elif kind == 'component_run' and execution.id not in found:
        found[execution.id] = context.properties[
            'component_id'].string_value
  return found


def input_ids(store: 'Store', execution_id: int) -> dict[str, list[int]]:
  """Input key -> the ids of the artifacts an execution took."""
  found: dict[str, list[int]] = {}
  for event in store.get_events_by_execution_ids([execution_id]):
    if event.type == INPUT_EVENT and event.path.steps:
      found.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
  return {key: sorted(ids) for key, ids in found.items()}


def maker(store: 'Store', artifact_id: int) -> Optional[int]:
  """The id of the execution that first output the artifact (the one that
  made it; cache hits output it again later)."""
  made = [e.execution_id for e in
          store.get_events_by_artifact_ids([artifact_id])
          if e.type == OUTPUT_EVENT]
  return min(made) if made else None


def run_that_made(store: 'Store', artifact_id: int) -> Optional[str]:
  """The run of the execution that made the artifact (`maker`)."""
  made = maker(store, artifact_id)
  if made is None:
    return None
  run_types = {type_id(store, 'context', name) for name in
               ('pipeline_run', 'run')} - {None}
  return next((run_id_of(c) for c in store.get_contexts_by_execution(made)
               if c.type_id in run_types), None)


class Noted(Protocol):
  """What `unreadable` writes on (a RunResult is one)."""
  run_id: str
  unreadable: dict[str, str]


def unreadable(result: Noted, what: str, uri: str,
               error: BaseException) -> None:
  """Records on `result`, and warns, that its `what` could not be read."""
  reason = f'{type(error).__name__}: {error} ({uri})'
  result.unreadable[what] = reason
  warnings.warn(f'run {result.run_id}: its {what} cannot be read: {reason}',
                stacklevel=3)
