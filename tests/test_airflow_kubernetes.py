"""with_resources on Airflow, and `compile --runner airflow --kubernetes`:
each task gets its step's queue and pool; the Kubernetes DAG runs each node
with KubernetesPodOperator in the pipeline's image, with the step's cpu,
memory and GPUs as the pod's requests and limits.

No cluster is here: Airflow's DagBag loads the DAG files, and each task's
pod is rendered by the operator itself (build_pod_request_obj, the pod it
would create, with a kube config that names no reachable server). The
pod's command is then run here, in this environment, which has what the
image has (TFX, fluent_pipeline): it runs its node in the DAG run's
pipeline run. Airflow configures the process it is imported in, so every
Airflow step runs in a child process with its own AIRFLOW_HOME.
"""

import datetime
import json
import os
import subprocess
import sys

import pytest

from fluent_pipeline import read_run

IMAGE = 'europe-docker.pkg.dev/project/pipelines/short:1'
CLI = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')
HEAVY = ('tensorflow', 'apache_beam', 'tensorflow_transform',
         'tensorflow_model_analysis', 'tfx.orchestration.portable.launcher')
PIPELINE = (
    'from fluent_pipeline import PipelineDef\n'
    'def create_pipeline(root: str, data_dir: str):\n'
    '  return (PipelineDef("short", root=root).from_csv(data_dir)\n'
    '          .generate_statistics().infer_schema()\n'
    '          .with_resources("generate_statistics", cpu=2, memory="4Gi",\n'
    '                          gpu=1, queue="gpu", pool="training",\n'
    '                          pool_slots=2)\n'
    '          .with_resources("from_csv", cpu="500m", memory="1G"))\n')
KUBE_CONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""
LOGICAL_DATE = datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc)
EARLIER = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
PARAMETERS = 'pipeline_parameters'  # the DAG's first task
# What each task of the DagBag's DAG is, and for a pod, the pod its
# operator builds for a DAG run at LOGICAL_DATE (its templates rendered).
TASKS = f'''
import datetime, json, sys
from airflow.models import DagBag
bag = DagBag(include_examples=False)
dag = bag.dags.get(sys.argv[1])  # as parsed (get_dag reads the database)
found = {{'errors': {{k: v[-2000:] for k, v in bag.import_errors.items()}},
          'tasks': {{}}}}
for task in (dag.tasks if dag else []):
  seen = {{'class': type(task).__name__, 'queue': task.queue,
           'pool': task.pool, 'pool_slots': task.pool_slots,
           'upstream': sorted(task.upstream_task_ids)}}
  if hasattr(task, 'build_pod_request_obj'):
    from kubernetes.client import ApiClient
    task.render_template_fields({{'logical_date': datetime.datetime.fromisoformat(
        {LOGICAL_DATE.isoformat()!r}), 'dag': dag, 'task': task}})
    seen['pod'] = ApiClient().sanitize_for_serialization(
        task.build_pod_request_obj())
  found['tasks'][task.task_id] = seen
found['loaded'] = [m for m in sys.argv[2:] if m in sys.modules]
print(json.dumps(found))
'''


# The first task of a DAG without params, run on a real DagRun with and
# without a trigger's --conf: what each raised.
FIRST_TASK = f'''
import json, sys
from airflow.models import DagBag, DagRun
dag = DagBag(include_examples=False).dags[sys.argv[1]]
task = dag.get_task({PARAMETERS!r})
said = {{}}
for conf in ({{}}, {{'epochs': 3, 'x': 1}}):
  try:
    task.execute({{'dag_run': DagRun(dag_id=dag.dag_id, conf=conf)}})
    said[len(conf)] = None
  except Exception as e:
    said[len(conf)] = type(e).__name__ + ': ' + str(e)
print(json.dumps(said))
'''


def _env(home, **extra):
  env = dict(os.environ, AIRFLOW_HOME=str(home),
             AIRFLOW__CORE__DAGS_FOLDER=str(home / 'dags'),
             AIRFLOW__CORE__LOAD_EXAMPLES='False',
             AIRFLOW__CORE__UNIT_TEST_MODE='False', TF_USE_LEGACY_KERAS='1',
             KUBECONFIG=str(home / 'kube_config'))
  env.update(extra)
  (home / 'kube_config').write_text(KUBE_CONFIG)
  return env


def _compile(env, pipeline_file, root, data_dir, *args):
  done = subprocess.run(
      [CLI, 'compile', str(pipeline_file), '--set', f'root={root}', '--set',
       f'data_dir={data_dir}', '--runner', 'airflow', '-o',
       env['AIRFLOW__CORE__DAGS_FOLDER'], *args], env=env,
      capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
  assert done.returncode == 0, done.stderr[-3000:]
  return done


def _tasks(env, dag_id='short'):
  done = subprocess.run([sys.executable, '-c', TASKS, dag_id, *HEAVY],
                        env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  found = json.loads(done.stdout.strip().splitlines()[-1])
  assert found['errors'] == {}
  assert found['loaded'] == []  # no TensorFlow, Beam, TFT, TFMA, Launcher
  return found['tasks']


@pytest.fixture(scope='module')
def compiled(tmp_path_factory, taxi_csv_dir):
  """The short chain compiled twice into two Airflow homes: the DAG of
  NodeOperators and the Kubernetes DAG; (env, root, what compile said)."""
  work = tmp_path_factory.mktemp('k8s')
  (work / 'short.py').write_text(PIPELINE)
  made = {}
  for kind, args in (('nodes', ()), ('pods', ('--image', IMAGE,
                                               '--kubernetes',
                                               '--allow-local-paths'))):
    home = work / kind
    home.mkdir()
    env = _env(home)
    root = work / f'root_{kind}'
    done = _compile(env, work / 'short.py', root, taxi_csv_dir, *args)
    made[kind] = (env, root, done)
  return made


def test_each_task_gets_its_steps_queue_and_pool(compiled):
  env, _, done = compiled['nodes']
  assert ('note: airflow ignores these with_resources values: '
          'generate_statistics (cpu, memory, gpu'
          ) in done.stderr, done.stderr
  assert 'from_csv (cpu, memory)' in done.stderr
  tasks = _tasks(env)
  stats = tasks['StatisticsGen']
  assert stats['class'] == 'NodeOperator'
  assert (stats['queue'], stats['pool'], stats['pool_slots']) == (
      'gpu', 'training', 2)
  for other in ('CsvExampleGen', 'SchemaGen', 'PipelineConfigurationGen'):
    assert (tasks[other]['pool'], tasks[other]['pool_slots']) == (
        'default_pool', 1), other
    assert tasks[other]['queue'] != 'gpu'
  text = open(os.path.join(env['AIRFLOW__CORE__DAGS_FOLDER'],
                           'short_dag.py')).read()
  assert "'queue': 'gpu'" in text  # a literal: parsing needs no TFX


@pytest.mark.e2e
def test_the_kubernetes_dag_renders_each_pod(compiled):
  env, root, done = compiled['pods']
  assert 'nothing here reached a cluster' in done.stderr
  tasks = _tasks(env)
  dags = env['AIRFLOW__CORE__DAGS_FOLDER']
  with open(os.path.join(dags, 'short_pipeline.pb'), 'rb') as f:
    ir = f.read()
  assert set(tasks) == {'PipelineConfigurationGen', 'CsvExampleGen',
                        'StatisticsGen', 'SchemaGen', PARAMETERS}
  assert tasks['SchemaGen']['upstream'] == ['StatisticsGen']
  # No params (the pods run the compiled pipeline): the first task, in
  # Airflow, refuses a trigger's --conf.
  assert tasks.pop(PARAMETERS)['class'] == 'NoParametersOperator'
  assert tasks['CsvExampleGen']['upstream'] == [PARAMETERS]
  for node, task in tasks.items():
    assert task['class'] == 'KubernetesPodOperator', node
    container = task['pod']['spec']['containers'][0]
    assert container['image'] == IMAGE
    assert container['command'] == [
        'python', '-m', 'fluent_pipeline.orchestration.airflow_node']
    args = container['args']
    assert args[args.index('--node') + 1] == node
    assert args[args.index('--dag-id') + 1] == 'short'
    assert args[args.index('--logical-date') + 1] == LOGICAL_DATE.isoformat()
    pod_ir = args[args.index('--ir') + 1]
    assert pod_ir.startswith(f'{root}/short/_airflow/short-')
    with open(pod_ir, 'rb') as f:  # the dags folder's IR, under the root
      assert f.read() == ir
  stats = tasks['StatisticsGen']
  assert stats['pod']['spec']['containers'][0]['resources'] == {
      'requests': {'cpu': '2', 'memory': '4Gi'},
      'limits': {'cpu': '2', 'memory': '4Gi', 'nvidia.com/gpu': '1'}}
  assert (stats['queue'], stats['pool'], stats['pool_slots']) == (
      'gpu', 'training', 2)
  assert tasks['CsvExampleGen']['pod']['spec']['containers'][0][
      'resources'] == {'requests': {'cpu': '500m', 'memory': '1G'},
                       'limits': {'cpu': '500m', 'memory': '1G'}}
  assert 'resources' not in tasks['SchemaGen']['pod']['spec']['containers'][
      0] or not tasks['SchemaGen']['pod']['spec']['containers'][0][
          'resources']
  # The pod's command, run here with this environment's python (it has
  # what the image has). Before its upstream node ran, in another DAG run:
  # TFX records the node FAILED (no inputs) and returns; the pod fails.
  from fluent_pipeline.orchestration import airflow_node
  container = tasks['StatisticsGen']['pod']['spec']['containers'][0]
  args = list(container['args'])
  args[args.index('--logical-date') + 1] = EARLIER.isoformat()
  ran = subprocess.run([sys.executable] + container['command'][1:] + args,
                       env=env, capture_output=True, text=True, timeout=600)
  assert ran.returncode != 0, ran.stderr[-3000:]
  error = ran.stderr.strip().splitlines()
  early = airflow_node.run_id_of('short', EARLIER)
  assert any(line.startswith('error: StatisticsGen failed: TFX recorded its '
                             'execution') and f'run {early} as FAILED' in line
             and 'min_count' in line for line in error), ran.stderr[-3000:]
  assert dict(read_run(str(root / 'short'), early).states) == {
      'StatisticsGen': 'FAILED'}
  # Then the node runs in the DAG run's pipeline run.
  container = tasks['CsvExampleGen']['pod']['spec']['containers'][0]
  ran = subprocess.run([sys.executable] + container['command'][1:] +
                       container['args'], env=env, capture_output=True,
                       text=True, timeout=600)
  assert ran.returncode == 0, ran.stderr[-3000:]
  run_id = airflow_node.run_id_of('short', LOGICAL_DATE)
  result = read_run(str(root / 'short'), run_id)
  assert [(c.node_id, c.state) for c in result.components] == [
      ('CsvExampleGen', 'COMPLETE')]


def test_a_dag_without_params_refuses_a_triggers_conf(compiled):
  """`airflow dags trigger --conf` on a DAG that takes no parameters (a
  Kubernetes DAG's, a pipeline file's without any, dag()'s): its first
  task fails the run, naming the values, rather than run the compiled
  pipeline as if they applied."""
  env, _, _ = compiled['pods']
  done = subprocess.run([sys.executable, '-c', FIRST_TASK, 'short'], env=env,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  said = json.loads(done.stdout.strip().splitlines()[-1])
  assert said['0'] is None  # a run without --conf goes on
  assert said['2'].startswith('PipelineDefinitionError: '), said
  assert ("DAG 'short' was triggered with epochs, x (--conf), but it takes "
          'no parameters') in said['2']
  assert 'compile with --set NAME=VALUE' in said['2']


def test_kubernetes_needs_an_image_and_its_own_store(tmp_path, capsys):
  from fluent_pipeline.cli import main
  pipeline_file = tmp_path / 'short.py'
  pipeline_file.write_text(PIPELINE)
  with pytest.raises(SystemExit, match='--kubernetes needs --image'):
    main(['compile', str(pipeline_file), '--set', 'root=r', '--set',
          'data_dir=d', '--runner', 'airflow', '-o', str(tmp_path),
          '--kubernetes'])
  with pytest.raises(SystemExit, match='--kubernetes is for --runner '
                     'airflow'):
    main(['compile', str(pipeline_file), '--set', 'root=r', '--set',
          'data_dir=d', '--runner', 'vertex', '-o', str(tmp_path / 'v'),
          '--image', IMAGE, '--kubernetes'])


def test_kubernetes_refuses_paths_of_this_machine_unless_allowed(
    tmp_path, taxi_csv_dir, capsys):
  """Pods share no disk with this machine: a local root or data path is
  refused, as for Vertex, and nothing is written."""
  from fluent_pipeline.cli import main
  pipeline_file = tmp_path / 'short.py'
  pipeline_file.write_text(PIPELINE)
  dags = tmp_path / 'dags'
  code = main(['compile', str(pipeline_file), '--set',
               f'root={tmp_path / "root"}', '--set', f'data_dir={taxi_csv_dir}',
               '--runner', 'airflow', '-o', str(dags), '--image', IMAGE,
               '--kubernetes'])
  err = capsys.readouterr().err
  assert code == 2, err
  assert 'compile --kubernetes' in err and 'paths of this machine' in err
  assert taxi_csv_dir in err and '--allow-local-paths' in err
  assert not dags.exists() or not os.listdir(dags)
