"""`with_resources(step, ...)`: one chain call every runner reads.

Values are checked at the call, step names when the pipeline is compiled
(against the chain's calls and node ids); the configuration records them;
the Vertex / Kubeflow V2 PipelineJob gets them as each container's
ResourceSpec (validated as kfp-pipeline-spec's PipelineSpec). The Airflow
and Kubernetes DAGs are in tests/test_airflow_kubernetes.py.
"""

import json
import textwrap

import pytest
from conftest import TAXI_MODULE
from google.protobuf import json_format
from test_wiring import EVAL_CONFIG

from fluent_pipeline import PipelineDef, PipelineDefinitionError
from fluent_pipeline.cli import main
from fluent_pipeline.dsl import configuration
from fluent_pipeline.dsl.plan import Resources

IMAGE = 'europe-docker.pkg.dev/project/pipelines/short:1'
ROOT = 'gs://bucket/pipelines'


def _chain(**kwargs):
  return PipelineDef('short', root='/tmp/r').with_resources('train', **kwargs)


@pytest.mark.parametrize('kwargs, said, fix', [
    (dict(cpu=-1), 'cpu=-1 is not a positive number of CPUs', 'cpu=8'),
    (dict(cpu='8 cores'), "cpu='8 cores'", "cpu='500m'"),
    (dict(memory='32X'), "memory='32X' is not an amount of memory", "'32G'"),
    (dict(memory=0), 'memory=0', "memory='32G'"),
    # Kubernetes' decimal kilo is `k`: its API refuses `K`.
    (dict(memory='512K'), "memory='512K'", 'k, M, G'),
    (dict(memory=float('inf')), 'memory=inf', "memory='32G'"),
    (dict(cpu=float('nan')), 'cpu=nan', 'cpu=8'),
    (dict(gpu=-1), 'gpu=-1 is not a number of GPUs', 'gpu=1'),
    (dict(gpu=True), 'gpu=True', 'gpu=1'),
    (dict(gpu_type='NVIDIA_TESLA_T4'), 'without a number of GPUs',
     "gpu=1, gpu_type='NVIDIA_TESLA_T4'"),
    (dict(queue=''), "queue='' is not a name", "queue='gpu'"),
    (dict(pool_slots=0), 'pool_slots=0 is not a positive int',
     'pool_slots=2'),
])
def test_impossible_values_are_refused_at_the_call(kwargs, said, fix):
  with pytest.raises(PipelineDefinitionError) as raised:
    _chain(**kwargs)
  assert raised.value.step == "with_resources('train')"
  assert said in raised.value.problem
  assert fix in raised.value.fix


def test_values_are_normalized_and_a_later_call_replaces():
  chain = (PipelineDef('short', root='/tmp/r')
           .with_resources('train', cpu=8, memory='32G', gpu=1,
                           gpu_type='NVIDIA_TESLA_T4', queue='gpu',
                           pool='training')
           .with_resources('preprocess', cpu=0.5, memory=2 ** 30)
           .with_resources('train', cpu='500m', memory='512Mi'))
  plan = chain._plan
  assert plan.resources['train'] == Resources(cpu='500m', memory='512Mi')
  assert plan.resources['train'].cpus == 0.5
  assert plan.resources['train'].memory_gb == pytest.approx(0.536870912)
  assert plan.resources['preprocess'].as_dict() == {
      'cpu': '0.5', 'memory': str(2 ** 30)}
  assert Resources(memory='32G').memory_gb == 32.0
  dropped = chain.with_resources('train')._plan.resources
  assert list(dropped) == ['preprocess']


def test_the_configuration_records_them_and_an_older_one_has_none():
  plain = PipelineDef('short', root='/tmp/r').from_csv('/tmp/data')
  before = configuration.build(plain._plan, {}, runner=None)
  assert 'resources' not in before['settings']
  after = configuration.build(
      plain.with_resources('from_csv', cpu=2, queue='io')._plan, {},
      runner=None)
  assert after['settings']['resources'] == {
      'from_csv': {'cpu': '2', 'queue': 'io'}}
  assert {k: v for k, v in after['settings'].items()
          if k != 'resources'} == before['settings']
  from fluent_pipeline.recorded import diff  # what `diff` compares
  assert diff._changes(diff._arguments(before), diff._arguments(after)) == {
      'settings.resources.from_csv.cpu': (diff._MISSING, '2'),
      'settings.resources.from_csv.queue': (diff._MISSING, 'io')}


def test_an_unknown_step_fails_the_compile_naming_the_closest(tmp_path,
                                                             taxi_csv_dir):
  chain = (PipelineDef('short', root=str(tmp_path))
           .from_csv(taxi_csv_dir).generate_statistics()
           .with_resources('generate_statistic', cpu=2))
  with pytest.raises(PipelineDefinitionError) as raised:
    from fluent_pipeline.orchestration import compile as compile_
    compile_.write_ir(chain, 'local', str(tmp_path / 'ir.json'))
  error = raised.value
  assert error.step == "with_resources('generate_statistic')"
  assert "no step 'generate_statistic'" in error.problem
  assert "did you mean 'generate_statistics'" in error.fix
  assert 'StatisticsGen' in error.fix  # the node ids are listed too
  assert not (tmp_path / 'ir.json').exists()
  # A node id names a step too, case aside.
  ok = chain.with_resources('generate_statistic').with_resources(
      'statisticsgen', cpu=2)
  compile_.write_ir(ok, 'local', str(tmp_path / 'ir.json'))
  assert (tmp_path / 'ir.json').exists()


PIPELINE_FILE = textwrap.dedent(f'''
    from fluent_pipeline import PipelineDef

    def create_pipeline(gpu_type: str = 'NVIDIA_TESLA_T4'):
      return (PipelineDef('short', root={ROOT!r})
              .from_csv('{ROOT}/data/')
              .generate_statistics().infer_schema()
              .with_resources('from_csv', cpu='500m', memory='2Gi')
              .with_resources('StatisticsGen', cpu=8, memory='32G', gpu=2,
                              gpu_type=gpu_type or None, queue='gpu')
              .with_resources('infer_schema', queue='cpu'))
    ''')


def _vertex(tmp_path, runner='vertex', *args):
  (tmp_path / 'short.py').write_text(PIPELINE_FILE)
  out = tmp_path / runner
  code = main(['compile', str(tmp_path / 'short.py'), '--runner', runner,
               '--image', IMAGE, '-o', str(out), *args])
  return code, out


def test_the_vertex_spec_holds_each_steps_resources(tmp_path):
  from kfp.pipeline_spec import pipeline_spec_pb2
  code, out = _vertex(tmp_path)
  assert code == 0
  job = json.loads((out / 'pipeline.json').read_text())
  spec = json_format.ParseDict(job['pipelineSpec'],
                               pipeline_spec_pb2.PipelineSpec())
  deployment = json_format.ParseDict(
      json_format.MessageToDict(spec.deployment_spec),
      pipeline_spec_pb2.PipelineDeploymentConfig())
  containers = {label: executor.container
                for label, executor in deployment.executors.items()}
  stats = containers['StatisticsGen_executor'].resources
  assert (stats.cpu_limit, stats.memory_limit) == (8.0, 32.0)
  assert (stats.accelerator.type, stats.accelerator.count) == (
      'NVIDIA_TESLA_T4', 2)
  # FileBasedExampleGen, which TFX's own hook (platform_config) misses.
  example_gen = containers['CsvExampleGen_executor'].resources
  assert example_gen.cpu_limit == 0.5
  assert example_gen.memory_limit == pytest.approx(2 * 2 ** 30 / 1e9)
  assert not example_gen.HasField('accelerator')
  # Airflow's values only, or none: no ResourceSpec.
  for label in ('SchemaGen_executor', 'PipelineConfigurationGen_executor'):
    assert not containers[label].HasField('resources'), label
  assert job['pipelineSpec']['deploymentSpec']['executors'][
      'StatisticsGen_executor']['container']['resources'] == {
          'cpuLimit': 8.0, 'memoryLimit': 32.0,
          'accelerator': {'type': 'NVIDIA_TESLA_T4', 'count': '2'}}


def test_vertex_needs_its_accelerator_type_and_kubeflow_takes_any(
    tmp_path, capsys):
  code, _ = _vertex(tmp_path, 'vertex', '--gpu-type', 'nvidia-t4')
  assert code == 2
  said = capsys.readouterr().err
  assert ("with_resources('StatisticsGen'): gpu_type='nvidia-t4' is not "
          "one of Vertex's accelerator types") in said
  assert "fix: gpu_type='NVIDIA_TESLA_T4'" in said
  code, _ = _vertex(tmp_path, 'vertex', '--gpu-type', '')
  assert code == 2
  assert 'a GPU without gpu_type: Vertex needs its accelerator type' in \
      capsys.readouterr().err
  code, out = _vertex(tmp_path, 'kubeflow_v2', '--gpu-type', '')
  assert code == 0
  job = json.loads((out / 'pipeline.json').read_text())
  assert job['pipelineSpec']['deploymentSpec']['executors'][
      'StatisticsGen_executor']['container']['resources']['accelerator'] == {
          'type': 'nvidia.com/gpu', 'count': '2'}


def test_the_vertex_accelerator_list_is_aiplatforms():
  from fluent_pipeline.orchestration import compile_checks
  assert compile_checks.vertex_accelerators() == \
      compile_checks.VERTEX_ACCELERATORS


def test_they_survive_repr_and_replay_and_a_bad_step_fails_build(
    tmp_path, taxi_csv_dir):
  chain = (PipelineDef('short', root=str(tmp_path)).from_csv(taxi_csv_dir)
           .generate_statistics()
           .with_resources('generate_statistics', cpu=2, memory='4G',
                           queue='io', pool='beam', pool_slots=2))
  # repr (what export writes) rebuilds the same plan.
  written = repr(chain)
  assert ("with_resources('generate_statistics', cpu='2', memory='4G', "
          "queue='io', pool='beam', pool_slots=2)") in written
  # A recorded configuration replays them (from_run, rollback).
  from fluent_pipeline.recorded import replay
  recorded = configuration.build(chain._plan, {}, runner=None)
  rebuilt = replay.rebuild(recorded, 'run-1')
  assert rebuilt._plan.resources == chain._plan.resources
  # A step the chain lacks fails build() too, not only compile.
  with pytest.raises(PipelineDefinitionError) as raised:
    chain.with_resources('train', cpu=2).build()
  assert "no step 'train'" in raised.value.problem


def test_a_call_names_its_own_component_not_the_helper_nodes_it_adds(
    tmp_path, taxi_csv_dir):
  """evaluate_model adds a resolver: a GPU asked for the Evaluator must
  not be held by it too (it stays reachable by its node id)."""
  from fluent_pipeline.dsl import plan as plan_
  from fluent_pipeline.dsl import wiring
  chain = (PipelineDef('short', root=str(tmp_path)).from_csv(taxi_csv_dir)
           .generate_statistics().infer_schema()
           .validate_input_data(fail_on_anomalies=True)
           .train(TAXI_MODULE)
           .evaluate_model(EVAL_CONFIG)
           .with_resources('evaluate_model', memory='16G', gpu=1,
                           gpu_type='NVIDIA_TESLA_T4', pool='gpu')
           .with_resources('validate_input_data', queue='cpu'))
  _, nodes_by_call = wiring.build_indexed(chain._plan)
  assert len(nodes_by_call['evaluate_model']) == 2  # with its resolver
  assert len(nodes_by_call['validate_input_data']) == 2  # with its gate
  ids = [n for ids in nodes_by_call.values() for n in ids]
  found = plan_.resources_by_node(chain._plan, nodes_by_call, ids)
  assert sorted(found) == ['Evaluator', 'ExampleValidator']


def test_each_target_says_which_values_it_ignores(tmp_path, capsys):
  from fluent_pipeline.dsl import plan as plan_
  chain = (PipelineDef('short', root='/tmp/r')
           .with_resources('train', cpu=8, gpu=1, gpu_type='NVIDIA_TESLA_T4',
                           queue='gpu')
           .with_resources('transform', pool='beam'))
  said = plan_.not_applied(chain._plan, 'vertex')
  assert said.startswith('vertex ignores these with_resources values: '
                         'train (queue); transform (pool);')
  assert plan_.not_applied(chain._plan, 'kubernetes').startswith(
      'kubernetes ignores these with_resources values: train (gpu_type);')
  assert 'it applies none of them' in plan_.not_applied(chain._plan, 'local')
  only_queues = PipelineDef('s', root='/tmp/r').with_resources('train',
                                                               queue='q')
  assert plan_.not_applied(only_queues._plan, 'airflow') is None
  # compile --runner vertex says it.
  code, _ = _vertex(tmp_path)
  assert code == 0
  err = capsys.readouterr().err
  assert ('note: vertex ignores these with_resources values: StatisticsGen '
          '(queue); infer_schema (queue)') in err, err


def test_a_name_matching_two_nodes_but_for_case_is_refused():
  from fluent_pipeline.dsl import plan as plan_
  chain = PipelineDef('s', root='/tmp/r').with_resources('TRAINER', cpu=2)
  with pytest.raises(PipelineDefinitionError) as raised:
    plan_.resources_by_node(chain._plan, {'train': ['Trainer']},
                            ['Trainer', 'trainer'])
  assert 'Trainer and trainer' in raised.value.problem
  assert "with_resources('Trainer', ...)" in raised.value.fix
  exact = PipelineDef('s', root='/tmp/r').with_resources('trainer', cpu=2)
  assert list(plan_.resources_by_node(
      exact._plan, {'train': ['Trainer']}, ['Trainer', 'trainer'])) == [
          'trainer']


def test_pod_labels_are_valid_kubernetes_label_values():
  from fluent_pipeline.orchestration.airflow_dag import label_value
  assert label_value('taxi_') == 'taxi'
  assert label_value('-a.b_') == 'a.b'
  assert label_value('x' * 70 + '_') == 'x' * 63
  assert label_value('ü-pipe') == 'pipe'
