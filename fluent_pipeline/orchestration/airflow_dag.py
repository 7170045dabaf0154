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
import datetime
from collections.abc import Mapping
from typing import Any, Optional, Union

from airflow.models.baseoperator import BaseOperator
from airflow.models.dag import DAG
from airflow.utils.dag_parsing_context import get_parsing_context
from tfx.proto.orchestration import pipeline_pb2

from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.orchestration.airflow_ir import AIRFLOW_KEYS
from fluent_pipeline.orchestration.airflow_node import (
  RUN_ID_FORMAT,
  read_ir,
  run_id_of,
  run_node,
)

DEFAULT_START = datetime.datetime(2024, 1, 1)
# A run's first task: it binds the run's params, or, in a DAG without
# params, refuses a trigger's --conf (which nothing would read).
PARAMETERS_TASK = 'pipeline_parameters'
StartDate = Union[str, datetime.date, None]  # a date, a datetime, ISO text
_WHERE = 'airflow'
NODE_MODULE = 'fluent_pipeline.orchestration.airflow_node'  # a pod's command
__all__ = ['AIRFLOW_KEYS', 'RUN_ID_FORMAT', 'dag_from_ir', 'read_ir',
           'run_id_of', 'run_node', 'NodeOperator', 'ParametersOperator',
           'NoParametersOperator']


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
                parameters: Optional[Mapping[str, Any]] = None,
                resources: Optional[Mapping[str, Mapping[str, Any]]] = None,
                kubernetes: Optional[Mapping[str, Any]] = None
                ) -> Optional[DAG]:
  """The DAG of a compiled pipeline (`ir`: the path of its binary IR, or
  the IR itself): one NodeOperator per node, with the IR's upstream edges.
  `parameters` (what write_dag_file writes: the pipeline file, how it was
  compiled, and its params) make the DAG's params, and a first task that
  binds a run's values (ParametersOperator); without them, the first task
  fails a run triggered with values (NoParametersOperator), rather than
  run the pipeline as compiled. `resources`: node id -> its
  with_resources values (queue, pool, pool_slots go to its task).
  `kubernetes` ({'image': ..., 'ir': the IR's URI for the pods, optional
  'namespace'}): each node runs in a pod of that image instead
  (KubernetesPodOperator, with its cpu, memory and GPUs as requests and
  limits). The other arguments are fluent_pipeline.airflow.dag()'s.

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
  if kubernetes and parameters and parameters.get('params'):
    raise PipelineDefinitionError(
        _WHERE, "a Kubernetes DAG's pods run the compiled pipeline as it is: "
        'trigger-time parameters need the DAG without --kubernetes',
        fix='compile with --set NAME=VALUE for each value instead')
  edges = node_edges(ir)
  first = PARAMETERS_TASK
  while first in edges:
    first = '_' + first
  takes_params = bool(parameters and parameters.get('params'))
  if takes_params:
    from airflow.models.param import Param
    config['params'] = {key: _param(Param, spec) for key, spec in
                        parameters['params'].items()}
  config.update(dag_args or {})
  the_dag = DAG(dag_id, **config)
  resources = resources or {}
  if kubernetes:
    tasks = {node: pod_task(node, dag_id, kubernetes, resources.get(node, {}),
                            dag=the_dag) for node in edges}
  else:
    tasks = {node: NodeOperator(
        node_id=node, ir=ir_path or ir,
        metadata_connection=metadata_connection,
        parameters_task=first if takes_params else None, dag=the_dag, **airflow_settings(resources.get(node, {})))
        for node in edges}
  for node, upstream in edges.items():
    for up in upstream:
      tasks[up] >> tasks[node]
  if takes_params:
    binder = ParametersOperator(task_id=first, parameters=parameters,
                                edges=edges, resources=resources,
                                metadata_connection=metadata_connection,
                                dag=the_dag)
  else:
    binder = NoParametersOperator(
        task_id=first, dag=the_dag, why=(
            "its pods run the compiled pipeline as it is" if kubernetes
            else 'it was compiled without trigger-time parameters' if
            ir_path else 'it runs the chain it was made from'))
  for node, upstream in edges.items():
    if not upstream:
      binder >> tasks[node]
  return the_dag


def label_value(text: str) -> str:
  """`text` as a Kubernetes label value: at most 63 characters of
  [A-Za-z0-9._-], beginning and ending with a letter or digit."""
  import re
  value = re.sub(r'[^A-Za-z0-9._-]', '-', text)[:63]
  return re.sub(r'^[^A-Za-z0-9]+|[^A-Za-z0-9]+$', '', value)


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
    # An Airflow connection is read here in the task (never at parse time,
    # never written into a file).
    connection = (_mysql_of(self.metadata_connection)
                  if self.metadata_connection else None)
    run_node(ir, self.pipeline_node_id, run_id, connection)
    return run_id  # the task's XCom: the pipeline run it ran in


def airflow_settings(resources: Mapping[str, Any]) -> dict[str, Any]:
  """The task arguments of a node's with_resources values."""
  return {key: resources[key] for key in AIRFLOW_KEYS if key in resources}


def pod_task(node: str, dag_id: str, kubernetes: Mapping[str, Any],
             resources: Mapping[str, Any], **kwargs: Any) -> BaseOperator:
  """A KubernetesPodOperator running node `node` in a pod of
  kubernetes['image'] (`python -m NODE_MODULE`, in the DAG run's pipeline
  run), with the node's cpu and memory as its requests and limits and its
  GPUs as nvidia.com/gpu limits."""
  try:
    from airflow.providers.cncf.kubernetes.operators.pod import (
      KubernetesPodOperator,
    )
  except ImportError:
    raise PipelineDefinitionError(
        _WHERE, 'a Kubernetes DAG needs the cncf-kubernetes provider of '
        'Airflow', fix="pip install -c constraints.txt "
        "'fluent-pipeline[airflow]'") from None
  from kubernetes.client import models as k8s
  requests = {key: str(resources[key]) for key in ('cpu', 'memory')
              if key in resources}
  limits = dict(requests)
  if resources.get('gpu'):
    limits['nvidia.com/gpu'] = str(resources['gpu'])
  return KubernetesPodOperator(
      task_id=node, image=kubernetes['image'],
      namespace=kubernetes.get('namespace'),
      cmds=['python', '-m', NODE_MODULE],
      arguments=['--ir', kubernetes['ir'], '--node', node, '--dag-id', dag_id,
                 '--logical-date', '{{ logical_date.isoformat() }}'],
      container_resources=k8s.V1ResourceRequirements(
          requests=requests or None, limits=limits or None),
      labels={'fluent-pipeline': label_value(dag_id)}, get_logs=True,
      **airflow_settings(resources), **kwargs)


class ParametersOperator(BaseOperator):
  """A DAG run's first task: its values of the pipeline's parameters
  (params, and --conf), bound as `--set` binds them. Values other than
  those compiled make the run's own IR, which the node tasks read from
  this task's XCom; the compiled values need no TFX."""

  ui_color = '#fdf3e1'

  def __init__(self, *, parameters: Mapping[str, Any],
               edges: Mapping[str, list[str]],
               resources: Optional[Mapping[str, Any]] = None,
               metadata_connection: Optional[str] = None, **kwargs: Any):
    super().__init__(**kwargs)
    self.parameters = dict(parameters)
    self.edges = dict(edges)
    self.resources = dict(resources or {})  # the tasks' queues and pools
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
        changed, self.edges, self.metadata_connection,
        cwd=self.parameters.get('cwd'), resources=self.resources)
    return base64.b64encode(ir.SerializeToString()).decode('ascii')


class NoParametersOperator(BaseOperator):
  """The first task of a DAG without params: fails a run triggered with
  values (`airflow dags trigger --conf`), which no task would read, rather
  than run the compiled pipeline as if they applied. Airflow only."""

  ui_color = '#fdf3e1'

  def __init__(self, *, why: str, **kwargs: Any):
    super().__init__(**kwargs)
    self.why = why

  def execute(self, context: Any) -> None:
    conf = context['dag_run'].conf or {}
    declared = set(self.dag.params) if self.dag else set()  # dag_args'
    unread = sorted(key for key in conf if key not in declared)
    if unread:
      raise PipelineDefinitionError(
          _WHERE, f'DAG {self.dag_id!r} was triggered with '
          f'{", ".join(unread)} (--conf), but it takes no parameters: '
          f'{self.why}', fix='compile with --set NAME=VALUE for each value '
          '(fluent-pipeline compile FILE --set NAME=VALUE --runner airflow), '
          'or trigger without --conf')


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
