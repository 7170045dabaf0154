"""The chain on Apache Airflow: one task per node of the compiled pipeline.

    fluent-pipeline compile pipeline.py --runner airflow -o ~/airflow/dags

writes `<name>_pipeline.pb`, the compiled TFX pipeline (IR), and
`<name>_dag.py`, a DAG file that reads it with Airflow alone
(orchestration.airflow_dag): Airflow parses it in about 2 s without
TensorFlow, Beam, TFT or TFMA, and each task runs one node through TFX's
portable Launcher, as LocalDagRunner does, in a pipeline run named by the
DAG run (RUN_ID_FORMAT). Airflow's executor spreads the tasks over its
workers: LocalExecutor runs independent nodes at the same time,
CeleryExecutor and KubernetesExecutor on other machines
(docs/SCALING.md). A step's `with_resources` queue and pool go to its
task; with `--kubernetes` each task runs its node in a pod of the
pipeline's image (airflow_dag.pod_task, airflow_node), with the step's cpu,
memory and GPUs as the pod's requests and limits. `fluent-pipeline runs / show / report` read the runs
from ML Metadata like any other.

In Python, `dag(pipeline)` makes the same DAG from a PipelineDef (it builds
and compiles the pipeline where it is called, so a DAG file calling it
imports TFX at every parse). ML Metadata passwords never go into a file:
`metadata_connection` names an Airflow connection (host, port, schema,
login and password of a MySQL server) read by each task when it runs.
"""

import datetime
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from fluent_pipeline import _paths
from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.dsl.inputs import StrPath
from fluent_pipeline.errors import PipelineDefinitionError

if TYPE_CHECKING:  # Airflow is optional, and imported only when needed
  from airflow.models.dag import DAG, ScheduleArg

  from fluent_pipeline.recorded.results import RunResult

# Airflow's schedule: a cron expression or preset ('@daily'), a timedelta, a
# Timetable or datasets; None: only when triggered.
Schedule = Union[str, datetime.timedelta, 'ScheduleArg', None]
StartDate = Union[str, datetime.date, None]  # a date, a datetime, ISO text

_WRITTEN_BY = 'Written by `fluent-pipeline compile --runner airflow`'


def dag(pipeline: Chain, *, schedule: Schedule = None,
        start_date: StartDate = None, catchup: bool = False,
        metadata_connection: Optional[str] = None,
        dag_args: Optional[Mapping[str, Any]] = None) -> 'DAG':
  """The Airflow DAG of a PipelineDef, one task per node.

  `schedule` is Airflow's (a cron expression, '@daily', a timedelta; None:
  runs only when triggered), from `start_date` (default 2024-01-01), without
  catching up on past intervals unless `catchup`. `metadata_connection`: an
  Airflow connection id whose MySQL server holds ML Metadata (its password
  stays in Airflow). `dag_args` go to airflow.models.DAG as they are.
  A step's with_resources queue, pool and pool_slots go to its task.
  """
  from fluent_pipeline.dsl import plan
  from fluent_pipeline.orchestration import airflow_dag, airflow_ir
  ignored = plan.not_applied(pipeline._plan, 'airflow')
  if ignored:
    import warnings
    warnings.warn(ignored, UserWarning, stacklevel=2)
  resources: dict[str, Any] = {}
  ir = airflow_ir.compile_ir(pipeline, resources)
  return airflow_dag.dag_from_ir(
      ir, schedule=schedule, start_date=start_date, catchup=catchup,
      metadata_connection=metadata_connection, dag_args=dag_args,
      resources=resources)


def dag_from_file(path: str, *, name: Optional[str] = None,
                  parameters: Optional[Mapping[str, str]] = None,
                  root: Optional[StrPath] = None, schedule: Schedule = None,
                  start_date: StartDate = None, catchup: bool = False,
                  metadata_connection: Optional[str] = None,
                  dag_args: Optional[Mapping[str, Any]] = None) -> 'DAG':
  """The DAG of the pipeline a pipeline file defines, built at every
  parse (the DAG files compile wrote before it wrote the compiled pipeline
  call it); the other arguments are dag()'s."""
  from fluent_pipeline.project import pipeline_file
  pdef = pipeline_file.load(path, name).build(dict(parameters or {}))
  if root:
    pdef = pdef.with_root(root)
  return dag(pdef, schedule=schedule, start_date=start_date, catchup=catchup,
             metadata_connection=metadata_connection, dag_args=dag_args)


# ---------------------------------------------------------------- DAG file
def dag_file_text(pipeline_file: StrPath, *, dag_id: str,
                  name: Optional[str] = None,
                  parameters: Optional[Mapping[str, str]] = None,
                  root: Optional[str] = None, schedule: Optional[str] = None,
                  start_date: Optional[str] = None,
                  metadata_connection: Optional[str] = None,
                  params: Optional[Mapping[str, Any]] = None,
                  resources: Optional[Mapping[str, Any]] = None,
                  kubernetes: Optional[Mapping[str, Any]] = None) -> str:
  """The text of a DAG file that reads `<dag_id>_pipeline.pb` beside it,
  compiled from `pipeline_file` with `name`, `parameters` (name -> text,
  as --set gives them) and `root` (its docstring gives the command that
  compiles it again). `params` (airflow_ir.dag_params) are the parameters
  a trigger may set; `resources` (node id -> with_resources values) and
  `kubernetes` are airflow_dag.dag_from_ir's, written as literals so that
  parsing needs no TFX; the other arguments are dag()'s."""
  import pprint
  import shlex

  from fluent_pipeline.orchestration import airflow_ir
  source = os.path.abspath(pipeline_file)
  command = ['fluent-pipeline', 'compile', source]
  if name:
    command += ['--name', name]
  for key, value in (parameters or {}).items():
    command += ['--set', f'{key}={value}']
  if root:
    command += ['--root', root]
  command += ['--runner', 'airflow', '-o', 'DAGS_FOLDER']
  if kubernetes:
    command += ['--image', kubernetes['image'], '--kubernetes']
  ir_name = dag_id + airflow_ir.IR_SUFFIX
  args = [f'    os.path.join(os.path.dirname(os.path.abspath(__file__)), '
          f'{ir_name!r}),']
  for key, value in (('schedule', schedule), ('start_date', start_date),
                     ('metadata_connection', metadata_connection)):
    if value is not None:
      args.append(f'    {key}={value!r},')
  for key, value in (('resources', resources), ('kubernetes', kubernetes)):
    if value:
      text = pprint.pformat(dict(value), indent=1, width=72)
      args.append(f'    {key}=' + text.replace('\n', '\n' + ' ' * (5 + len(key)))
                  + ',')
  if params:
    # cwd: where relative values (--set data_dir=data) resolved at compile
    # time, and where a trigger's values resolve on any worker.
    trigger = {'file': source, 'name': name, 'root': root,
               'set': dict(parameters or {}), 'params': dict(params),
               'cwd': os.getcwd()}
    text = pprint.pformat(trigger, indent=1, width=72, sort_dicts=False)
    args.append('    parameters=' + text.replace('\n', '\n' + ' ' * 15)
                + ',')
  body = '\n'.join(args)
  again = ' '.join(shlex.quote(part) for part in command)
  triggered = ('\nA run triggered with other values of the parameters '
               '(`airflow dags trigger\n--conf`, the trigger form) binds them '
               'in its first task and runs the pipeline\nthey make.\n'
               if params else '\nIt takes no parameters: a run triggered '
               'with `--conf` values fails its\nfirst task (compile with '
               '--set NAME=VALUE instead).\n')
  pods = (f'\nEach task runs its node in a Kubernetes pod of {kubernetes["image"]}\n'
          f'(KubernetesPodOperator), which reads {kubernetes["ir"]}.\n'
          if kubernetes else '')
  return f'''"""Airflow DAG {dag_id!r}: the fluent pipeline of
{source}, one task per node of the compiled pipeline beside this file
({ir_name}).
{pods}
{_WRITTEN_BY}. Airflow parses it without
TensorFlow, Beam or TFX's components: each task imports TFX when it runs its
node (TFX's portable Launcher, as LocalDagRunner runs it). After an edit of
the pipeline file or its code, compile again:
    {again}
Workers need the same paths (a shared disk or image) and fluent_pipeline.
{triggered}"""
import os

from fluent_pipeline.orchestration import airflow_dag  # Airflow reads files naming "airflow" and "DAG"

DAG = airflow_dag.dag_from_ir(
{body}
)
'''


def write_dag_file(pipeline_file: StrPath, output_dir: StrPath, pdef: Chain,
                   *, name: Optional[str] = None,
                   parameters: Optional[Mapping[str, str]] = None,
                   root: Optional[str] = None, schedule: Optional[str] = None,
                   start_date: Optional[str] = None,
                   metadata_connection: Optional[str] = None,
                   kubernetes: Optional[Mapping[str, Any]] = None,
                   allow_local_paths: bool = False) -> str:
  """Compiles `pdef` (the pipeline of `pipeline_file`, made with `name`,
  `parameters` and `root`) into `<output_dir>/<name>_pipeline.pb` and writes
  the DAG file that reads it, `<output_dir>/<name>_dag.py` (the other
  arguments are dag()'s); returns the DAG file's path. The pipeline file's
  parameters become the DAG's params, which a trigger may set.

  `kubernetes` ({'image': IMAGE, optional 'namespace'}): each task runs its
  node in a pod of IMAGE (the image `compile --runner vertex` writes the
  build context of), which reads a copy of the IR written under the
  pipeline root (`_airflow/<name>-<hash>_pipeline.pb`: the pods need the
  root anyway); such a DAG has no trigger-time params, and ML Metadata is
  the pipeline's own (no Airflow connection in a pod).

  Refuses a pipeline whose ML Metadata password or other secret would be
  written into the DAG's folder, and never overwrites a file it did not
  write.
  """
  from fluent_pipeline.dsl import configuration
  from fluent_pipeline.orchestration import airflow_ir
  output_dir = os.fspath(output_dir)
  if _paths.is_uri(output_dir):
    raise PipelineDefinitionError(
        'compile', f'{output_dir!r} is remote; write the DAG file to the '
        'local dags folder (or sync it there)', fix='-o ~/airflow/dags')
  for key in parameters or {}:
    if configuration.is_secret_name(key):
      raise PipelineDefinitionError(
          'compile', f'--set {key}=...: the DAG file would hold this secret '
          'for every Airflow user to read',
          fix=f"have the pipeline file read {key} from the workers' "
          'environment (os.environ) instead')
  if kubernetes and metadata_connection:
    raise PipelineDefinitionError(
        'compile', '--metadata-connection names an Airflow connection, '
        'which a pod (no Airflow in it) cannot read',
        fix='drop --kubernetes, or --metadata-connection and let the '
        "pipeline name its own ML Metadata store (no password in it)")
  dag_id = pdef.name
  path = os.path.join(output_dir, f'{dag_id}_dag.py')
  ir_path = os.path.join(output_dir, dag_id + airflow_ir.IR_SUFFIX)
  _check_ours(path, ir_path)
  resources: dict[str, Any] = {}
  ir = _compiled_quietly(pdef, metadata_connection,
                         resources).SerializeToString()
  params = airflow_ir.dag_params(os.fspath(pipeline_file), name,
                                 parameters or {})
  if kubernetes:
    import hashlib

    from google.protobuf import json_format
    from tfx.proto.orchestration import pipeline_pb2

    from fluent_pipeline.orchestration import compile_checks
    # Pods share no disk with this machine: as for Vertex, refuse its paths.
    compile_checks.refuse_local_paths(
        json_format.MessageToDict(pipeline_pb2.Pipeline.FromString(ir)),
        pdef.pipeline_root, 'compile --kubernetes', allow=allow_local_paths)
    params = None  # the pods run the pipeline as compiled
    kubernetes = dict(kubernetes, ir=_paths.join(
        pdef.pipeline_root, '_airflow', f'{dag_id}-'
        f'{hashlib.sha256(ir).hexdigest()[:12]}{airflow_ir.IR_SUFFIX}'))
  text = dag_file_text(
      pipeline_file, dag_id=dag_id, name=name, parameters=parameters,
      root=root, schedule=schedule, start_date=start_date,
      metadata_connection=metadata_connection, params=params,
      resources=resources, kubernetes=kubernetes)
  os.makedirs(output_dir, exist_ok=True)
  # The IRs first, each file whole: a scheduler may parse the folder now.
  if kubernetes:
    _write_anywhere(kubernetes['ir'], ir)
  _write_whole(ir_path, ir)
  _write_whole(path, text.encode('utf-8'))
  return path


def _compiled_quietly(pdef: Chain, metadata_connection: Optional[str],
                      resources: Optional[dict[str, Any]] = None):
  """airflow_ir.compile_shared with the output of TFX (and of the wheels it
  builds for user code) in a log rather than on the terminal."""
  import tempfile

  from fluent_pipeline.orchestration import airflow_ir, logs
  log = os.path.join(tempfile.gettempdir(), 'fluent_pipeline_logs',
                     f'compile-airflow-{pdef.name}.log')
  try:
    with logs.quiet_run(log):
      return airflow_ir.compile_shared(pdef, metadata_connection,
                                       resources=resources)
  except PipelineDefinitionError:
    raise
  except Exception as e:
    raise PipelineDefinitionError(
        'compile', f'the pipeline did not compile: {type(e).__name__}: {e}',
        fix=f'see the full log: {log}') from e


def _check_ours(path: str, ir_path: str) -> None:
  """Neither the DAG file nor the IR overwrites a file of someone else."""
  ours = False
  if os.path.exists(path):
    with open(path, encoding='utf-8', errors='replace') as f:
      ours = _WRITTEN_BY in f.read()
    if not ours:
      raise PipelineDefinitionError(
          'compile', f'{path} exists and was not written by fluent-pipeline',
          fix='choose another -o folder or move that file')
  if os.path.exists(ir_path) and not ours:
    raise PipelineDefinitionError(
        'compile', f'{ir_path} exists and no DAG file of fluent-pipeline '
        'reads it', fix='choose another -o folder or move that file')


def _write_whole(path: str, data: bytes) -> None:
  partial = f'{path}.{os.getpid()}.tmp'
  with open(partial, 'wb') as f:
    f.write(data)
  os.replace(partial, path)


def _write_anywhere(path: str, data: bytes) -> None:
  """`data` at a local path or a URI (TFX's filesystems: gs://, s3://)."""
  if not _paths.is_uri(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_whole(path, data)
    return
  from tfx.dsl.io import fileio
  fileio.makedirs(os.path.dirname(path))
  with fileio.open(path, 'wb') as f:
    f.write(data)


def load_dag_file(path: str) -> 'DAG':
  """The DAG of a DAG file written by write_dag_file, loaded as Airflow's
  parser loads it (a check that it builds, without TFX)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(
      f'fluent_dag_{abs(hash(path))}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.DAG


# ------------------------------------------------------------ run it here
def run_here(pipeline: Chain, *, verbose: bool = False,
             log_path: Optional[str] = None, **dag_kwargs: Any
             ) -> 'RunResult':
  """Runs the pipeline's DAG once in this process with Airflow's
  `dag.test()` (what `airflow dags test` does) and returns its RunResult,
  whose run id and log file are named as every runner names them.

  Unless Airflow is configured already (AIRFLOW_HOME set, or airflow
  imported), its home is `<root>/airflow`, with a sqlite database made on
  first use and without Airflow's example DAGs.
  """
  from fluent_pipeline import errors
  from fluent_pipeline.orchestration import logs
  from fluent_pipeline.recorded import history
  _airflow_home(pipeline)
  import importlib.util
  if importlib.util.find_spec('airflow') is None:
    raise PipelineDefinitionError(
        "run(runner='airflow')", 'Apache Airflow is not installed',
        fix="pip install -c constraints.txt 'fluent-pipeline[airflow]'")
  _init_database()
  from airflow.utils import timezone

  from fluent_pipeline.orchestration import airflow_node
  logical_date = timezone.utcnow()
  run_id = airflow_node.run_id_of(pipeline.name, logical_date)
  airflow_node.append_run_log = False  # this run's log holds every line
  try:
    with logs.quiet_run(log_path, verbose):
      dag_run = dag(pipeline, **dag_kwargs).test(execution_date=logical_date)
  finally:
    airflow_node.append_run_log = True
  if log_path and os.path.exists(log_path):  # named by the run, as others
    named = os.path.join(os.path.dirname(log_path), f'run-{run_id}.log')
    os.replace(log_path, named)
    log_path = named
  result = history.read_run(pipeline, run_id)
  result.log_path = None if verbose else log_path
  if dag_run.get_state() != 'success':
    failed = [ti.task_id for ti in dag_run.get_task_instances()
              if ti.state == 'failed'] or [None]
    raise errors.PipelineRunError(
        failed[0], f'{_last_error(log_path) or "see the log"} (Airflow DAG '
        f'run {dag_run.run_id}: {dag_run.get_state()})',
        log_path=result.log_path, run_id=run_id)
  return result


def _airflow_home(pipeline: Chain) -> None:
  import sys
  if 'AIRFLOW_HOME' in os.environ or 'airflow' in sys.modules:
    return
  root = pipeline._plan.root
  if _paths.is_uri(root):
    import tempfile
    root = os.path.join(tempfile.gettempdir(), 'fluent_pipeline')
  os.environ['AIRFLOW_HOME'] = os.path.join(root, 'airflow')
  os.environ.setdefault('AIRFLOW__CORE__LOAD_EXAMPLES', 'False')


def _init_database() -> None:
  """Creates Airflow's sqlite database on first use; any other database is
  Airflow's administrators' to set up (`airflow db migrate`)."""
  from airflow import settings
  url = str(settings.engine.url)
  if not url.startswith('sqlite:'):
    return
  path = settings.engine.url.database
  if path and os.path.exists(path) and os.path.getsize(path) > 0:
    return
  from airflow.utils import db
  db.initdb()


def _last_error(log_path: Optional[str]) -> Optional[str]:
  """The last exception line of the run's log: the failed task's error."""
  import re
  if not log_path or not os.path.exists(log_path):
    return None
  with open(log_path, encoding='utf-8', errors='replace') as f:
    found = re.findall(r'^(\w+(?:\.\w+)*(?:Error|Exception): .+)$', f.read(),
                       re.M)
  return found[-1] if found else None
