"""The chain on Apache Airflow: a DAG made by TFX's AirflowDagRunner.

    from fluent_pipeline.airflow import dag
    DAG = dag(pipeline, schedule='@daily', start_date='2026-12-01')

in a file of Airflow's dags folder, or `fluent-pipeline compile FILE --runner
airflow -o dags/`, which writes such a file for a pipeline file. Each
component is one Airflow task (TFX's AirflowComponent, a PythonOperator), so
Airflow's executor spreads them over its workers: LocalExecutor runs
independent components at the same time, CeleryExecutor and
KubernetesExecutor on other machines (docs/SCALING.md). The runs are in the
pipeline's ML Metadata store under Airflow's run ids, where `fluent-pipeline
runs / show / report` read them.

ML Metadata passwords never go into a DAG file: `metadata_connection` names
an Airflow connection (host, port, schema, login and password of a MySQL
server) read when Airflow parses the DAG.
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

DEFAULT_START = datetime.datetime(2024, 1, 1)
_WHERE = 'airflow'


def dag(pipeline: Chain, *, schedule: Schedule = None,
        start_date: StartDate = None, catchup: bool = False,
        metadata_connection: Optional[str] = None,
        dag_args: Optional[Mapping[str, Any]] = None) -> 'DAG':
  """The Airflow DAG of a PipelineDef, one task per component.

  `schedule` is Airflow's (a cron expression, '@daily', a timedelta; None:
  runs only when triggered), from `start_date` (default 2024-01-01), without
  catching up on past intervals unless `catchup`. `metadata_connection`: an
  Airflow connection id whose MySQL server holds ML Metadata (its password
  stays in Airflow). `dag_args` go to airflow.models.DAG as they are.
  """
  from tfx.orchestration.airflow import airflow_dag_runner

  from fluent_pipeline.dsl import wiring
  if metadata_connection:
    pipeline = _with_connection(pipeline, metadata_connection)
  config = {'schedule': schedule, 'start_date': _start(start_date),
            'catchup': bool(catchup),
            # One run of a pipeline at a time: runs share its root and cache.
            'max_active_runs': 1}
  config.update(dag_args or {})
  plan = pipeline._plan
  tfx_pipeline = wiring.build(plan, 'AirflowDagRunner')
  sqlite = tfx_pipeline.metadata_connection_config.sqlite.filename_uri
  if sqlite and not _paths.is_uri(sqlite):  # TFX opens it, not creates
    os.makedirs(os.path.dirname(os.path.abspath(sqlite)), exist_ok=True)
  return airflow_dag_runner.AirflowDagRunner(
      airflow_dag_runner.AirflowPipelineConfig(airflow_dag_config=config)
  ).run(tfx_pipeline)


def dag_from_file(path: str, *, name: Optional[str] = None,
                  parameters: Optional[Mapping[str, str]] = None,
                  root: Optional[StrPath] = None, schedule: Schedule = None,
                  start_date: StartDate = None, catchup: bool = False,
                  metadata_connection: Optional[str] = None,
                  dag_args: Optional[Mapping[str, Any]] = None) -> 'DAG':
  """The DAG of the pipeline a pipeline file defines (what the DAG files
  `fluent-pipeline compile --runner airflow` writes call at parse time);
  the other arguments are dag()'s."""
  from fluent_pipeline.project import pipeline_file
  pdef = pipeline_file.load(path, name).build(dict(parameters or {}))
  if root:
    pdef = pdef.with_root(root)
  return dag(pdef, schedule=schedule, start_date=start_date, catchup=catchup,
             metadata_connection=metadata_connection, dag_args=dag_args)


def _start(value: StartDate) -> datetime.datetime:
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


def _with_connection(pipeline: Chain, connection_id: str) -> Chain:
  """`pipeline` with ML Metadata on the MySQL server of an Airflow
  connection, read now (at DAG parse time, where Airflow runs)."""
  from airflow.hooks.base import BaseHook
  connection = BaseHook.get_connection(connection_id)
  if connection.conn_type not in ('mysql', None, ''):
    raise PipelineDefinitionError(
        _WHERE, f'Airflow connection {connection_id!r} is of type '
        f'{connection.conn_type!r}; ML Metadata needs a MySQL server',
        fix=f'airflow connections add {connection_id} --conn-uri '
        'mysql://USER:PASSWORD@HOST:3306/DATABASE')
  return pipeline.with_mysql_ml_metadata(
      host=connection.host or '127.0.0.1', port=connection.port or 3306,
      database=connection.schema or 'mlmd',
      user=connection.login or 'root', password=connection.password or '')


# ---------------------------------------------------------------- DAG file
def dag_file_text(pipeline_file: StrPath, *, dag_id: str,
                  name: Optional[str] = None,
                  parameters: Optional[Mapping[str, str]] = None,
                  root: Optional[str] = None, schedule: Optional[str] = None,
                  start_date: Optional[str] = None,
                  metadata_connection: Optional[str] = None) -> str:
  """The text of a DAG file that builds the pipeline of `pipeline_file`."""
  args = [f'    {os.path.abspath(pipeline_file)!r},']
  for key, value in (('name', name),
                     ('parameters', dict(parameters) if parameters else None),
                     ('root', root), ('schedule', schedule),
                     ('start_date', start_date),
                     ('metadata_connection', metadata_connection)):
    if value is not None:
      args.append(f'    {key}={value!r},')
  body = '\n'.join(args)
  return f'''"""Airflow DAG {dag_id!r}: the fluent pipeline of
{os.path.abspath(pipeline_file)}, one task per TFX component.

Written by `fluent-pipeline compile --runner airflow`; Airflow imports it to
find the DAG, which TFX's AirflowDagRunner builds from the pipeline file, so
an edit of the pipeline file shows at the next parse. Workers need the same
paths (a shared disk or image) and fluent_pipeline installed.
"""
from fluent_pipeline import airflow  # Airflow looks in files naming "airflow" and "DAG"

DAG = airflow.dag_from_file(
{body}
)
'''


def write_dag_file(pipeline_file: StrPath, output_dir: StrPath, pdef: Chain,
                   *, name: Optional[str] = None,
                   parameters: Optional[Mapping[str, str]] = None,
                   root: Optional[str] = None, schedule: Optional[str] = None,
                   start_date: Optional[str] = None,
                   metadata_connection: Optional[str] = None) -> str:
  """Writes `<output_dir>/<pipeline name>_dag.py` for the pipeline
  `pdef` of `pipeline_file` (made with `name` and `parameters`; the other
  arguments are dag()'s) and returns its path.

  Refuses a pipeline whose ML Metadata password would be needed in the
  DAG's folder, and never overwrites a file it did not write.
  """
  output_dir = os.fspath(output_dir)
  if _paths.is_uri(output_dir):
    raise PipelineDefinitionError(
        'compile', f'{output_dir!r} is remote; write the DAG file to the '
        'local dags folder (or sync it there)', fix='-o ~/airflow/dags')
  config = pdef._plan.metadata_config
  if (config is not None and config.HasField('mysql') and
      config.mysql.password and not metadata_connection):
    raise PipelineDefinitionError(
        'compile', 'the pipeline file sets an ML Metadata password, which '
        'would be read from it by every Airflow worker',
        fix='keep it in an Airflow connection: airflow connections add mlmd '
        "--conn-uri mysql://USER:PASSWORD@HOST:3306/DB, drop the password "
        'from the file, and pass --metadata-connection mlmd')
  dag_id = pdef.name
  text = dag_file_text(
      pipeline_file, dag_id=dag_id, name=name, parameters=parameters,
      root=root, schedule=schedule, start_date=start_date,
      metadata_connection=metadata_connection)
  path = os.path.join(output_dir, f'{dag_id}_dag.py')
  if os.path.exists(path):
    with open(path, encoding='utf-8', errors='replace') as f:
      if 'Written by `fluent-pipeline compile --runner airflow`' not in f.read():
        raise PipelineDefinitionError(
            'compile', f'{path} exists and was not written by fluent-pipeline',
            fix='choose another -o folder or move that file')
  os.makedirs(output_dir, exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  return path


# ------------------------------------------------------------ run it here
def run_here(pipeline: Chain, *, verbose: bool = False,
             log_path: Optional[str] = None, **dag_kwargs: Any
             ) -> 'RunResult':
  """Runs the pipeline's DAG once in this process with Airflow's
  `dag.test()` (what `airflow dags test` does) and returns its RunResult.

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
  the_dag = dag(pipeline, **dag_kwargs)
  with logs.quiet_run(log_path, verbose):
    dag_run = the_dag.test()
  if log_path and os.path.exists(log_path):  # named by the run, as others
    named = os.path.join(os.path.dirname(log_path),
                         f'run-{dag_run.run_id}.log')
    os.replace(log_path, named)
    log_path = named
  result = history.read_run(pipeline, dag_run.run_id)
  result.log_path = None if verbose else log_path
  if dag_run.get_state() != 'success':
    failed = [ti.task_id for ti in dag_run.get_task_instances()
              if ti.state == 'failed'] or [None]
    raise errors.PipelineRunError(
        failed[0], f'the Airflow run {dag_run.run_id} ended '
        f'{dag_run.get_state()}: {_last_error(log_path) or "see the log"}',
        log_path=result.log_path, run_id=dag_run.run_id)
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
