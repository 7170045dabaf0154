"""An Airflow DAG read from a compiled TFX pipeline: one task per IR node.

What the DAG files `fluent-pipeline compile --runner airflow` writes
import. Airflow parses a DAG file in its scheduler loop and again in every
task process, so this module imports only Airflow and the IR's protobuf
classes at its top (about 2 s in all here, against 12-18 s when the DAG
file rebuilt the pipeline with TensorFlow, Beam, TFT and TFMA loaded).

Each task runs its node the way LocalDagRunner does: TFX's portable
Launcher, with the pipeline run id substituted into the IR, so ML Metadata
records Airflow runs as it records every other run (a 'pipeline_run'
context, states, TFX's cache; `fluent-pipeline runs / show` read them).
TFX is imported in the task, when it runs.

The run id comes from the DAG run's logical date (UTC) in RUN_ID_FORMAT:
every task of a DAG run computes the same id, and a task cleared and run
again runs in the same pipeline run, where TFX's Launcher finds the node's
execution (done: nothing to do; failed: it runs again).

Airflow's parsing context is used only to skip a DAG other than the one
wanted: every task of the DAG is still made in a task process, as the
mini-scheduler Airflow runs after a task reads its downstream tasks, and
making them costs milliseconds (the IR is read whole either way).
"""

import base64
import contextlib
import datetime
import os
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Optional, Union

from airflow.models.baseoperator import BaseOperator
from airflow.models.dag import DAG
from airflow.utils.dag_parsing_context import get_parsing_context
from tfx.proto.orchestration import pipeline_pb2

from fluent_pipeline import _env, _paths
from fluent_pipeline.errors import PipelineDefinitionError

# orchestration.runners' format (tests check they match): not imported, so
# that parsing never imports the runners' modules.
RUN_ID_FORMAT = '%Y%m%d-%H%M%S.%f'
DEFAULT_START = datetime.datetime(2024, 1, 1)
PARAMETERS_TASK = 'pipeline_parameters'  # a run's first task, given params
StartDate = Union[str, datetime.date, None]  # a date, a datetime, ISO text
_WHERE = 'airflow'

# Off while run_here runs the DAG, whose log already holds every line.
append_run_log = True


def read_ir(path: str) -> pipeline_pb2.Pipeline:
  """The compiled pipeline (binary pipeline_pb2.Pipeline) at `path`."""
  try:
    with open(path, 'rb') as f:
      return pipeline_pb2.Pipeline.FromString(f.read())
  except FileNotFoundError:
    raise PipelineDefinitionError(
        _WHERE, f'the compiled pipeline {path} is missing; the DAG file '
        'reads it', fix='fluent-pipeline compile PIPELINE_FILE --runner '
        'airflow -o DAGS_FOLDER (it writes both)') from None


def node_edges(ir: pipeline_pb2.Pipeline) -> dict[str, list[str]]:
  """Each node id of `ir`, in the IR's (topological) order, with the ids
  of the nodes upstream of it."""
  return {n.pipeline_node.node_info.id: list(n.pipeline_node.upstream_nodes)
          for n in ir.nodes}


def start(value: StartDate) -> datetime.datetime:
  if value is None:
    return DEFAULT_START
  if isinstance(value, datetime.datetime):
    return value
  if isinstance(value, datetime.date):
    return datetime.datetime(value.year, value.month, value.day)
  try:
    return datetime.datetime.fromisoformat(str(value))
  except ValueError:
    raise PipelineDefinitionError(
        _WHERE, f'start_date {value!r} is not a date',
        fix="start_date='2026-12-01' (ISO format) or a datetime") from None


def dag_from_ir(ir: Union[str, pipeline_pb2.Pipeline], *,
                schedule: Any = None, start_date: StartDate = None,
                catchup: bool = False,
                metadata_connection: Optional[str] = None,
                dag_args: Optional[Mapping[str, Any]] = None,
                parameters: Optional[Mapping[str, Any]] = None
                ) -> Optional[DAG]:
  """The DAG of a compiled pipeline (`ir`: the path of its binary IR, or
  the IR itself): one NodeOperator per node, with the IR's upstream edges.
  `parameters` (what write_dag_file writes: the pipeline file, how it was
  compiled, and its params) make the DAG's params, and a first task that
  binds a run's values (ParametersOperator). The other arguments are
  fluent_pipeline.airflow.dag()'s.

  None when Airflow's parsing context names another DAG (a task of another
  DAG, in a file that holds several).
  """
  ir_path = ir if isinstance(ir, str) else None
  if ir_path is not None:
    ir = read_ir(ir_path)
  dag_id = ir.pipeline_info.id
  wanted = get_parsing_context().dag_id
  if wanted is not None and wanted != dag_id:
    return None
  config = {'schedule': schedule, 'start_date': start(start_date),
            'catchup': bool(catchup),
            # One run of a pipeline at a time: runs share its root and cache.
            'max_active_runs': 1,
            'doc_md': f'fluent pipeline `{dag_id}`: one task per TFX node, '
                      "each run through TFX's Launcher."}
  edges = node_edges(ir)
  first = None
  if parameters and parameters.get('params'):
    from airflow.models.param import Param
    config['params'] = {key: _param(Param, spec) for key, spec in
                        parameters['params'].items()}
    first = PARAMETERS_TASK
    while first in edges:
      first = '_' + first
  config.update(dag_args or {})
  the_dag = DAG(dag_id, **config)
  tasks = {node: NodeOperator(node_id=node, ir=ir_path or ir,
                              metadata_connection=metadata_connection,
                              parameters_task=first, dag=the_dag)
           for node in edges}
  for node, upstream in edges.items():
    for up in upstream:
      tasks[up] >> tasks[node]
  if first is not None:
    binder = ParametersOperator(task_id=first, parameters=parameters,
                                edges=edges,
                                metadata_connection=metadata_connection,
                                dag=the_dag)
    for node, upstream in edges.items():
      if not upstream:
        binder >> tasks[node]
  return the_dag


class NodeOperator(BaseOperator):
  """Runs one node of a compiled TFX pipeline through TFX's Launcher, in
  the pipeline run of its DAG run (run_id_of)."""

  ui_color = '#e8f1fb'

  def __init__(self, *, node_id: str,
               ir: Union[str, pipeline_pb2.Pipeline],
               metadata_connection: Optional[str] = None,
               parameters_task: Optional[str] = None, **kwargs: Any):
    super().__init__(task_id=node_id, **kwargs)
    self.pipeline_node_id = node_id
    self.ir = ir  # a path (read in the task), or the IR itself
    self.metadata_connection = metadata_connection
    self.parameters_task = parameters_task

  def execute(self, context: Any) -> str:
    dag_run = context['dag_run']
    run_id = run_id_of(dag_run.dag_id, dag_run.logical_date)
    ir = None
    if self.parameters_task:  # the run's own IR, when its values differ
      ir = _ir_of(context['ti'].xcom_pull(task_ids=self.parameters_task))
    if ir is None:
      ir = read_ir(self.ir) if isinstance(self.ir, str) else self.ir
    run_node(ir, self.pipeline_node_id, run_id, self.metadata_connection)
    return run_id  # the task's XCom: the pipeline run it ran in


class ParametersOperator(BaseOperator):
  """A DAG run's first task: its values of the pipeline's parameters
  (params, and --conf), bound as `--set` binds them. Values other than
  those compiled make the run's own IR, which the node tasks read from
  this task's XCom; the compiled values need no TFX."""

  ui_color = '#fdf3e1'

  def __init__(self, *, parameters: Mapping[str, Any],
               edges: Mapping[str, list[str]],
               metadata_connection: Optional[str] = None, **kwargs: Any):
    super().__init__(**kwargs)
    self.parameters = dict(parameters)
    self.edges = dict(edges)
    self.metadata_connection = metadata_connection

  def execute(self, context: Any) -> Optional[str]:
    from fluent_pipeline.orchestration import airflow_ir
    given = dict(context['params'])
    given.update(context['dag_run'].conf or {})
    changed = airflow_ir.changed(self.parameters['params'], given)
    if not changed:
      self.log.info('the compiled pipeline: its values %s',
                    {k: v['value'] for k, v in
                     self.parameters['params'].items()})
      return None
    self.log.info('values other than those compiled: %s', changed)
    ir = airflow_ir.ir_for(
        self.parameters['file'], self.parameters.get('name'),
        self.parameters.get('root'), self.parameters.get('set') or {},
        changed, self.edges, self.metadata_connection)
    return base64.b64encode(ir.SerializeToString()).decode('ascii')


def _param(param_class, spec: Mapping[str, Any]):
  """An Airflow Param of a pipeline parameter: its compiled value, and
  its JSON Schema type when known (the trigger form's field)."""
  kind = spec['type']
  if kind is None:
    return param_class(spec['value'])
  return param_class(spec['value'], type=kind if spec['value'] is not None
                     else [kind, 'null'])


def _ir_of(pushed: Optional[str]) -> Optional[pipeline_pb2.Pipeline]:
  if not pushed:
    return None
  return pipeline_pb2.Pipeline.FromString(base64.b64decode(pushed))


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
def run_node(ir: pipeline_pb2.Pipeline, node_id: str, run_id: str,
             metadata_connection: Optional[str] = None) -> None:
  """Runs node `node_id` of `ir` in pipeline run `run_id`, as
  LocalDagRunner runs each node; a failure's reason is recorded on its
  execution, as run() records it."""
  from absl import logging as absl_logging
  from tfx.dsl.compiler import constants
  from tfx.orchestration import metadata
  from tfx.orchestration.local import runner_utils
  from tfx.orchestration.portable import launcher, runtime_parameter_utils

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
  connection = _connection_config(deployment, metadata_connection)
  with _run_log(ir, run_id), _env.user_code_pip_env():
    # LocalDagRunner's records, which the quiet run's progress lines read.
    absl_logging.info('Component %s is running.', node_id)
    try:
      launcher.Launcher(
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
    absl_logging.info('Component %s is finished.', node_id)


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


def _connection_config(deployment, connection_id: Optional[str]):
  """ML Metadata's connection: the IR's, or the MySQL server of an Airflow
  connection, read here in the task (never at parse time, never written
  into a file)."""
  if connection_id:
    return _mysql_of(connection_id)
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


def _mysql_of(connection_id: str):
  from airflow.hooks.base import BaseHook
  from ml_metadata.proto import metadata_store_pb2
  connection = BaseHook.get_connection(connection_id)
  if connection.conn_type not in ('mysql', None, ''):
    raise PipelineDefinitionError(
        _WHERE, f'Airflow connection {connection_id!r} is of type '
        f'{connection.conn_type!r}; ML Metadata needs a MySQL server',
        fix=f'airflow connections add {connection_id} --conn-uri '
        'mysql://USER:PASSWORD@HOST:3306/DATABASE')
  config = metadata_store_pb2.ConnectionConfig()
  config.mysql.host = connection.host or '127.0.0.1'
  config.mysql.port = connection.port or 3306
  config.mysql.database = connection.schema or 'mlmd'
  config.mysql.user = connection.login or 'root'
  config.mysql.password = connection.password or ''
  return config


@contextlib.contextmanager
def _run_log(ir: pipeline_pb2.Pipeline, run_id: str) -> Iterator[None]:
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


def _logs_folder(ir: pipeline_pb2.Pipeline) -> Optional[str]:
  """recorded.owner.logs_folder of the IR's pipeline."""
  from fluent_pipeline.recorded import owner
  root = ir.runtime_spec.pipeline_root.field_value.string_value
  if not root:
    return None
  return owner.logs_folder(root, ir.pipeline_info.id)
