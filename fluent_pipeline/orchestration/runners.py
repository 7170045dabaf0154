"""Running a PipelineDef: the default runner and reading the run back.

The default is TFX's LocalDagRunner with in-process Beam, chosen by measuring
TFX's own taxi pipeline here (docs/BENCHMARKS.md): 65 s on LocalDagRunner with
in-process Beam against 114 s with the example's multi-processing Beam
arguments (2 cores; the workers' start-up and pickling cost more than they
parallelize).
"""

import contextlib
import datetime
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from fluent_pipeline import _env, _paths, errors
from fluent_pipeline.dsl import configuration, tfx_v1, wiring
from fluent_pipeline.orchestration import diagnose, logs
from fluent_pipeline.recorded import owner
from fluent_pipeline.usercode import code_location


def default_runner():
  return tfx_v1.orchestration().LocalDagRunner()


_RUNNER_NAMES = ('local', 'beam', 'airflow')


def _named_runner(name: str):
  """A runner given by name: 'local', 'beam' or 'airflow' (kept as the
  name: run() runs it through orchestration.airflow.run_here)."""
  if name not in _RUNNER_NAMES:
    raise errors.PipelineDefinitionError(
        'run()', f'runner {name!r} is not one of {_RUNNER_NAMES}',
        fix="run(runner='airflow'), or pass a TFX runner object; Kubeflow "
        'and Vertex: fluent-pipeline compile --runner vertex')
  if name == 'beam':
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    return BeamDagRunner()
  return default_runner() if name == 'local' else name


def _reads_local_metadata(runner) -> bool:
  """Runners that execute here against the pipeline's own MLMD store."""
  from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
  return isinstance(runner, (tfx_v1.orchestration().LocalDagRunner,
                             BeamDagRunner))


RUN_ID_FORMAT = '%Y%m%d-%H%M%S.%f'  # BeamDagRunner's; now every runner's


def new_run_id() -> str:
  return datetime.datetime.now().strftime(RUN_ID_FORMAT)


def run(pipeline_def, runner=None, *, verbose: bool = False,
        from_step=None, to_step=None, only=None,
        resume: bool = False, override: bool = False,
        rollback: bool = False) -> Any:
  """Builds `pipeline_def`, runs it, and returns its RunResult.

  On LocalDagRunner and BeamDagRunner the run gets a run id of one format
  (RUN_ID_FORMAT) and may be partial: `from_step` / `to_step` / `only` (chain
  call names or component ids) or `resume` (the steps that did not complete
  in the latest run; the chain must match what that run recorded, unless
  `override`). `runner='airflow'` runs the pipeline's Airflow DAG
  once here (orchestration.airflow.run_here). For runners that only
  compile or submit (Kubeflow, Vertex) the runner's own return value is
  returned instead. `rollback`: a model that an older version in the push
  destination holds is pushed again as the newest version (without it, a
  model already pushed is not pushed again; components.pusher).
  """
  if override and not resume:
    raise errors.PipelineDefinitionError(
        'run()', 'override=True changes what a resumed run uses, and this '
        'run does not resume', fix='run(resume=True, override=True), or drop '
        'override')
  if isinstance(runner, str):
    runner = _named_runner(runner)
  if runner == 'airflow':
    if rollback:
      raise errors.PipelineDefinitionError(
          'run()', "rollback=True needs LocalDagRunner or BeamDagRunner, not "
          'Airflow', fix="run(runner='local', rollback=True)")
    if any(x for x in (from_step, to_step, only)) or resume:
      raise errors.PipelineDefinitionError(
          'run()', "partial runs need LocalDagRunner or BeamDagRunner, not "
          "Airflow", fix='drop from_step/to_step/only/resume')
    from fluent_pipeline.orchestration import airflow
    return airflow.run_here(pipeline_def, verbose=verbose, log_path=(
        None if verbose else os.path.join(
            _log_folder(pipeline_def), f'airflow-{new_run_id()}.log')))
  runner = runner or default_runner()
  plan = pipeline_def._plan
  pipeline, nodes_by_call = wiring.build_indexed(plan, type(runner).__name__,
                                                  rollback=rollback)
  partial = any(x for x in (from_step, to_step, only)) or resume
  if not _reads_local_metadata(runner):
    if partial:
      raise errors.PipelineDefinitionError(
          'run()', f'partial runs need LocalDagRunner or BeamDagRunner, not '
          f'{type(runner).__name__}', fix='drop from_step/to_step/only/resume')
    return runner.run(pipeline)
  sqlite = pipeline.metadata_connection_config.sqlite.filename_uri
  if _paths.is_uri(sqlite):
    raise errors.PipelineDefinitionError(
        'run()', f'ML Metadata in sqlite needs a local file, and {sqlite!r} '
        'is under the remote pipeline root',
        fix="add .with_sqlite_ml_metadata('local/metadata.sqlite') or "
        '.with_mysql_ml_metadata(...)')
  if sqlite:
    os.makedirs(os.path.dirname(os.path.abspath(sqlite)), exist_ok=True)
  if resume:
    _check_resume(pipeline_def, override)
  _check_features_seen(plan, pipeline)
  run_id = new_run_id()
  folder = _log_folder(pipeline_def)
  log_path = os.path.join(folder, f'run-{run_id}.log')
  _close_abandoned(pipeline, folder)
  claimed = owner.claim(folder, run_id)
  try:
    return _run_claimed(pipeline_def, runner, pipeline, nodes_by_call, run_id,
                        log_path, verbose, partial,
                        (from_step, to_step, only, resume))
  finally:
    owner.release(claimed)


def _check_features_seen(plan, pipeline) -> None:
  """A stratification key the chain could not check at build (a source
  with no CSV header and no imported schema) is checked against the
  features of an earlier run's statistics of the same source."""
  from fluent_pipeline.dsl import csv_data
  keys = [(step.call, step.opts['key_feature']) for step in
          plan.steps.values() if step.opts.get('key_feature')]
  source = plan.source
  if not keys or source is None or not source.location or \
      csv_data.known_features(plan) is not None:
    return
  from fluent_pipeline.recorded import earlier_data
  seen = earlier_data.features_seen(pipeline, source.location,
                                    source.files())
  if seen is not None:
    for call, key in keys:
      csv_data.check_feature(plan, call, 'key', key, known=seen)


def _run_claimed(pipeline_def, runner, pipeline, nodes_by_call, run_id: str,
                 log_path: str, verbose: bool, partial: bool, steps) -> Any:
  """run() once this process is recorded as the run's owner."""
  from tfx.dsl.compiler import constants
  from tfx.orchestration.portable import runtime_parameter_utils, tfx_runner
  from_step, to_step, only, resume = steps
  plan = pipeline_def._plan
  progress = None
  try:
    with _terminated_as_interrupt(), \
        logs.quiet_run(log_path, verbose,
                         secrets=configuration.secrets_of(plan)) as progress, \
        _env.user_code_pip_env():
      ir = tfx_runner._make_pipeline_proto(pipeline)
      runtime_parameter_utils.substitute_runtime_parameter(
          ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
      options = None
      if partial:
        options = _partial_options(ir, pipeline, nodes_by_call, from_step,
                                   to_step, only, resume)
      else:
        _record_nodes(ir, nodes_by_call)
      runner.run_with_ir(ir, run_options=options)
  except errors.PipelineDefinitionError:
    raise
  except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (see above)
    running = progress.running if progress else None
    what = f'{running} of run {run_id}' if running else f'run {run_id}'
    signal_name = e.args[0] if e.args else 'Ctrl-C'
    try:
      _close(pipeline, run_id, f'interrupted ({signal_name}) during '
             f'{running or "the start of the run"}')
    except Exception as close_error:  # the interrupt is what matters
      logging.getLogger(__name__).warning(
          'could not close the interrupted run %s in ML Metadata (%s)',
          run_id, close_error)
    print(f'interrupted: {what}; resume it with run(resume=True) or '
          '`fluent-pipeline run FILE --resume`', file=sys.stderr)
    raise
  except Exception as e:
    running = progress.running if progress else None
    reason = diagnose.explain(e, running, wiring.sources(plan))
    anomalies = getattr(diagnose.root_cause(e), 'anomalies', None)
    if anomalies is not None:
      failure = errors.DataValidationError(
          running, reason, log_path=None if verbose else log_path,
          anomalies=anomalies, run_id=run_id)
    else:
      failure = errors.PipelineRunError(
          running, reason, log_path=None if verbose else log_path,
          run_id=run_id, location=code_location.locate(e, plan, running))
    _record_failure(pipeline, run_id, str(failure).split('\n  full log:')[0])
    if verbose:
      raise failure from e
    raise failure from None  # the traceback is in the log
  from fluent_pipeline.recorded import history
  result = history.read_run(pipeline, run_id)
  result.log_path = None if verbose else log_path
  return result


def _record_failure(pipeline, run_id: str, message: str) -> None:
  """Records why the run failed on its failed execution, where TFX records
  an executor's result (execution_lib.set_execution_result), so the run's
  report and `fluent-pipeline show` say it later. TFX records nothing when
  an executor raises; a result already there is kept."""
  try:
    from fluent_pipeline.recorded import results
    _set_result(pipeline, run_id, message, code=2,  # UNKNOWN
                pick=lambda e: e.last_known_state == e.FAILED and
                results.EXECUTION_RESULT not in e.custom_properties)
  except Exception as e:  # whatever it is, the run's failure is raised
    # The failure is still raised; only its record in ML Metadata is lost,
    # so the run's report and `fluent-pipeline show` will not say why.
    logging.getLogger(__name__).warning(
        'could not record why run %s failed in ML Metadata (%s: %s); the '
        "run's report will not say why", run_id, type(e).__name__, e)


def _set_result(pipeline, run_id: str, message: str, *, code: int, pick,
                cancel: bool = False) -> int:
  """Records `message` as the result (TFX's ExecutionResult, `code`) of the
  executions of run `run_id` that `pick` selects, CANCELED first when
  `cancel`; returns how many."""
  from ml_metadata import metadata_store
  from tfx.orchestration.portable.mlmd import execution_lib
  from tfx.proto.orchestration import execution_result_pb2
  store = metadata_store.MetadataStore(pipeline.metadata_connection_config)
  run = store.get_context_by_type_and_name('pipeline_run', run_id)
  if run is None:
    return 0
  chosen = [e for e in store.get_executions_by_context(run.id) if pick(e)]
  for execution in chosen:
    if cancel:
      execution.last_known_state = execution.CANCELED
    execution_lib.set_execution_result(
        execution_result_pb2.ExecutionResult(code=code,
                                             result_message=message),
        execution)
  if chosen:
    store.put_executions(chosen)
  return len(chosen)


def _check_resume(pipeline_def, override: bool) -> None:
  """Before anything runs: the chain resuming a run must be that run's
  (parameters, source, step arguments), or `override` says to change it,
  which is then said on stderr."""
  from fluent_pipeline.orchestration import partial
  base = resumed_run(pipeline_def)
  if base is None:
    return  # resume_from says there is nothing to resume
  current = configuration.build(pipeline_def._plan, {}, runner=None)
  changes = partial.resume_changes(base.configuration, current, base.run_id,
                                   override)
  if changes:
    print(f'note: resuming run {base.run_id} with changes (override):\n  '
          + '\n  '.join(changes), file=sys.stderr)


def resumed_run(pipeline_def):
  """The RunResult of the run `run(resume=True)` would go on from (the
  latest), or None."""
  from ml_metadata import metadata_store

  from fluent_pipeline.orchestration import partial
  from fluent_pipeline.recorded import results
  config = wiring.metadata_config(pipeline_def._plan)
  sqlite = config.sqlite.filename_uri
  if sqlite and not os.path.isfile(sqlite):
    return None  # never run here (and no store to create)
  store = metadata_store.MetadataStore(config)
  base = partial.run_to_resume(store, pipeline_def.name)
  if base is None:
    return None
  return results.collect_run(store, base, pipeline_def.name,
                             pipeline_def.pipeline_root, details=False)


def _log_folder(pipeline_def) -> str:
  """Where the run's log (and its owner record) go: owner.logs_folder."""
  return owner.logs_folder(pipeline_def.pipeline_root, pipeline_def.name)


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
  """SIGTERM raises KeyboardInterrupt('SIGTERM') in the main thread, so a
  terminated run ends as an interrupted one: said, and closed in ML
  Metadata. (Only the main thread may set a handler; elsewhere, TFX's.)"""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def terminated(signum, frame):
    del signum, frame
    raise KeyboardInterrupt('SIGTERM')
  previous = signal.signal(signal.SIGTERM, terminated)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def _close(pipeline, run_id: str, message: str) -> int:
  """Closes the executions of run `run_id` that are still RUNNING (or NEW)
  as CANCELED, with `message` as their result; returns how many."""
  return _set_result(pipeline, run_id, message, code=1,  # CANCELLED
                     pick=lambda e: e.last_known_state in (e.RUNNING, e.NEW),
                     cancel=True)


def _close_abandoned(pipeline, folder: str) -> None:
  """Before a run: the runs of this pipeline whose process died (an owner
  record left behind, naming a process of this host that has ended) have
  their executions closed in ML Metadata, so they end."""
  if not os.path.isdir(folder):
    return
  for name in sorted(os.listdir(folder)):
    if not (name.startswith('run-') and name.endswith('.owner.json')):
      continue
    run_id = name[len('run-'):-len('.owner.json')]
    reason = owner.abandoned(folder, run_id)
    if reason:
      closed = _close(pipeline, run_id, reason)
      owner.forget(folder, run_id)
      if closed:
        logging.getLogger(__name__).warning(
            'run %s was abandoned (%s); its %d unfinished executions are '
            'closed', run_id, reason, closed)


def _partial_options(ir, pipeline, nodes_by_call, from_step, to_step, only,
                     resume: bool):
  """TFX RunOptions for a partial run, checked against ML Metadata."""
  from ml_metadata import metadata_store

  from fluent_pipeline.orchestration import partial
  all_nodes = [n.pipeline_node.node_info.id for n in ir.nodes]
  always = [configuration.COMPONENT_ID] if (
      configuration.COMPONENT_ID in all_nodes) else []
  store = metadata_store.MetadataStore(pipeline.metadata_connection_config)
  name = pipeline.pipeline_info.pipeline_name
  base_run_id = None
  if resume:
    if from_step or to_step or only:
      raise errors.PipelineDefinitionError(
          'run()', 'resume picks the steps itself',
          fix='drop from_step/to_step/only, or resume')
    from_nodes, base_run_id = partial.resume_from(store, name, all_nodes,
                                                   always)
    to_nodes = None
  elif only:
    from_nodes = to_nodes = partial.node_ids(only, nodes_by_call, all_nodes,
                                              'only')
  else:
    from_nodes = to_nodes = None
    if from_step:
      from_nodes = partial.node_ids(from_step, nodes_by_call, all_nodes,
                                     'from_step')
    if to_step:
      to_nodes = partial.node_ids(to_step, nodes_by_call, all_nodes,
                                   'to_step')
  options = partial.options(from_nodes, to_nodes, always, base_run_id)
  partial.check_reusable(ir, options, store, name)
  partial.record(ir, nodes_by_call, partial.partial_record(
      ir, options, store, name, {'from_step': from_step, 'to_step': to_step,
                                 'only': only, 'resume': resume}))
  return options


def _record_nodes(ir, nodes_by_call) -> None:
  """A full run records the node ids of each chain call, by which a read
  finds the step of a CACHED node (orchestration.partial.record)."""
  from fluent_pipeline.orchestration import partial
  partial.record(ir, nodes_by_call)
