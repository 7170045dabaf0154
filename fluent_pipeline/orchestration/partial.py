"""Partial runs on TFX's own partial-run support (RunOptions).

`run(from_step=, to_step=, only=)` and `--resume` pick the nodes to run; TFX
(partial_run_utils) skips the others and reuses their outputs from an
earlier run in ML Metadata: the newest one in which all of them completed,
found and pinned here before anything runs, so a missing output is a clear
error instead of a LookupError after the first components ran.

TFX records a reused step as a CACHED execution, as it does a hit of its
cache, and records nothing of the partial run itself. So `record` writes
into the configuration node of the compiled IR (which runs in every run) the
node ids each chain call made and, for a partial run, its options, the base
run, the nodes it runs, and for each node it reuses the run and execution
that made those outputs (following their OUTPUT events back through earlier
reuses and cache hits). recorded.provenance reads it (for recorded.results): REUSED, not CACHED, and
the code and arguments of the run that made the outputs.
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from fluent_pipeline import errors
from fluent_pipeline.dsl import configuration
from fluent_pipeline.recorded import mlmd, provenance


def node_ids(names: Iterable[str], nodes_by_call: dict[str, list[str]],
             all_nodes: Sequence[str], arg: str) -> list[str]:
  """The node ids of chain call names ('train') or node ids ('Trainer')."""
  if isinstance(names, str):
    names = [names]
  found: list[str] = []
  for name in names:
    if name in nodes_by_call:
      found += nodes_by_call[name]
    elif name in all_nodes:
      found.append(name)
    else:
      choices = sorted(set(nodes_by_call) | set(all_nodes))
      raise errors.PipelineDefinitionError(
          f'run({arg}=...)', f'{name!r} is neither a step of this chain nor '
          'a component id', fix='use one of: ' + ', '.join(choices))
  return found


def options(from_nodes: Optional[list[str]], to_nodes: Optional[list[str]],
            always: Iterable[str] = (), base_run_id: Optional[str] = None):
  """TFX RunOptions for the nodes between from_nodes and to_nodes; `always`
  (the configuration node, which has no edges) runs in every partial run."""
  from tfx.proto.orchestration import pipeline_pb2
  always = list(always)
  result = pipeline_pb2.RunOptions()
  partial = result.partial_run
  if from_nodes:
    partial.from_nodes.extend(list(from_nodes) + always)
  if to_nodes:
    partial.to_nodes.extend(list(to_nodes) + always)
  if base_run_id:
    partial.snapshot_settings.base_pipeline_run_strategy.base_run_id = (
        base_run_id)
  else:
    partial.snapshot_settings.latest_pipeline_run_strategy.SetInParent()
  return result


def _marked(ir, run_options) -> tuple[list[str], list[str], list[str]]:
  """Marks a copy of `ir` as TFX will: (node ids to run, whose outputs must
  be reused, whose outputs are reused when the base run has them)."""
  from tfx.orchestration.portable import partial_run_utils
  from tfx.proto.orchestration import pipeline_pb2
  marked = pipeline_pb2.Pipeline()
  marked.CopyFrom(ir)
  partial = run_options.partial_run
  partial_run_utils.mark_pipeline(
      marked, from_nodes=list(partial.from_nodes) or None,
      to_nodes=list(partial.to_nodes) or None,
      snapshot_settings=partial.snapshot_settings)
  skip = pipeline_pb2.NodeExecutionOptions.Skip
  to_run, to_reuse, optional = [], [], []
  for node in marked.nodes:
    pipeline_node = node.pipeline_node
    options_ = pipeline_node.execution_options
    if not options_.HasField('skip'):
      to_run.append(pipeline_node.node_info.id)
    elif options_.skip.reuse_artifacts_mode == skip.REQUIRED:
      to_reuse.append(pipeline_node.node_info.id)
    elif options_.skip.reuse_artifacts_mode == skip.OPTIONAL:
      optional.append(pipeline_node.node_info.id)
  return to_run, to_reuse, optional


def check_reusable(ir, run_options, store, pipeline_name: str) -> list[str]:
  """Finds the newest run in which every node whose outputs must be reused
  completed, and pins it as the run TFX reuses them from (TFX's default,
  the latest run, may be a partial or a failed one that lacks them).
  Returns the node ids to run."""
  to_run, to_reuse, _ = _marked(ir, run_options)
  partial = run_options.partial_run
  if not to_reuse:
    return to_run
  pinned = partial.snapshot_settings.base_pipeline_run_strategy.base_run_id
  runs = mlmd.run_contexts(store, pipeline_name, legacy=False)
  if pinned:
    runs = [r for r in runs if r.name == pinned]
  newest_missing = None
  for run in runs:
    missing = set(to_reuse) - _completed_nodes(store, pipeline_name, run)
    if not missing:
      partial.snapshot_settings.base_pipeline_run_strategy.base_run_id = (
          run.name)
      return to_run
    newest_missing = newest_missing or missing
  never = sorted(newest_missing or to_reuse)
  raise errors.PipelineDefinitionError(
      'partial run', f'{", ".join(to_run)} need the outputs of '
      f'{", ".join(never)}, which no run of {pipeline_name!r} completed'
      + (f' (looked at {pinned})' if pinned else ''),
      fix='run those steps first (a full run, or to_step=... / --to ending '
      'at them)')


def _completed_nodes(store, pipeline_name: str, run) -> set[str]:
  """Node ids with a complete or cached execution in `run`."""
  return set(_completed(store, pipeline_name, run))


def _completed(store, pipeline_name: str, run) -> dict[str, list[Any]]:
  """Node id -> its complete or cached executions in `run` (what TFX's
  partial run reuses from it) whose outputs still exist: TFX's reuse does
  not look, and `gc` marks what it removed (MARKED_FOR_DELETION, DELETED)."""
  executions = [e for e in store.get_executions_by_context(run.id)
                if e.last_known_state in mlmd.COMPLETED]
  outputs: dict[int, list[int]] = {}
  for event in (store.get_events_by_execution_ids([e.id for e in executions])
                if executions else []):
    if event.type == mlmd.OUTPUT_EVENT:
      outputs.setdefault(event.execution_id, []).append(event.artifact_id)
  ids = sorted({i for found in outputs.values() for i in found})
  gone = {a.id for a in (store.get_artifacts_by_id(ids) if ids else [])
          if a.state in mlmd.REMOVED}
  executions = [e for e in executions
                if not gone.intersection(outputs.get(e.id, ()))]
  nodes = mlmd.node_ids(store, executions, pipeline_name)
  found: dict[str, list[Any]] = {}
  for execution in executions:
    if execution.id in nodes:
      found.setdefault(nodes[execution.id], []).append(execution)
  return found


def partial_record(ir, run_options, store, pipeline_name: str,
                   given: dict[str, Any]) -> dict[str, Any]:
  """What a partial run records in its configuration: the options as
  `given` (from_step, to_step, only: lists of names; resume), the base run,
  the node ids it runs, and for each node whose outputs it reuses, the run
  and execution that made them (`execution_id`; `base_execution_id`, the
  one of the base run that TFX reuses). Call after check_reusable, which
  pins the base run."""
  to_run, required, optional = _marked(ir, run_options)
  pinned = run_options.partial_run.snapshot_settings.base_pipeline_run_strategy
  base = None
  if pinned.base_run_id:
    base = store.get_context_by_type_and_name('pipeline_run',
                                              pinned.base_run_id)
  elif required or optional:  # TFX reuses from the latest run
    base = next(iter(mlmd.run_contexts(store, pipeline_name,
                                       legacy=False)), None)
  record: dict[str, Any] = {
      name: ([value] if isinstance(value, str) else
             list(value) if value else None)
      for name, value in given.items() if name != 'resume'}
  record.update(resume=bool(given.get('resume')),
                base_run=base.name if base is not None else None,
                ran=to_run, reused={})
  if base is None:
    return record
  completed = _completed(store, pipeline_name, base)
  reused = [e for node in required + optional
            for e in completed.get(node, [])[:1]]
  made = provenance.producers(store, reused)
  nodes = mlmd.node_ids(store, reused, pipeline_name)
  for execution in reused:
    producer, run_id = made.get(execution.id, (execution.id, base.name))
    record['reused'][nodes[execution.id]] = {
        'run_id': run_id, 'execution_id': producer,
        'base_execution_id': execution.id}
  return record


def record(ir, nodes_by_call: dict[str, list[str]],
           partial_run: Optional[dict[str, Any]] = None) -> None:
  """Writes into the configuration node of `ir` (when the chain records a
  configuration) the node ids of each chain call and, for a partial run,
  `partial_run` (partial_record)."""
  for node in ir.nodes:
    pipeline_node = node.pipeline_node
    if pipeline_node.node_info.id != configuration.COMPONENT_ID:
      continue
    parameters = pipeline_node.parameters.parameters
    if 'configuration_json' not in parameters:
      continue
    value = parameters['configuration_json'].field_value
    value.string_value = configuration.with_record(
        value.string_value, nodes_by_call, partial_run)


def run_to_resume(store, pipeline_name: str):
  """The run context resume goes on from (the latest run), or None."""
  return next(iter(mlmd.run_contexts(store, pipeline_name, legacy=False)),
              None)


def resume_from(store, pipeline_name: str, all_nodes: Sequence[str],
                always: Iterable[str]) -> tuple[list[str], str]:
  """The nodes that did not complete in the latest run, and its id."""
  base = run_to_resume(store, pipeline_name)
  if base is None:
    raise errors.PipelineDefinitionError(
        'resume', f'pipeline {pipeline_name!r} has no run to resume',
        fix='run it once without --resume')
  done = _completed_nodes(store, pipeline_name, base)
  todo = [n for n in all_nodes if n not in done and n not in set(always)]
  if not todo:
    raise errors.PipelineDefinitionError(
        'resume', f'the latest run, {base.name}, completed every step; '
        'there is nothing to resume', fix='run without --resume')
  return todo, base.name


def resume_changes(recorded: Optional[dict[str, Any]],
                   current: dict[str, Any], run_id: str,
                   override: bool) -> list[str]:
  """What the chain resuming run `run_id` changes from the configuration
  that run recorded: parameters, source, step arguments (user code may
  change: fixing it is what resume is for). A change is an error unless
  `override`; returns one line per change."""
  if recorded is None:  # record_configuration was off: nothing to compare
    return []
  lines = [f'{what}: the run being resumed {_had(before)}, this chain '
           f'{_had(after, "has")}' for what, before, after in
           configuration.resume_differences(recorded, current)]
  if lines and not override:
    raise errors.PipelineDefinitionError(
        'resume', f'this chain differs from run {run_id}, the run it would '
        'resume, so the resumed run would not be that run continued:\n    '
        + '\n    '.join(lines),
        fix='resume with the values that run used (on the command line, '
        '--resume alone restores its parameters), or resume with these '
        'values deliberately: run(resume=True, override=True) / --resume '
        '--override')
  return lines


def _had(value: Any, verb: str = 'used') -> str:
  if value == configuration.MISSING:
    return 'had no such step' if verb == 'used' else 'has no such step'
  return f'{verb} {json.dumps(value, sort_keys=True)}'
