"""The chain on a real Apache Airflow (2.10, installed by the `airflow`
extra): the compiled pipeline and the DAG file `compile --runner airflow`
writes, parsed without TensorFlow, loaded by Airflow's DagBag with the IR's
edges and run by `airflow dags test`, each task running its node through
TFX's Launcher in a run named as every runner names its runs;
`run(runner='airflow')`; and a real scheduler with the LocalExecutor on
PostgreSQL (Debian's, started on loopback by tests/servers.py), set up by
docs/SCALING.md's commands, whose task instances show independent
components running at the same time, with the same ML Metadata records as
a LocalDagRunner run. tests/test_airflow_celery.py runs the CeleryExecutor.

Airflow configures the process it is imported in (logging, its database),
so every Airflow command runs in a child process with its own AIRFLOW_HOME.
"""

import json
import os
import re
import subprocess
import sys
import time
import zlib

import pytest
from conftest import REPO, TAXI_DIR
from servers import (
  PARAMETERS,
  DocShell,
  airflow_command,
  airflow_env,
  assert_ran_together,
  compile_airflow,
  dag_edges,
  doc_commands,
  task_instances,
)

from fluent_pipeline import PipelineDefinitionError, read_run, runs

FAULT_PIPELINE = os.path.join(REPO, 'tests', 'fault_pipeline.py')
TAXI_MODULE = os.path.join(TAXI_DIR, 'taxi_utils.py')
LOCAL_EXECUTOR = 'The LocalExecutor, as tests/test_airflow.py runs it'
RUN_ID = re.compile(r'\d{8}-\d{6}\.\d{6}')  # runners.RUN_ID_FORMAT
HEAVY = ('tensorflow', 'apache_beam', 'tensorflow_transform',
         'tensorflow_model_analysis', 'tfx.orchestration.portable.launcher')
SHORT_PIPELINE = (
    'from fluent_pipeline import PipelineDef\n'
    'def create_pipeline(root: str, data_dir: str, note: str = "first"):\n'
    '  return (PipelineDef("short", root=root).from_csv(data_dir)\n'
    '          .generate_statistics().infer_schema().cache())\n')


def _dagbag(env, dag_id):
  """What Airflow's own DagBag makes of the dags folder: import errors,
  and the DAG's tasks with their upstream tasks."""
  code = ('import json, sys\n'
          'from airflow.models import DagBag\n'
          'bag = DagBag(include_examples=False)\n'
          f'dag = bag.get_dag({dag_id!r})\n'
          'print(json.dumps({"errors": {k: v[-2000:] for k, v in '
          'bag.import_errors.items()}, "tasks": dag and {t.task_id: '
          'sorted(t.upstream_task_ids) for t in dag.tasks}, '
          '"schedule": dag and str(dag.schedule_interval), "params": dag '
          'and dag.params.dump(), "schema": dag and {k: dag.params.get_param('
          'k).schema for k in dag.params}}))')
  done = subprocess.run([sys.executable, '-c', code], env=env,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def airflow_home(tmp_path_factory):
  home = tmp_path_factory.mktemp('airflow_home')
  env = airflow_env(home)
  airflow_command(env, 'db', 'migrate')
  return home, env


@pytest.fixture(scope='module')
def short_dag(airflow_home, tmp_path_factory, taxi_csv_dir):
  """The short chain (CsvExampleGen, StatisticsGen, SchemaGen and the
  configuration) compiled into the dags folder: (DAG file, root, env)."""
  _, env = airflow_home
  work = tmp_path_factory.mktemp('short')
  pipeline_file = work / 'short_chain.py'
  pipeline_file.write_text(SHORT_PIPELINE)
  root = work / 'root'
  path = compile_airflow(env, str(pipeline_file), '--set', f'root={root}',
                         '--set', f'data_dir={taxi_csv_dir}')
  return path, root, env


@pytest.mark.e2e
def test_the_dag_file_parses_without_tensorflow(short_dag):
  path, _, env = short_dag
  assert os.path.isfile(path.replace('_dag.py', '_pipeline.pb'))
  start = time.perf_counter()
  done = subprocess.run([sys.executable, path], env=env, capture_output=True,
                        text=True, timeout=120)
  wall = time.perf_counter() - start
  assert done.returncode == 0, done.stderr[-3000:]
  code = ('import json, runpy, sys\n'
          'dag = runpy.run_path(sys.argv[1])["DAG"]\n'
          'from fluent_pipeline.orchestration import airflow_dag\n'
          'print(json.dumps({"tasks": sorted(dag.task_ids), "format": '
          'airflow_dag.RUN_ID_FORMAT, "loaded": [m for m in sys.argv[2:] '
          'if m in sys.modules]}))')
  done = subprocess.run([sys.executable, '-c', code, path, *HEAVY], env=env,
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr[-3000:]
  parsed = json.loads(done.stdout.strip().splitlines()[-1])
  print(f'`python {os.path.basename(path)}`: {wall:.2f} s')
  assert parsed['loaded'] == []  # no TensorFlow, Beam, TFT, TFMA, Launcher
  assert parsed['tasks'] == ['CsvExampleGen', 'PipelineConfigurationGen',
                             'SchemaGen', 'StatisticsGen', PARAMETERS]
  from fluent_pipeline.orchestration import runners
  assert parsed['format'] == runners.RUN_ID_FORMAT


@pytest.mark.e2e
def test_dagbag_has_one_task_per_node_with_the_ir_edges(short_dag):
  path, root, env = short_dag
  bag = _dagbag(env, 'short')
  assert bag['errors'] == {}
  edges = dag_edges(path.replace('_dag.py', '_pipeline.pb'))
  assert bag['tasks'] == edges
  assert edges['SchemaGen'] == ['StatisticsGen']
  assert edges['StatisticsGen'] == ['CsvExampleGen']
  # The pipeline's parameters, with the values compiled and their types.
  assert set(bag['params']) == {'root', 'data_dir', 'note'}
  assert bag['params']['root'] == str(root)
  assert bag['params']['note'] == 'first'  # the file's default
  assert {k: v.get('type') for k, v in bag['schema'].items()} == {
      'root': 'string', 'data_dir': 'string', 'note': 'string'}


@pytest.mark.e2e
def test_dags_test_runs_each_node_in_a_pipeline_run(short_dag):
  _, root, env = short_dag
  airflow_command(env, 'dags', 'test', 'short', '2026-11-02')
  from fluent_pipeline.pipeline_def import PipelineDef
  pdef = PipelineDef('short', root=str(root))
  result = read_run(pdef)
  # The DAG run's logical date; on the second, microseconds from the DAG id.
  assert result.run_id == (
      f'20261102-000000.{zlib.crc32(b"short") % 1000000:06d}')
  assert RUN_ID.fullmatch(result.run_id)
  assert dict(result.states) == {
      'PipelineConfigurationGen': 'COMPLETE', 'CsvExampleGen': 'COMPLETE',
      'StatisticsGen': 'COMPLETE', 'SchemaGen': 'COMPLETE'}
  log = root / 'short' / 'logs' / f'run-{result.run_id}.log'
  assert 'SchemaGen' in log.read_text()
  # A task run again in the same DAG run (as clearing it does): TFX finds
  # the node's execution of this pipeline run done, and adds none.
  done = airflow_command(env, 'tasks', 'test', 'short', 'SchemaGen',
                         '2026-11-02')
  assert 'already succeeded' in done.stdout + done.stderr
  again = read_run(pdef, result.run_id)
  assert [(c.node_id, c.state, c.execution_id) for c in again.components] \
      == [(c.node_id, c.state, c.execution_id) for c in result.components]
  # A task of another DAG run: TFX's cache serves it.
  airflow_command(env, 'tasks', 'test', 'short', 'CsvExampleGen', '2026-11-03')
  other = read_run(pdef)
  assert other.run_id.startswith('20261103-000000.')
  assert dict(other.states) == {'CsvExampleGen': 'CACHED'}
  assert [r.run_id for r in runs(pdef)] == [other.run_id, result.run_id]


@pytest.mark.e2e
def test_a_trigger_binds_the_pipeline_parameters(short_dag):
  _, root, env = short_dag
  from fluent_pipeline.pipeline_def import PipelineDef
  pdef = PipelineDef('short', root=str(root))
  # A value the pipeline file does not take fails the run's first task,
  # as --set fails, and nothing runs.
  done = airflow_command(env, 'dags', 'test', 'short', '2026-11-05', '-c',
                         '{"nopes": 1}', check=False)
  assert done.returncode != 0
  assert "unknown parameter 'nopes'" in done.stdout + done.stderr
  assert not any(r.run_id.startswith('20261105') for r in runs(pdef))
  # Another value: the first task compiles the run's own pipeline, whose
  # configuration records it; the steps it does not change come from cache.
  airflow_command(env, 'dags', 'test', 'short', '2026-11-06', '-c',
                  '{"note": "second"}')
  result = read_run(pdef)
  assert result.run_id.startswith('20261106-000000.')
  assert result.configuration['parameters']['note'] == 'second'
  assert dict(result.states) == {
      'PipelineConfigurationGen': 'COMPLETE', 'CsvExampleGen': 'CACHED',
      'StatisticsGen': 'CACHED', 'SchemaGen': 'CACHED'}


@pytest.mark.e2e
def test_compiled_dag_runs_with_airflow_dags_test(airflow_home, tmp_path,
                                                  taxi_csv_dir):
  _, env = airflow_home
  root = tmp_path / 'root'
  path = compile_airflow(env, FAULT_PIPELINE, '--name', 'create', '--set',
                         f'root={root}', '--set', f'data_dir={taxi_csv_dir}',
                         '--set', 'train_steps=20', '--schedule', '@daily',
                         '--start-date', '2026-11-01')
  assert path == os.path.join(env['AIRFLOW__CORE__DAGS_FOLDER'],
                              'faults_dag.py')
  bag = _dagbag(env, 'faults')
  assert bag['errors'] == {}
  assert bag['schedule'] == '@daily'
  tasks = bag['tasks']
  assert tasks['Trainer'] == ['SchemaGen', 'Transform']
  assert tasks['Pusher'] == ['Evaluator', 'Trainer']
  assert tasks == dag_edges(path.replace('_dag.py', '_pipeline.pb'))
  airflow_command(env, 'dags', 'test', 'faults', '2026-11-02')
  from fluent_pipeline.pipeline_def import PipelineDef
  result = read_run(PipelineDef('faults', root=str(root)))
  assert RUN_ID.fullmatch(result.run_id)
  assert result.run_id.startswith('20261102-000000.')
  assert set(result.states) == set(tasks) - {PARAMETERS}
  assert set(dict(result.states).values()) == {'COMPLETE'}, result.states
  assert result.blessed is True and result.pushed_model
  import tensorflow as tf
  model = tf.saved_model.load(result.pushed_model)
  assert 'serving_default' in model.signatures


@pytest.mark.e2e
def test_run_with_the_airflow_runner(tmp_path, taxi_csv_dir):
  """run(runner='airflow') in a fresh process (Airflow configures the
  process it runs in): Airflow's dag.test() under <root>/airflow."""
  code = ('import sys\n'
          'from fluent_pipeline import PipelineDef\n'
          'r = (PipelineDef("short", root=sys.argv[1]).from_csv(sys.argv[2])'
          '.generate_statistics().infer_schema().run(runner="airflow"))\n'
          'print(r.run_id, sorted(r.states.items()), r.log_path)\n')
  env = dict(os.environ, TF_USE_LEGACY_KERAS='1')
  env.pop('AIRFLOW_HOME', None)
  done = subprocess.run([sys.executable, '-c', code, str(tmp_path),
                         taxi_csv_dir], env=env, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  run_id, rest = done.stdout.strip().splitlines()[-1].split(' ', 1)
  assert RUN_ID.fullmatch(run_id)  # as every runner names its runs
  assert ("('CsvExampleGen', 'COMPLETE')" in rest and
          "('SchemaGen', 'COMPLETE')" in rest)
  assert os.path.isfile(tmp_path / 'airflow' / 'airflow.db')
  log = tmp_path / 'short' / 'logs' / f'run-{run_id}.log'
  assert rest.endswith(str(log)) and 'SchemaGen' in log.read_text()


def test_metadata_passwords_stay_out_of_dag_files(tmp_path):
  pipeline_file = tmp_path / 'secret_pipeline.py'
  pipeline_file.write_text(
      'from fluent_pipeline import PipelineDef\n'
      'def create_pipeline(password: str = "Planted-Pw-1"):\n'
      '  return (PipelineDef("secret", root="gs://bucket/p").from_csv("gs://'
      'bucket/data").with_mysql_ml_metadata(password=password))\n')
  from fluent_pipeline import airflow
  from fluent_pipeline.project import pipeline_file as _pipeline_file
  pdef = _pipeline_file.load(str(pipeline_file)).build({})
  dags = tmp_path / 'dags'
  with pytest.raises(PipelineDefinitionError, match='--metadata-connection'):
    airflow.write_dag_file(str(pipeline_file), str(dags), pdef)
  assert not dags.exists()
  written = airflow.write_dag_file(str(pipeline_file), str(dags), pdef,
                                   metadata_connection='mlmd')
  text = open(written).read()
  assert 'Planted-Pw-1' not in text and "metadata_connection='mlmd'" in text
  compiled = dags / 'secret_pipeline.pb'
  assert b'Planted-Pw-1' not in compiled.read_bytes()
  assert b'secret' in compiled.read_bytes()  # the compiled pipeline
  # Nor any other secret of the chain: the tasks read the compiled pipeline.
  with pytest.raises(PipelineDefinitionError, match='secret'):
    airflow.write_dag_file(
        str(pipeline_file), str(dags), pdef.with_beam_pipeline_args(
            ['--runner=DirectRunner', '--api_token=Planted-Tok-2']),
        metadata_connection='mlmd')
  assert b'Planted-Tok-2' not in compiled.read_bytes()
  # A file that is not ours is never overwritten.
  other = dags / 'secret_dag.py'
  other.write_text('# my own DAG\n')
  with pytest.raises(PipelineDefinitionError, match='not written by'):
    airflow.write_dag_file(str(pipeline_file), str(dags),
                           pdef.with_mysql_ml_metadata(),
                           metadata_connection='mlmd')
  assert other.read_text() == '# my own DAG\n'


# ------------------------------------------- a scheduler on PostgreSQL
def _records(root, name, run_id):
  """What ML Metadata holds for a run: per component, its state and each
  output key with the types of its artifacts."""
  from fluent_pipeline.pipeline_def import PipelineDef
  result = read_run(PipelineDef(name, root=str(root)), run_id)
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(str(root), name,
                                            'metadata.sqlite')
  store = metadata_store.MetadataStore(config)
  types = {t.id: t.name for t in store.get_artifact_types()}
  records = {}
  for c in result.components:
    outputs = {}
    for key, uris in c.outputs.items():
      artifacts = [a for uri in uris for a in store.get_artifacts_by_uri(uri)]
      outputs[key] = sorted({types[a.type_id] for a in artifacts})
    records[c.node_id] = (c.state, outputs)
  return result, records


@pytest.mark.e2e
def test_scheduler_with_local_executor_on_postgres(
    postgres, tmp_path, taxi_runs, taxi_sample):
  pdef, first, _ = taxi_runs
  work = tmp_path.resolve()
  root = work / 'runs'  # the doc's `--set root=runs`
  (work / 'data').symlink_to(taxi_sample['data'])
  # The head of the taxi chain: two roots (the configuration and
  # CsvExampleGen) and two branches after SchemaGen (ExampleValidator and
  # Transform) that may run at once; the whole chain takes minutes more of
  # per-task start-up without adding a kind of task.
  (work / 'taxi_head.py').write_text(
      'from fluent_pipeline import PipelineDef\n'
      'def create_pipeline(root: str, data_dir: str):\n'
      '  return (PipelineDef("taxi_e2e", root=root).from_csv(data_dir)\n'
      '          .generate_statistics().infer_schema()\n'
      f'          .validate_input_data().preprocess({TAXI_MODULE!r}))\n')
  # docs/SCALING.md's commands; the scheduler parses the DAG file once, not
  # every 30 s (2 s of CPU each time, which the tasks want on 2 cores).
  home = work / 'home'
  shell = DocShell(work, airflow_env(home), postgres,
                   {'5432': postgres.rsplit(':', 1)[1].split('/')[0]})
  try:
    for line in doc_commands(LOCAL_EXECUTOR):
      shell.run(line)
    run_id = 'fluent_ci_1'  # the doc's
    state, _, _ = shell.wait_for_run('taxi_e2e', run_id)
    states = task_instances(postgres, 'taxi_e2e', run_id)
  finally:
    shell.stop()
  assert shell.env['AIRFLOW__CORE__EXECUTOR'] == 'LocalExecutor'
  assert {s['state'] for s in states.values()} == {'success'}, (
      states, shell.logs())
  assert state == 'success'
  # Tasks queued together ran at the same time on the LocalExecutor.
  assert_ran_together(states, dag_edges(
      str(home / 'dags' / 'taxi_e2e_pipeline.pb')))
  # The same ML Metadata records as the LocalDagRunner run of the taxi
  # chain, for the components both have.
  # The pipeline run is named by the DAG run, as every runner names runs.
  from fluent_pipeline.pipeline_def import PipelineDef
  pipeline_run = read_run(PipelineDef('taxi_e2e', root=str(root))).run_id
  assert RUN_ID.fullmatch(pipeline_run)
  result, records = _records(root, 'taxi_e2e', pipeline_run)
  _, local = _records(os.path.dirname(pdef.pipeline_root), 'taxi_e2e',
                      first.run_id)
  assert set(records) == set(states) - {PARAMETERS}
  # What a task costs on the LocalExecutor besides its component (printed:
  # it measures the machine): its task instance's time minus its
  # execution's in ML Metadata.
  overheads = sorted(
      (s['end_date'] - s['start_date']).total_seconds() -
      result.component(t).seconds for t, s in states.items() if t in records)
  ends = [s['end_date'] for s in states.values()]
  gaps = sorted((s['start_date'] - max(e for e in ends if e <= s['start_date'])
                 ).total_seconds() for s in states.values()
                if any(e <= s['start_date'] for e in ends))
  print(f'LocalExecutor: task overhead median '
        f'{overheads[len(overheads) // 2]:.1f} s over {len(overheads)} tasks '
        f'({", ".join(f"{o:.1f}" for o in overheads)}); start after the '
        f'previous end: median {gaps[len(gaps) // 2]:.1f} s; the run '
        f'{(max(ends) - min(s["start_date"] for s in states.values())).total_seconds():.0f} s')
  assert set(records) < set(local)
  assert records == {node: local[node] for node in records}


def test_a_triggered_run_resolves_relative_values_where_it_was_compiled(
    tmp_path, taxi_csv_dir, monkeypatch):
  """A worker's own folder differs from the one the DAG was compiled in: a
  trigger's `root=runs` must still mean <compile folder>/runs there."""
  from fluent_pipeline.errors import PipelineDefinitionError
  from fluent_pipeline.orchestration import airflow_ir
  compiled_in = tmp_path / 'project'
  compiled_in.mkdir()
  pipeline_file = compiled_in / 'short_chain.py'
  pipeline_file.write_text(SHORT_PIPELINE)
  worker = tmp_path / 'worker'
  worker.mkdir()
  monkeypatch.chdir(worker)
  edges = {'CsvExampleGen': [], 'PipelineConfigurationGen': [],
           'StatisticsGen': ['CsvExampleGen'], 'SchemaGen': ['StatisticsGen']}
  ir = airflow_ir.ir_for(str(pipeline_file), None, None,
                         {'root': '/tmp/first', 'data_dir': taxi_csv_dir},
                         {'root': 'runs'}, edges, cwd=str(compiled_in))
  root = ir.runtime_spec.pipeline_root.runtime_parameter.default_value
  assert root.string_value == str(compiled_in / 'runs' / 'short')
  assert os.getcwd() == str(worker)  # the worker's folder is given back
  # A worker without the compile folder refuses rather than guess.
  with pytest.raises(PipelineDefinitionError) as raised:
    airflow_ir.ir_for(str(pipeline_file), None, None,
                      {'root': '/tmp/first', 'data_dir': taxi_csv_dir},
                      {'root': 'runs'}, edges, cwd=str(tmp_path / 'gone'))
  assert 'is not on this worker' in raised.value.problem


@pytest.mark.e2e  # compiles the trigger's pipeline (TFX)
def test_a_trigger_may_not_move_a_step_to_another_queue_or_pool(
    tmp_path, taxi_csv_dir):
  """A parameter feeding with_resources: the DAG's tasks were made with
  the compiled queue and pool, so a trigger changing them is refused
  rather than recorded and not applied."""
  from fluent_pipeline.orchestration import airflow_ir
  pipeline_file = tmp_path / 'placed.py'
  pipeline_file.write_text(
      'from fluent_pipeline import PipelineDef\n'
      'def create_pipeline(root: str, data_dir: str, queue: str = "cpu",\n'
      '                    note: str = "first"):\n'
      '  return (PipelineDef("placed", root=root).from_csv(data_dir)\n'
      '          .generate_statistics()\n'
      '          .with_resources("generate_statistics", queue=queue,\n'
      '                          pool_slots=2))\n')
  edges = {'CsvExampleGen': [], 'PipelineConfigurationGen': [],
           'StatisticsGen': ['CsvExampleGen']}
  compiled = {'root': str(tmp_path / 'root'), 'data_dir': taxi_csv_dir}
  resources = {'StatisticsGen': {'queue': 'cpu', 'pool_slots': 2}}
  with pytest.raises(PipelineDefinitionError) as raised:
    airflow_ir.ir_for(str(pipeline_file), None, None, compiled,
                      {'queue': 'gpu'}, edges, resources=resources)
  assert 'queues and pools are fixed when the DAG is compiled' in str(
      raised.value)
  assert "StatisticsGen queue 'cpu' -> 'gpu'" in raised.value.problem
  assert '--set NAME=VALUE' in raised.value.fix
  # A value that leaves every task where it was compiled is the run's.
  ir = airflow_ir.ir_for(str(pipeline_file), None, None, compiled,
                         {'note': 'second'}, edges, resources=resources)
  assert [n.pipeline_node.node_info.id for n in ir.nodes] == list(edges)
