"""The head of the taxi chain on a real Airflow CeleryExecutor: Redis as
the broker, PostgreSQL as Airflow's database and Celery's result backend,
ML Metadata on MariaDB (Debian's servers, started on loopback for this
module, tests/servers.py), two `airflow celery worker` processes in working
directories of their own, and a scheduler. The commands and settings are
docs/SCALING.md's CeleryExecutor block, read from the file and run here.

Checked from Airflow's database: every task succeeded, both workers ran
tasks, tasks queued together ran at the same time. Checked from ML
Metadata: the same records as a LocalDagRunner run of the same chain into
the same store. Both runs' wall times are printed (docs/BENCHMARKS.md).
"""

import os
import re
import time

import pytest
from conftest import TAXI_MODULE
from servers import (
  PARAMETERS,
  DocShell,
  airflow_env,
  assert_ran_together,
  dag_edges,
  doc_commands,
  task_instances,
  timeline,
)

from fluent_pipeline import read_run, runs

DOC_CAPTION = 'The CeleryExecutor, as tests/test_airflow_celery.py runs it'
DAG_ID = 'taxi_head'
# The doc's workers import TFX before they fork (celery_workers);
# bench/airflow_celery.py sets this to 0 to measure them without it.
PRELOAD = os.environ.get('FLUENT_BENCH_CELERY_PRELOAD', '1') != '0'
RUN_ID = re.compile(r'\d{8}-\d{6}\.\d{6}')  # runners.RUN_ID_FORMAT
# The head of the taxi chain: two roots after the parameters' task (the
# configuration and CsvExampleGen), two branches after SchemaGen
# (ExampleValidator and Transform); the whole chain adds minutes of per-task
# start-up and no kind of task.
PIPELINE = '''from fluent_pipeline import PipelineDef


def create_pipeline(root: str, data_dir: str):
  return (PipelineDef("taxi_head", root=root).from_csv(data_dir)
          .generate_statistics().infer_schema()
          .validate_input_data().preprocess({module!r})
          .with_mysql_ml_metadata(host="127.0.0.1", port={port},
                                  database="mlmd", user="tfx",
                                  password="secret"))
'''


def _records(pdef, run_id: str, mlmd: dict) -> dict:
  """What ML Metadata holds for a run: per node, its state and each output
  key with the types of its artifacts (a sorted list: their count too)."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  result = read_run(pdef, run_id)
  config = metadata_store_pb2.ConnectionConfig()
  for key in ('host', 'port', 'database', 'user', 'password'):
    setattr(config.mysql, key, mlmd[key])
  store = metadata_store.MetadataStore(config)
  types = {t.id: t.name for t in store.get_artifact_types()}
  records = {}
  for c in result.components:
    outputs = {}
    for key, uris in c.outputs.items():
      outputs[key] = sorted(types[a.type_id] for uri in uris
                            for a in store.get_artifacts_by_uri(uri))
    records[c.node_id] = (c.state, outputs)
  return result, records


@pytest.mark.e2e
def test_celery_executor_with_two_workers(postgres, redis, mariadb, tmp_path,
                                          taxi_sample):
  from fluent_pipeline.project import pipeline_file as _pipeline_file
  work = tmp_path.resolve()  # as os.getcwd() names it
  (work / 'data').symlink_to(taxi_sample['data'])
  (work / 'taxi_head.py').write_text(PIPELINE.format(module=TAXI_MODULE,
                                                     port=mariadb['port']))
  home = work / 'home'
  pg_port = postgres.rsplit(':', 1)[1].split('/')[0]
  shell = DocShell(work, airflow_env(home), postgres, {
      '5432': pg_port, '6379': str(redis), '3306': str(mariadb['port'])})
  # LocalDagRunner: the same chain into the same ML Metadata store.
  pdef = _pipeline_file.load(str(work / 'taxi_head.py')).build(
      {'root': str(work / 'runs'), 'data_dir': str(work / 'data')})
  start = time.perf_counter()
  local = pdef.run()
  local_seconds = time.perf_counter() - start
  assert set(local.states.values()) == {'COMPLETE'}, local.states
  try:
    for line in doc_commands(DOC_CAPTION):
      shell.run(line)
      if not PRELOAD:
        shell.env.pop('AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS', None)
    assert shell.redis_args == ['--bind', '127.0.0.1', '--port', str(redis),
                                '--save', '', '--appendonly', 'no']
    assert len(shell.workers()) == 2
    run_id = 'celery_1'  # the doc's
    state, queued, ended = shell.wait_for_run(DAG_ID, run_id)
    states = task_instances(postgres, DAG_ID, run_id)
  finally:
    shell.stop()
  assert {s['state'] for s in states.values()} == {'success'}, (
      states, shell.logs())
  assert state == 'success'
  celery_seconds = (ended - queued).total_seconds()
  table = timeline(states)
  print(f'\n{table}')
  print(f'the head of the taxi chain ({len(states) - 1} nodes): CeleryExecutor '
        f'with two workers {celery_seconds:.0f} s (trigger to the run\'s '
        f'end), LocalDagRunner {local_seconds:.0f} s (run() in this process)')

  # The workers imported TFX once, before forking their tasks.
  preloaded = [log.read_text(errors='replace') for _, _, log in
               shell.workers()]
  said = 'fluent_pipeline: TFX imported in'  # celery_workers.PRELOADED
  assert [said in text for text in preloaded] == [PRELOAD] * 2

  # Both workers ran tasks: each records its working directory.
  hosts = {s['hostname'] for s in states.values()}
  assert hosts == {str(work / 'worker1'), str(work / 'worker2')}, table

  # Tasks queued together (independent, each queued before the other
  # started) ran at the same time on the two workers: each worker takes
  # one task at a time.
  dag_file = home / 'dags' / f'{DAG_ID}_dag.py'
  assert_ran_together(
      states, dag_edges(str(dag_file).replace('_dag.py', '_pipeline.pb')),
      on_two_workers=True)

  # ML Metadata: the Celery run is a pipeline run as LocalDagRunner's is,
  # with the same records.
  recorded = [r.run_id for r in runs(pdef)]
  assert len(recorded) == 2 and local.run_id in recorded, recorded
  celery_run = next(r for r in recorded if r != local.run_id)
  assert RUN_ID.fullmatch(celery_run) and RUN_ID.fullmatch(local.run_id)
  result, records = _records(pdef, celery_run, mariadb)
  _, local_records = _records(pdef, local.run_id, mariadb)
  assert set(records) == set(states) - {PARAMETERS}
  assert records == local_records
  assert {state for state, _ in records.values()} == {'COMPLETE'}
  assert records['Transform'][1]['transform_graph'] == ['TransformGraph']

  # What a task costs besides its component (printed: it measures the
  # machine): its task instance's time minus its execution's.
  overheads = sorted(
      (s['end_date'] - s['start_date']).total_seconds() -
      result.component(t).seconds for t, s in states.items() if t in records)
  print(f'CeleryExecutor: task overhead median '
        f'{overheads[len(overheads) // 2]:.1f} s over {len(overheads)} tasks '
        f'({", ".join(f"{o:.1f}" for o in overheads)})')
