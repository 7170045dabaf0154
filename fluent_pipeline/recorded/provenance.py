"""Where a step's outputs came from when the run did not make them, and why
a step made them again.

A CACHED step (TFX's cache) or a REUSED one (a partial run) outputs what an
execution of another run made: `producers` finds that execution and its
run, `read_origins` names them on the step with the arguments and user code
that run recorded, `reused_edges` adds the inputs TFX does not record for a
reused step. `why_evaluated_again` says why an Evaluator ran for a model it
had evaluated before (its baseline changed). Apart from results, which
calls these while it reads a run, because partial runs
(orchestration.partial) ask the same question before a run.
"""

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Protocol

from fluent_pipeline import _paths
from fluent_pipeline.recorded import mlmd

if TYPE_CHECKING:  # ML Metadata's types, for annotations only
  from ml_metadata.metadata_store import MetadataStore as Store

  # Generated protos, which ship no stubs: checkers see them as Any.
  from ml_metadata.proto.metadata_store_pb2 import (  # type: ignore[attr-defined]
    Event,
    Execution,
  )

_CACHE_CONTEXT = 'execution_cache'  # TFX's cache: context_lib's type name


@dataclasses.dataclass
class Origin:
  """Where a step's outputs came from when the run did not make them: the
  run and execution that did, and the arguments and user code that run
  recorded for the step (None: it recorded no configuration, or the run
  being read recorded no node ids to find the step by)."""
  node_id: str
  state: str  # CACHED or REUSED
  run_id: str
  execution_id: int
  arguments: Any = None
  user_code: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __str__(self) -> str:
    return mlmd.made_by(self.state, self.run_id, self.execution_id)


class Reading(Protocol):
  """What this module reads and writes of the run being read (a RunResult
  is one; its `components` are ComponentRuns)."""
  run_id: str
  configuration: Optional[dict[str, Any]]
  components: list[Any]
  origins: dict[str, Origin]
  edges: list[tuple[str, str]]
  reran: dict[str, str]
  unreadable: dict[str, str]


def producers(store: 'Store', executions: Sequence['Execution']
              ) -> dict[int, tuple[int, Optional[str]]]:
  """Execution id -> (the execution that made its outputs, that one's run
  id), for executions that output artifacts: the first execution of the
  same component type with an OUTPUT event for its first output that was
  not itself served (CACHED), following a chain of cache hits and partial
  runs back to the run that ran it."""
  outputs: dict[int, int] = {}
  ids = [e.id for e in executions]
  for event in (store.get_events_by_execution_ids(ids) if ids else []):
    if event.type == mlmd.OUTPUT_EVENT:
      outputs[event.execution_id] = min(
          event.artifact_id, outputs.get(event.execution_id, event.artifact_id))
  if not outputs:
    return {}
  made: dict[int, set[int]] = {}
  for event in store.get_events_by_artifact_ids(sorted(set(outputs.values()))):
    if event.type == mlmd.OUTPUT_EVENT:
      made.setdefault(event.artifact_id, set()).add(event.execution_id)
  made_ids = sorted({i for ids_ in made.values() for i in ids_})
  candidates = {e.id: e for e in (store.get_executions_by_id(made_ids)
                                  if made_ids else [])}
  chosen: dict[int, int] = {}
  for execution in executions:
    if execution.id not in outputs:
      continue
    same = [candidates[i] for i in made.get(outputs[execution.id], ())
            if i in candidates and candidates[i].type_id == execution.type_id]
    ran = [e for e in same if e.last_known_state != mlmd.CACHED] or same
    if ran:
      chosen[execution.id] = min(e.id for e in ran)
  run_types = {t for t in (mlmd.type_id(store, 'context', 'pipeline_run'),
                           mlmd.type_id(store, 'context', 'run'))
               if t is not None}
  runs: dict[int, Optional[str]] = {}
  for producer in set(chosen.values()):
    runs[producer] = next((mlmd.run_id_of(c) for c in
                           store.get_contexts_by_execution(producer)
                           if c.type_id in run_types), None)
  return {e: (p, runs[p]) for e, p in chosen.items()}


def read_origins(store: 'Store', result: Reading,
                 executions: Sequence['Execution'], legacy: bool) -> None:
  """Marks the CACHED steps a partial run took from another run as REUSED
  (its record says so, or TFX's cache did not serve them: no cache context),
  names the run and execution that made each CACHED or REUSED step's
  outputs, and reads the arguments and code that run recorded for it.
  (The launchers of TFX's AirflowDagRunner, `legacy`, keep no cache
  context: only their record could say.)"""
  from fluent_pipeline.dsl import configuration
  cached = [e for e in executions if e.last_known_state == mlmd.CACHED]
  if not cached:
    return
  config = result.configuration or {}
  recorded = (config.get(configuration.PARTIAL_RUN) or {}).get('reused') or {}
  cache_type = mlmd.type_id(store, 'context', _CACHE_CONTEXT)
  made = producers(store, cached)
  by_execution = {c.execution_id: c for c in result.components}
  steps = configuration.step_of(config)
  configs: dict[str, Optional[dict[str, Any]]] = {}
  for execution in cached:
    component = by_execution[execution.id]
    served = legacy or cache_type is None or any(
        c.type_id == cache_type
        for c in store.get_contexts_by_execution(execution.id))
    if component.node_id in recorded or not served:
      component.state = mlmd.REUSED
    entry = recorded.get(component.node_id) or {}
    producer, run_id = made.get(execution.id, (None, None))
    component.made_by_run = entry.get('run_id') or run_id
    component.made_by_execution = entry.get('execution_id') or producer
    key = steps.get(component.node_id)
    if (component.made_by_run is None or key is None or
        key in result.origins):  # a step's own node comes first
      continue
    origin = Origin(component.node_id, component.state, component.made_by_run,
                    component.made_by_execution)
    if component.made_by_run not in configs:
      configs[component.made_by_run] = _configuration_of_run(
          store, component.made_by_run, result)
    made_config = configs[component.made_by_run]
    if made_config is not None:
      origin.arguments = configuration.step_arguments(made_config, key)
      origin.user_code = {
          sha: entry for sha, entry in
          (made_config.get('user_code') or {}).items()
          if sha in configuration.code_refs(origin.arguments)}
    result.origins[key] = origin


def reused_edges(store: 'Store', result: Reading,
                 events: Sequence['Event']) -> None:
  """Edges into REUSED steps: TFX records only the outputs of a reused
  execution, so its inputs are those of the execution that made them, as
  far as this run holds those artifacts."""
  reused = {c.execution_id: c.made_by_execution for c in result.components
            if c.state == mlmd.REUSED and c.made_by_execution is not None}
  if not reused:
    return
  name = {c.execution_id: c.node_id for c in result.components}
  made_here: dict[int, list[int]] = {}
  for event in events:
    if event.type == mlmd.OUTPUT_EVENT:
      made_here.setdefault(event.artifact_id, []).append(event.execution_id)
  read: dict[int, list[int]] = {}
  for event in store.get_events_by_execution_ids(sorted(set(
      reused.values()))):
    if event.type == mlmd.INPUT_EVENT:
      read.setdefault(event.execution_id, []).append(event.artifact_id)
  for execution_id, producer in reused.items():
    for artifact_id in read.get(producer, []):
      for upstream in made_here.get(artifact_id, []):
        edge = (name[upstream], name[execution_id])
        if upstream != execution_id and edge not in result.edges:
          result.edges.append(edge)


def _configuration_of_run(store: 'Store', run_id: str,
                          reading: Reading) -> Optional[dict[str, Any]]:
  """The configuration run `run_id` recorded (the PipelineConfiguration
  artifact of its run context); None when it recorded none."""
  from fluent_pipeline.dsl import configuration
  if run_id == reading.run_id:
    return reading.configuration
  type_id = mlmd.type_id(store, 'artifact', configuration.ARTIFACT_TYPE)
  context = store.get_context_by_type_and_name('pipeline_run', run_id)
  if type_id is None or context is None:
    return None
  found = [a for a in store.get_artifacts_by_context(context.id)
           if a.type_id == type_id]
  for artifact in sorted(found, key=lambda a: a.id, reverse=True):
    path = _paths.join(artifact.uri, configuration.FILE_NAME)
    try:
      if _paths.exists(path):
        return json.loads(_paths.read_text(path))
    except _paths.read_errors() as e:
      mlmd.unreadable(reading, f'configuration of run {run_id}', path, e)
  return None


def _model_name(store: 'Store', ids: Optional[list[int]]) -> str:
  if not ids:
    return 'none'
  run = mlmd.run_that_made(store, ids[0])
  return f'model {ids[0]}' + (f' (run {run})' if run else '')


def _properties(execution: 'Execution') -> dict[str, Any]:
  """An execution's exec properties, without TFX's bookkeeping ('__...')."""
  return {k: v for k, v in execution.custom_properties.items()
          if not k.startswith('__')}


def why_evaluated_again(store: 'Store', result: Reading,
                        evaluator: Any) -> None:
  """An Evaluator (its ComponentRun, `evaluator`) that ran for a model and
  data it had evaluated before, with the same properties, ran because the
  baseline changed: recorded in `result.reran`, which the summary shows."""
  inputs = mlmd.input_ids(store, evaluator.execution_id)
  if not inputs.get('model'):
    return
  [this] = store.get_executions_by_id([evaluator.execution_id])
  earlier = sorted({e.execution_id for e in
                    store.get_events_by_artifact_ids(inputs['model'])
                    if e.type == mlmd.INPUT_EVENT and
                    e.execution_id < evaluator.execution_id})
  same_type = [e for e in store.get_executions_by_id(earlier)
               if e.type_id == this.type_id and e.last_known_state in mlmd.COMPLETED]
  rest = {k: v for k, v in inputs.items() if k != 'baseline_model'}
  for before in sorted(same_type, key=lambda e: e.id, reverse=True):
    before_inputs = mlmd.input_ids(store, before.id)
    if rest != {k: v for k, v in before_inputs.items()
                if k != 'baseline_model'}:
      continue
    if _properties(before) != _properties(this):
      continue  # other exec properties: not the baseline alone
    now, then = inputs.get('baseline_model'), before_inputs.get(
        'baseline_model')
    if now != then:
      result.reran[evaluator.node_id] = (
          f'evaluated {_model_name(store, inputs["model"])} again: the '
          f'baseline is now {_model_name(store, now)}; it was '
          f'{_model_name(store, then)}')
    return
