"""What a run did, read back from ML Metadata: the summary users look at.

A RunResult is built from MLMD alone (not from the runner's return value), so
the same code reads any past run of the pipeline by its run id. This module
finds a run (`find_run`), reads its steps (`collect_run`) and its outcomes
(metrics, blessing, serving check, ...); where a CACHED or REUSED step's
outputs came from is `provenance`'s, what the Pusher did `pushes`', and the
ML Metadata lookups they share `mlmd`'s.
"""

import dataclasses
import datetime
import difflib
import functools
import json
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from fluent_pipeline import _paths
from fluent_pipeline.recorded import mlmd, owner, provenance, pushes
from fluent_pipeline.recorded.mlmd import REUSED
from fluent_pipeline.recorded.provenance import Origin

if TYPE_CHECKING:  # ML Metadata's types, for annotations only
  from ml_metadata.metadata_store import MetadataStore as Store

  # Generated protos, which ship no stubs: checkers see them as Any.
  from ml_metadata.proto.metadata_store_pb2 import (  # type: ignore[attr-defined]
    Context,
    Event,
    Execution,
  )

# Every state a ComponentRun can read, in the order summaries list them.
STATES = ('COMPLETE', 'CACHED', REUSED, 'FAILED', 'RUNNING', 'NEW',
          'CANCELED', owner.ABANDONED, 'UNKNOWN')
# Artifact.State MARKED_FOR_DELETION, DELETED: its files are (being) removed.
EXECUTION_RESULT = '__execution_result__'  # TFX's execution_lib key


@dataclasses.dataclass
class ComponentRun:
  """One component's execution in a run."""
  node_id: str
  state: str
  seconds: float
  outputs: dict[str, list[str]]  # output key -> artifact URIs
  execution_id: int
  error: Optional[str] = None  # why it failed, as its execution records it
  # Output key -> why its artifacts are gone ('removed by fluent-pipeline gc
  # on ...'): they are not in `outputs`.
  removed: dict[str, str] = dataclasses.field(default_factory=dict)
  # A CACHED or REUSED step: the run and execution that made its outputs
  # (the first execution of that node to output them, not served itself).
  made_by_run: Optional[str] = None
  made_by_execution: Optional[int] = None

  @property
  def origin(self) -> Optional[str]:
    """'reused from run X (execution N)' / 'cached from run X ...', or
    None for a step that ran here."""
    if self.made_by_run is None or self.state not in ('CACHED', REUSED):
      return None
    return mlmd.made_by(self.state, self.made_by_run, self.made_by_execution)


@dataclasses.dataclass
class RunResult:
  """The outcome of one pipeline run."""
  pipeline_name: str
  run_id: str
  pipeline_root: str
  components: list[ComponentRun]
  blessed: Optional[bool] = None
  metrics: dict[str, float] = dataclasses.field(default_factory=dict)
  failed_thresholds: list[str] = dataclasses.field(default_factory=list)
  infra_blessed: Optional[bool] = None
  # The serving check's measurements (load_seconds, p50_ms, p95_ms,
  # latencies_ms, reason), as measurements.json holds them.
  serving: dict[str, Any] = dataclasses.field(default_factory=dict)
  pushed_model: Optional[str] = None
  # What the Pusher recorded on its PushedModel (components/pusher.py):
  # pushed, pushed_version, already_pushed_version, newest_version,
  # rolled_back_version, ...; and 'model_run', the run that made the model.
  push: dict[str, Any] = dataclasses.field(default_factory=dict)
  # Node id -> why it ran again although its code and data did not change
  # ('the baseline is now model 41 (run X); it was none').
  reran: dict[str, str] = dataclasses.field(default_factory=dict)
  inference_result: Optional[str] = None
  log_path: Optional[str] = None
  started: Optional[datetime.datetime] = None
  seconds: float = 0.0
  configuration: Optional[dict[str, Any]] = None  # the PipelineConfiguration
  # (producer, consumer) node ids: an artifact one made, the other read.
  edges: list[tuple[str, str]] = dataclasses.field(default_factory=list)
  # Dataset step node id -> split -> {'in': n, 'out': m} (its Examples'
  # example_counts), with 'note' when the step did not reshape as meant (a
  # filter kept every example, a sample had one stratum).
  reshaped: dict[str, dict[str, dict[str, Any]]] = dataclasses.field(
      default_factory=dict)
  # What of the run's outcome could not be read ('metrics', 'failed
  # thresholds') -> why: the summary says so instead of showing nothing.
  unreadable: dict[str, str] = dataclasses.field(default_factory=dict)
  # Step key ('preprocess', 'source') -> where its outputs came from, for
  # each step of the run that was CACHED or REUSED.
  origins: dict[str, Origin] = dataclasses.field(default_factory=dict)

  @property
  def partial_run(self) -> Optional[dict[str, Any]]:
    """What a partial run recorded (from_step / to_step / only / resume,
    base_run, ran, reused: node id -> run_id, execution_id); None for a full
    run, and {} for a partial run recorded before fluent_pipeline kept this
    record (its REUSED steps still name their runs)."""
    recorded = (self.configuration or {}).get('partial_run')
    if recorded is not None:
      return dict(recorded)
    return {} if any(c.state == REUSED for c in self.components) else None

  def partial_description(self) -> str:
    """'only=train, base run X' for a partial run; '' for a full one."""
    recorded = self.partial_run
    if recorded is None:
      return ''
    given = [f'{name}={",".join(recorded[name])}'
             for name in ('from_step', 'to_step', 'only') if recorded.get(name)]
    if recorded.get('resume'):
      given.append('resume')
    if recorded.get('base_run'):
      given.append(f'base run {recorded["base_run"]}')
    return ', '.join(given) or 'partial'

  @property
  def effective_configuration(self) -> Optional[dict[str, Any]]:
    """The configuration as it made this run's outputs: each CACHED or
    REUSED step with the arguments and user code recorded by the run that
    made its outputs (`configuration` is the chain as given to this run),
    and under 'made_by' the step -> 'reused from run X (execution N)'."""
    config = self.configuration
    if not config or not self.origins:
      return config
    from fluent_pipeline.dsl import configuration as config_json
    out = json.loads(json.dumps(config))
    made_by = {}
    for key, origin in self.origins.items():
      made_by[key] = str(origin)
      if origin.arguments is None:
        continue
      if key == config_json.SOURCE_KEY:
        out['source'] = origin.arguments
      else:
        out.setdefault('steps', {})[key] = origin.arguments
      out.setdefault('user_code', {}).update(origin.user_code)
    used = config_json.code_refs(out.get('steps') or {})
    out['user_code'] = {sha: entry for sha, entry in
                        (out.get('user_code') or {}).items() if sha in used}
    out['made_by'] = made_by
    return out

  @property
  def parameters(self) -> dict[str, Any]:
    """The parameter values the run was made with (its configuration)."""
    return dict((self.configuration or {}).get('parameters') or {})

  def component(self, node_id: str) -> ComponentRun:
    """The run of node `node_id` (KeyError naming the nodes that ran)."""
    for c in self.components:
      if c.node_id == node_id:
        return c
    raise KeyError(f'{node_id!r} did not run in {self.run_id}; ran: '
                   f'{[c.node_id for c in self.components]}')

  @property
  def states(self) -> dict[str, str]:
    """Node id -> its state ('COMPLETE', 'CACHED', 'FAILED', ...)."""
    return {c.node_id: c.state for c in self.components}

  @property
  def cached(self) -> int:
    """How many components TFX's cache served."""
    return sum(c.state == 'CACHED' for c in self.components)

  @property
  def reused(self) -> int:
    """How many components a partial run took from another run."""
    return sum(c.state == REUSED for c in self.components)

  # ------------------------------------------- what the artifacts hold
  def _output(self, key: str) -> Optional[str]:
    for c in self.components:
      if c.outputs.get(key):
        return c.outputs[key][0]
    return None

  @property
  def removed(self) -> dict[str, str]:
    """'<node id>.<output key>' -> why its files are gone (gc removed the
    outputs of old runs), for each output of the run that was removed."""
    return {f'{c.node_id}.{key}': why for c in self.components
            for key, why in c.removed.items()}

  def _needs(self, key: str, step: str) -> str:
    uri = self._output(key)
    gone = [why for c in self.components
            for k, why in c.removed.items() if k == key]
    if uri is None and gone:
      raise LookupError(f'run {self.run_id} has no {key} any more: '
                        f'{gone[0]}')
    if uri is None:
      raise LookupError(f'run {self.run_id} has no {key}: {step} is not in '
                        'the pipeline or did not run')
    return uri

  @property
  def schema(self) -> list[dict[str, Any]]:
    """The schema's features (name, type, presence, shape, domain)."""
    from fluent_pipeline.artifacts import readers
    return readers.schema(self._needs('schema', 'infer_schema()'))

  def statistics(self, split: str = 'train') -> dict[str, dict[str, Any]]:
    """Per feature of `split`: count, missing, mean/std/min/median/max or
    unique and top values, and the histogram (TFDV's statistics)."""
    from fluent_pipeline.artifacts import readers
    return readers.statistics(
        self._needs('statistics', 'generate_statistics()'), split)

  @property
  def anomalies(self) -> dict[str, list[dict[str, str]]]:
    """Per split, the anomalies ExampleValidator found (empty: none)."""
    from fluent_pipeline.artifacts import readers
    return readers.anomalies(
        self._needs('anomalies', 'validate_input_data()'))

  @property
  def metrics_by_slice(self) -> dict[str, dict[str, float]]:
    """The candidate's metrics per slice: {'Overall': {...},
    'trip_start_hour:3': {...}} (TFMA's slice names). The candidate is the
    EvalConfig's model that is not the baseline (artifacts.models), as for
    `metrics`, the run listing and the report."""
    from fluent_pipeline.artifacts import evaluation
    slices = evaluation.slice_metrics(
        self._needs('evaluation', 'evaluate_model()'))
    return {name: dict(entry['candidate']) for name, entry in slices.items()}

  def report(self, path: Optional[str] = None,
             compare: Optional['RunResult'] = None) -> str:
    """Writes the run's HTML report (default: <pipeline root>/reports/
    report-<run id>.html; with `compare`, side by side with that run) and
    returns its path."""
    from fluent_pipeline.recorded import diff
    from fluent_pipeline.report import page
    changes = None
    if compare is not None:
      changes = lambda: str(diff.compare(compare, self))  # noqa: E731
    return page.write(self, path, compare, changes)

  def _repr_html_(self) -> str:
    """A notebook shows the run's summary: graph, states, metrics, blessing
    and a link to the full report (written next to the run once)."""
    from fluent_pipeline.report import summary
    return summary.html_of(self)

  def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
    """A notebook shows a run as its summary, not the dataclass fields."""
    del cycle
    printer.text(str(self))

  def _outcomes(self) -> list[tuple[str, str]]:
    """The summary's outcome lines as (name, text): evaluation, blessed
    (then each failed threshold), serving check, pushed model, bulk
    inference, full log."""
    found = []
    if self.removed:
      whys = sorted(set(self.removed.values()))
      found.append(('removed', f'{len(self.removed)} outputs ('
                    + ', '.join(self.removed) + '): ' + '; '.join(whys)))
    if self.partial_run is not None:
      reused = [c.node_id for c in self.components if c.state == REUSED]
      runs = sorted({c.made_by_run for c in self.components
                     if c.state == REUSED and c.made_by_run})
      found.append(('partial run', self.partial_description() + (
          f'; reused {", ".join(reused)} from run {", ".join(runs)}'
          if reused and runs else '')))
    for node_id, splits in self.reshaped.items():
      found.append((node_id, ', '.join(
          f'{split} {c["in"]:,} -> {c["out"]:,}'
          + (f' ({c["note"]})' if c.get('note') else '')
          for split, c in sorted(splits.items()))))
    if self.metrics:
      found.append(('evaluation', ', '.join(
          f'{k}={v:.4g}' for k, v in sorted(self.metrics.items()))))
    if 'metrics' in self.unreadable:
      found.append(('evaluation', 'metrics unavailable: '
                    + self.unreadable['metrics']))
    if self.blessed is not None:
      found.append(('blessed', 'yes' if self.blessed else 'NO'))
      found += [('failed', failure) for failure in self.failed_thresholds]
      if 'failed thresholds' in self.unreadable:
        found.append(('failed', 'thresholds unavailable: '
                      + self.unreadable['failed thresholds']))
    if self.infra_blessed is not None:
      found.append(('serving check', _serving_line(self)))
    for what in ('serving check', 'configuration'):
      if what in self.unreadable:
        found.append((what, 'unavailable: ' + self.unreadable[what]))
    found += list(self.reran.items())
    if self.pushed_model or self.push or 'Pusher' in self.states:
      found.append(('pushed model', pushes.pushed_line(self)))
    if self.inference_result and self.blessed is False:
      found.append(('bulk inference', 'skipped (the model was not blessed)'))
    elif self.inference_result:
      found.append(('bulk inference', self.inference_result))
    if self.log_path:
      found.append(('full log', self.log_path))
    return found

  def __str__(self) -> str:
    lines = [f'Pipeline {self.pipeline_name!r}, run {self.run_id}',
             f'  root: {self.pipeline_root}']
    if self.parameters:
      lines.append('  parameters: ' + ', '.join(
          f'{k}={v!r}' for k, v in self.parameters.items()))
    width = max([len(c.node_id) for c in self.components] + [10])
    for c in self.components:
      lines.append(f'  {c.node_id:<{width}}  {c.state:<8} {c.seconds:7.1f} s'
                   + (f'  {c.origin}' if c.origin else ''))
      if c.error:
        lines += ['    ' + line for line in c.error.splitlines()]
    for name, value in self._outcomes():
      if name == 'failed':
        lines.append(f'    failed: {value}')
      else:
        lines.append(f'  {name}: {value}')
    return '\n'.join(lines)


def _serving_line(result: 'RunResult') -> str:
  serving = result.serving
  if not result.infra_blessed:
    return f'NOT blessed: {serving.get("reason") or "see the log"}'
  if 'p95_ms' not in serving:
    return 'blessed'
  return (f'blessed (load {serving["load_seconds"]:.2f} s; latency p50 '
          f'{serving["p50_ms"]:.1f} ms, p95 {serving["p95_ms"]:.1f} ms over '
          f'{len(serving["latencies_ms"])} requests)')


def collect_run(store: 'Store', run: 'Context', pipeline_name: str,
                pipeline_root: str, details: bool = True) -> RunResult:
  """The RunResult of one pipeline_run context; without `details`, the
  failed thresholds of an unblessed model are left out (reading them needs
  TFMA, which a listing of runs does without)."""
  executions = sorted(store.get_executions_by_context(run.id),
                      key=lambda e: e.id)
  nodes = mlmd.node_ids(store, executions, pipeline_name)
  components = []
  events = store.get_events_by_execution_ids([e.id for e in executions])
  out_events = [e for e in events if e.type == mlmd.OUTPUT_EVENT]
  artifacts = {a.id: a for a in store.get_artifacts_by_id(
      list({e.artifact_id for e in out_events}))}
  for execution in executions:
    outputs: dict[str, list[str]] = {}
    removed: dict[str, str] = {}
    for event in out_events:
      if event.execution_id != execution.id:
        continue
      key = event.path.steps[0].key if event.path.steps else ''
      artifact = artifacts[event.artifact_id]
      if artifact.state in mlmd.REMOVED:  # read as absent, and why
        note = artifact.custom_properties.get(mlmd.REMOVED_PROPERTY)
        removed[key] = (note.string_value if note is not None else
                        'removed (ML Metadata marks it deleted)')
        continue
      outputs.setdefault(key, []).append(artifact.uri)
    components.append(ComponentRun(
        node_id=nodes.get(execution.id, execution.name or str(execution.id)),
        state=mlmd.STATE_NAMES.get(execution.last_known_state, 'UNKNOWN'),
        seconds=max(0.0, (execution.last_update_time_since_epoch -
                          execution.create_time_since_epoch) / 1000.0),
        outputs=outputs, execution_id=execution.id,
        error=_execution_error(execution), removed=removed))
  unfinished = any(c.state in ('RUNNING', 'NEW') for c in components)
  _mark_abandoned(components, owner.abandoned(
      owner.logs_folder(pipeline_root, pipeline_name), mlmd.run_id_of(run))
                  if unfinished else None)
  result_edges = _edges(executions, events, nodes)
  if executions:
    seconds = (max(e.last_update_time_since_epoch for e in executions) -
               min(e.create_time_since_epoch for e in executions)) / 1000.0
  else:
    seconds = 0.0
  result = RunResult(
      pipeline_name=pipeline_name, run_id=mlmd.run_id_of(run),
      pipeline_root=pipeline_root, components=components,
      started=datetime.datetime.fromtimestamp(
          run.create_time_since_epoch / 1000.0),
      seconds=max(0.0, seconds), edges=result_edges)
  result.configuration = _read_configuration(result)
  provenance.read_origins(store, result, executions,
                          legacy='run_id' in run.properties)
  provenance.reused_edges(store, result, events)
  log = os.path.join(owner.logs_folder(pipeline_root, pipeline_name),
                     f'run-{result.run_id}.log')
  if not _paths.is_uri(log) and _paths.exists(log):
    result.log_path = log
  _read_outcomes(store, result, details)
  return result


def _mark_abandoned(components: list[ComponentRun],
                    reason: Optional[str]) -> None:
  """ABANDONED: a component left RUNNING (or NEW) by a process that died
  (`reason`, from the run's owner record), or one closed since for that
  reason (its recorded result says so)."""
  for component in components:
    if reason and component.state in ('RUNNING', 'NEW'):
      component.state, component.error = owner.ABANDONED, reason
    elif component.state == 'CANCELED' and (component.error or '').startswith(
        owner.ABANDONED_PREFIX):
      component.state = owner.ABANDONED


def _execution_error(execution: 'Execution') -> Optional[str]:
  """The result message TFX (or fluent_pipeline's runner) recorded on a
  failed or cancelled execution: ExecutionResult JSON under
  '__execution_result__'."""
  if execution.last_known_state not in (4, 6):  # FAILED, CANCELED
    return None
  value = execution.custom_properties.get(EXECUTION_RESULT)
  if value is None or not value.string_value:
    return None
  try:
    recorded = json.loads(value.string_value)
  except ValueError:  # not ExecutionResult JSON: the text is the message
    return value.string_value
  if not isinstance(recorded, dict):
    return value.string_value
  return recorded.get('resultMessage') or None


def _edges(executions: Sequence['Execution'], events: Sequence['Event'],
           nodes: dict[int, str]) -> list[tuple[str, str]]:
  """Who fed whom in the run: an execution that output an artifact, to one
  that took it as input (a cached execution re-outputs the artifacts it
  reuses, so cached steps are linked as well)."""
  name = {e.id: nodes.get(e.id, e.name or str(e.id)) for e in executions}
  producers: dict[int, list[int]] = {}
  for event in events:
    if event.type == mlmd.OUTPUT_EVENT:
      producers.setdefault(event.artifact_id, []).append(event.execution_id)
  found = []
  for event in events:
    if event.type != mlmd.INPUT_EVENT:
      continue
    for producer in producers.get(event.artifact_id, []):
      edge = (name[producer], name[event.execution_id])
      if producer != event.execution_id and edge not in found:
        found.append(edge)
  return found


def _read_configuration(result: RunResult) -> Optional[dict[str, Any]]:
  """The run's configuration; None when it recorded none, and when its file
  cannot be read, which is then recorded on the run (`unreadable`) and
  warned, so one bad run never stops a listing of all of them."""
  from fluent_pipeline.dsl import configuration
  for c in result.components:
    for uri in c.outputs.get('configuration', []):
      path = _paths.join(uri, configuration.FILE_NAME)
      try:
        if _paths.exists(path):
          return json.loads(_paths.read_text(path))
      except _paths.read_errors() as e:
        mlmd.unreadable(result, 'configuration', path, e)
  return None


def find_run(store: 'Store', pipeline_name: str,
             run_id: Optional[str]) -> 'Context':
  """The run context named `run_id`; also 'latest' and 'latest~N' (the Nth
  before the newest). A wrong id is a LookupError naming the nearest ids."""
  runs = mlmd.run_contexts(store, pipeline_name)
  if not runs:
    raise LookupError(f'pipeline {pipeline_name!r} has no run in this '
                      'metadata store')
  if run_id is None or run_id == 'latest':
    return runs[0]
  match = re.fullmatch(r'latest~(\d+)', run_id)
  if match:
    back = int(match.group(1))
    if back < len(runs):
      return runs[back]
    raise LookupError(f'{run_id}: pipeline {pipeline_name!r} has only '
                      f'{len(runs)} runs')
  for run in runs:
    if mlmd.run_id_of(run) == run_id:
      return run
  ids = [mlmd.run_id_of(r) for r in runs]
  near = difflib.get_close_matches(run_id, ids, n=3, cutoff=0.4)
  prefixed = [i for i in ids if i.startswith(run_id)]
  if len(prefixed) == 1:
    return runs[ids.index(prefixed[0])]
  if prefixed:  # never pick one of them: the user meant one, not any
    raise LookupError(
        f'run id {run_id!r} is ambiguous: {len(prefixed)} runs of pipeline '
        f'{pipeline_name!r} start with it: ' + ', '.join(prefixed[:10])
        + (', ...' if len(prefixed) > 10 else '')
        + '; give more of the id')
  suggestions = near or ids[:3]
  raise LookupError(
      f'no run {run_id!r} of pipeline {pipeline_name!r}; nearest: '
      + ', '.join(suggestions) + f' ({len(ids)} runs; '
      '`fluent-pipeline runs` lists them)')


def _read_outcomes(store: 'Store', result: RunResult,
                   details: bool = True) -> None:
  for c in result.components:
    if 'evaluation' in c.outputs:  # Evaluator: metrics and its blessing.
      if details and c.state == 'COMPLETE':
        provenance.why_evaluated_again(store, result, c)
      for uri in c.outputs['evaluation']:
        try:
          result.metrics.update(dict(_overall_metrics(uri)))
        except _paths.read_errors() as e:  # the listing goes on, and says
          mlmd.unreadable(result, 'metrics', uri, e)
      for uri in c.outputs.get('blessing', []):
        result.blessed = _paths.exists(_paths.join(uri, 'BLESSED'))
      if result.blessed is False and details:
        for uri in c.outputs['evaluation']:
          try:
            result.failed_thresholds += _failed_thresholds(uri)
          except _paths.read_errors() as e:
            mlmd.unreadable(result, 'failed thresholds', uri, e)
    if 'blessing' in c.outputs and 'evaluation' not in c.outputs:
      for uri in c.outputs['blessing']:  # InfraValidator or the local one
        result.infra_blessed = _paths.exists(_paths.join(uri,
                                                         'INFRA_BLESSED'))
        measurements = _paths.join(uri, 'measurements.json')
        try:
          if _paths.exists(measurements):
            result.serving = json.loads(_paths.read_text(measurements))
        except _paths.read_errors() as e:
          mlmd.unreadable(result, 'serving check', measurements, e)
    for artifact_uri in c.outputs.get('pushed_model', []):
      pushed = pushes.pushed_destination(store, artifact_uri)
      if pushed:
        result.pushed_model = pushed
      result.push.update(pushes.push_record(store, artifact_uri, c,
                                            details))
    for uri in c.outputs.get('reshaped_examples', []):  # dataset steps
      counts = _example_counts(store, uri)
      if counts:
        result.reshaped[c.node_id] = counts
    # BulkInferrer writes PredictionLogs, or Examples with the predictions
    # when given an output_example_spec.
    for uri in (c.outputs.get('inference_result', []) +
                c.outputs.get('output_examples', [])):
      result.inference_result = uri


def _example_counts(store: 'Store', uri: str) -> dict[str, dict[str, int]]:
  """Split -> examples in and out, as a dataset step recorded them."""
  for artifact in store.get_artifacts_by_uri(uri):
    counts = artifact.custom_properties.get('example_counts')
    if counts is not None and counts.string_value:
      return {split: {'in': c['in'], 'out': c['out'],
                      **({'note': c['note']} if c.get('note') else {})}
              for split, c in json.loads(counts.string_value).items()}
  return {}


@functools.lru_cache(maxsize=256)
def _overall_metrics(evaluation_uri: str) -> dict[str, float]:
  """The candidate's overall metrics (artifacts.models says which model is
  the candidate); {} for an evaluation without metrics. An error reading
  them is raised (and not cached)."""
  from fluent_pipeline.artifacts import evaluation
  return evaluation.overall_metrics(evaluation_uri)


def _failed_thresholds(evaluation_uri: str) -> list[str]:
  """Each threshold TFMA's validation failed, with the value and the gap;
  none when the evaluation has no validation result. One that cannot be
  read raises."""
  from fluent_pipeline.artifacts import evaluation
  validation = evaluation.validation_result(evaluation_uri)
  if validation is None:
    return []
  lines = []
  for per_slice in validation.metric_validations_per_slice:
    slice_name = evaluation.slice_name(per_slice)
    for failure in per_slice.failures:
      line = _describe_failure(failure, slice_name)
      if line not in lines:  # TFMA repeats a failure per threshold kind
        lines.append(line)
  if not lines and not validation.validation_ok:
    if validation.missing_thresholds:
      lines.append('the eval_config has no thresholds, so TFMA blesses no '
                   'model')
    elif validation.missing_slices:
      lines.append('slices with thresholds had no examples: ' + '; '.join(
          str(s).replace('\n', ' ').strip()
          for s in validation.missing_slices))
    else:
      lines.append('validation not ok: see the Evaluator output')
  return lines


def _describe_failure(failure: Any, slice_name: str = 'Overall') -> str:
  key = failure.metric_key
  name = (key.name + (' change vs baseline' if key.is_diff else '') +
          f' on {slice_name}')
  value = (failure.metric_value.double_value.value
           if failure.metric_value.HasField('double_value') else None)
  threshold = failure.metric_threshold
  bounds = []
  if threshold.HasField('value_threshold'):
    vt = threshold.value_threshold
    if vt.HasField('lower_bound'):
      bounds.append(('>=', vt.lower_bound.value))
    if vt.HasField('upper_bound'):
      bounds.append(('<=', vt.upper_bound.value))
  elif threshold.HasField('change_threshold'):
    from tensorflow_model_analysis.proto import config_pb2
    ct = threshold.change_threshold
    higher = ct.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    if ct.HasField('absolute'):
      bounds.append(('>=' if higher else '<=', ct.absolute.value))
  if value is None or not bounds:
    return f'{name}: {failure.message or "threshold not met"}'
  parts = []
  for op, bound in bounds:
    missed = bound - value if op == '>=' else value - bound
    if missed > 0:
      parts.append(f'needs {op} {bound:.4g} (off by {missed:.4g})')
  return f'{name} = {value:.4g}, ' + ', '.join(parts or [
      failure.message or 'threshold not met'])
