"""One node of a compiled TFX pipeline run in an Airflow task or a
Kubernetes pod, without Airflow.

An Airflow task (airflow_dag.NodeOperator) calls run_node in its process; a
KubernetesPodOperator task runs this module in its pod, in the image of the
pipeline (the one `compile --runner vertex` writes the build context of),
which holds TFX and fluent_pipeline but no Airflow:

    python -m fluent_pipeline.orchestration.airflow_node --ir URI \\
        --node Trainer --dag-id taxi --logical-date 2026-11-02T00:00:00+00:00

Both run the node through TFX's portable Launcher, as LocalDagRunner does,
in the pipeline run named by the DAG run (run_id_of), so ML Metadata
records the run as it records every other.
"""

import argparse
import contextlib
import datetime
import os
import zlib
from collections.abc import Iterator
from typing import Optional

from fluent_pipeline import _env, _paths
from fluent_pipeline.errors import PipelineDefinitionError, PipelineRunError

# orchestration.runners' format (tests check they match): not imported, so
# that parsing a DAG file never imports the runners' modules.
RUN_ID_FORMAT = '%Y%m%d-%H%M%S.%f'
_WHERE = 'airflow'

# Off while run_here runs the DAG, whose log already holds every line.
append_run_log = True


def read_ir(path: str):
  """The compiled pipeline (binary pipeline_pb2.Pipeline) at `path`: a
  local file, or a URI read with TFX's filesystems (a pod's)."""
  from tfx.proto.orchestration import pipeline_pb2
  missing = (_paths.not_found_errors() if _paths.is_uri(path)
             else (FileNotFoundError,))
  try:
    if _paths.is_uri(path):
      from tfx.dsl.io import fileio
      with fileio.open(path, 'rb') as f:
        return pipeline_pb2.Pipeline.FromString(f.read())
    with open(path, 'rb') as f:
      return pipeline_pb2.Pipeline.FromString(f.read())
  except missing:
    raise PipelineDefinitionError(
        _WHERE, f'the compiled pipeline {path} is missing; the DAG file '
        'reads it', fix='fluent-pipeline compile PIPELINE_FILE --runner '
        'airflow -o DAGS_FOLDER (it writes both)') from None


def run_id_of(dag_id: str, logical_date: datetime.datetime) -> str:
  """The pipeline run id of a DAG run: its logical date in UTC, in
  RUN_ID_FORMAT. A date on the second (a scheduled run's, `airflow dags
  test DAG 2026-11-02`'s) takes its microseconds from the DAG id, so two
  pipelines on the same schedule sharing an ML Metadata store never share
  a run (TFX names a run's context by the run id alone)."""
  when = logical_date.astimezone(datetime.timezone.utc)
  if when.microsecond == 0:
    when = when.replace(microsecond=zlib.crc32(dag_id.encode()) % 1000000)
  return datetime.datetime(*when.timetuple()[:6],
                           when.microsecond).strftime(RUN_ID_FORMAT)


# ------------------------------------------------------- in the task only
def run_node(ir, node_id: str, run_id: str, connection=None) -> None:
  """Runs node `node_id` of `ir` (a pipeline_pb2.Pipeline) in pipeline run
  `run_id`, as LocalDagRunner runs each node, with ML Metadata at
  `connection` (a ConnectionConfig; default: the IR's); a failure's reason
  is recorded on its execution, as run() records it. Raises
  PipelineRunError when ML Metadata holds no COMPLETE or CACHED execution
  of the node in the run afterwards: TFX's Launcher records a node whose
  inputs it cannot find (an upstream task not run in this DAG run) as
  FAILED and returns, which Airflow and a pod would take as success."""
  from absl import logging as absl_logging
  from tfx.dsl.compiler import constants
  from tfx.orchestration import metadata
  from tfx.orchestration.local import runner_utils
  from tfx.orchestration.portable import launcher, runtime_parameter_utils
  from tfx.proto.orchestration import pipeline_pb2

  from fluent_pipeline.orchestration import diagnose
  ir = pipeline_pb2.Pipeline.FromString(ir.SerializeToString())  # a copy
  runtime_parameter_utils.substitute_runtime_parameter(
      ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
  nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
  if node_id not in nodes:
    raise PipelineDefinitionError(
        _WHERE, f'node {node_id!r} is not in the compiled pipeline '
        f'{ir.pipeline_info.id!r} (it has {", ".join(nodes)})',
        fix='compile the pipeline again, and let Airflow parse the new DAG')
  deployment = runner_utils.extract_local_deployment_config(ir)
  if connection is None:
    connection = _connection_config(deployment)
  with _run_log(ir, run_id), _env.user_code_pip_env():
    # LocalDagRunner's records, which the quiet run's progress lines read.
    absl_logging.info('Component %s is running.', node_id)
    try:
      launched = launcher.Launcher(
          pipeline_node=nodes[node_id],
          mlmd_connection=metadata.Metadata(connection),
          pipeline_info=ir.pipeline_info,
          pipeline_runtime_spec=ir.runtime_spec,
          executor_spec=runner_utils.extract_executor_spec(deployment,
                                                           node_id),
          custom_driver_spec=runner_utils.extract_custom_driver_spec(
              deployment, node_id)).launch()
    except Exception as e:
      _record_failure(connection, ir.pipeline_info.id, run_id, node_id,
                      f'{node_id} failed: {diagnose.explain(e, node_id, {})}')
      raise
    _check_recorded(connection, ir, run_id, node_id,
                    launched.execution_id if launched else None)
    absl_logging.info('Component %s is finished.', node_id)


def _check_recorded(connection, ir, run_id: str, node_id: str,
                    execution_id: Optional[int]) -> None:
  """Raises PipelineRunError unless the node's execution in pipeline run
  `run_id` (`execution_id`, else its latest one there) is COMPLETE or
  CACHED, naming the node and the reason TFX recorded."""
  from ml_metadata import metadata_store

  from fluent_pipeline.recorded import mlmd
  store = metadata_store.MetadataStore(connection)
  execution = None
  if execution_id is not None:
    execution = next(iter(store.get_executions_by_id([execution_id])), None)
  if execution is None:
    run = store.get_context_by_type_and_name('pipeline_run', run_id)
    found = store.get_executions_by_context(run.id) if run else []
    nodes = mlmd.node_ids(store, found, ir.pipeline_info.id)
    mine = [e for e in found if nodes.get(e.id) == node_id]
    execution = max(mine, key=lambda e: e.id) if mine else None
  log = _logs_folder(ir)
  log_path = (os.path.join(log, f'run-{run_id}.log')
              if log and append_run_log else None)
  if execution is None:
    raise PipelineRunError(
        node_id, f'ML Metadata holds no execution of it in pipeline run '
        f'{run_id}: TFX did not run it (no inputs to run on)',
        log_path=log_path)
  state = mlmd.STATE_NAMES.get(execution.last_known_state, 'UNKNOWN')
  if state in ('COMPLETE', 'CACHED'):
    return
  lines = [line.strip() for line in _result_message(execution).splitlines()
           if line.strip()]
  reason = lines[-1] if lines else 'no reason recorded'
  raise PipelineRunError(
      node_id, f'TFX recorded its execution {execution.id} in pipeline run '
      f'{run_id} as {state}: {reason}', log_path=log_path)


def _result_message(execution) -> str:
  """The result message TFX recorded on an execution (its ExecutionResult
  JSON; a traceback when input resolution failed), or ''."""
  import json

  from fluent_pipeline.recorded import results
  value = execution.custom_properties.get(results.EXECUTION_RESULT)
  if value is None or not value.string_value:
    return ''
  try:
    recorded = json.loads(value.string_value)
  except ValueError:
    return value.string_value
  return (recorded.get('resultMessage') or '' if isinstance(recorded, dict)
          else value.string_value)


def _record_failure(connection, pipeline_name: str, run_id: str,
                    node_id: str, message: str) -> None:
  """Records why the node failed on its FAILED execution of the run (TFX's
  ExecutionResult, as runners records a failure), so `fluent-pipeline
  show` says it; only this node's, since other tasks may fail at the same
  time. A result TFX recorded is kept."""
  import logging
  try:
    from ml_metadata import metadata_store
    from tfx.orchestration.portable.mlmd import execution_lib
    from tfx.proto.orchestration import execution_result_pb2

    from fluent_pipeline.recorded import mlmd, results
    store = metadata_store.MetadataStore(connection)
    run = store.get_context_by_type_and_name('pipeline_run', run_id)
    if run is None:
      return
    failed = [e for e in store.get_executions_by_context(run.id)
              if e.last_known_state == e.FAILED and
              results.EXECUTION_RESULT not in e.custom_properties]
    nodes = mlmd.node_ids(store, failed, pipeline_name)
    chosen = [e for e in failed if nodes.get(e.id) == node_id]
    for execution in chosen:
      execution_lib.set_execution_result(
          execution_result_pb2.ExecutionResult(
              code=2, result_message=message),  # UNKNOWN
          execution)
    if chosen:
      store.put_executions(chosen)
  except Exception as e:  # the task's failure is what matters
    logging.getLogger(__name__).warning(
        'could not record why %s failed in ML Metadata (%s: %s)', node_id,
        type(e).__name__, e)


def _connection_config(deployment):
  """ML Metadata's connection, as the IR names it."""
  config = deployment.metadata_connection_config
  which = config.WhichOneof('connection_config')
  if which is None:
    raise PipelineDefinitionError(
        _WHERE, 'the compiled pipeline names no ML Metadata store',
        fix='compile it again, or pass --metadata-connection CONN_ID')
  connection = getattr(config, which)
  sqlite = getattr(connection, 'sqlite', None)
  path = sqlite.filename_uri if sqlite is not None else ''
  if path and not _paths.is_uri(path):  # TFX opens it, not its folder
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  return connection


@contextlib.contextmanager
def _run_log(ir, run_id: str) -> Iterator[None]:
  """TFX's log lines of the task appended to the run's log file
  (`<root>/<name>/logs/run-<id>.log`, as every runner names it), besides
  Airflow's task log."""
  import logging

  from absl import logging as absl_logging
  folder = _logs_folder(ir)
  handler = None
  if append_run_log and folder is not None:
    try:
      os.makedirs(folder, exist_ok=True)
      handler = logging.FileHandler(
          os.path.join(folder, f'run-{run_id}.log'), encoding='utf-8')
    except OSError:
      handler = None  # Airflow's task log still has every line
  if handler is None:
    yield
    return
  handler.setFormatter(logging.Formatter(
      '%(asctime)s %(levelname)s:%(name)s:%(message)s'))
  absl_logger = logging.getLogger('absl')
  saved_verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)
  absl_logger.addHandler(handler)
  try:
    yield
  finally:
    absl_logger.removeHandler(handler)
    absl_logging.set_verbosity(saved_verbosity)
    handler.close()


def _logs_folder(ir) -> Optional[str]:
  """recorded.owner.logs_folder of the IR's pipeline."""
  from fluent_pipeline.recorded import owner
  root = ir.runtime_spec.pipeline_root.field_value.string_value
  if not root:
    return None
  return owner.logs_folder(root, ir.pipeline_info.id)


def main(argv: Optional[list[str]] = None) -> int:
  """A pod's command: runs one node of the IR at --ir in the pipeline run
  of the DAG run (its DAG id and logical date)."""
  parser = argparse.ArgumentParser(
      prog='python -m fluent_pipeline.orchestration.airflow_node',
      description='Runs one node of a compiled TFX pipeline (an Airflow '
      'task in a pod).')
  parser.add_argument('--ir', required=True, help='the binary IR: a path or '
                      'a URI (gs://...)')
  parser.add_argument('--node', required=True, help='the node id')
  parser.add_argument('--dag-id', required=True)
  parser.add_argument('--logical-date', required=True,
                      help="the DAG run's logical date, ISO 8601")
  args = parser.parse_args(argv)
  os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
  when = datetime.datetime.fromisoformat(args.logical_date)
  if when.tzinfo is None:
    when = when.replace(tzinfo=datetime.timezone.utc)
  try:
    run_node(read_ir(args.ir), args.node, run_id_of(args.dag_id, when))
  except (PipelineDefinitionError, PipelineRunError) as e:
    import sys
    print(f'error: {e}', file=sys.stderr)  # the pod's log: what and why
    return 1
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
