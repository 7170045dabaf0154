"""Each builder, compiled with TFX's own compiler: producers, keys, params."""

import json
import os

import pytest
from conftest import TAXI_MODULE
from ir import compile_ir, edges, node_type, nodes, params
from tfx.proto import trainer_pb2

from fluent_pipeline import PipelineDef, inputs, latest
from fluent_pipeline.dsl import wiring as _wiring
from fluent_pipeline.errors import PipelineDefinitionError

EVAL_CONFIG = {
    'model_specs': [{'label_key': 'tips_xf',
                     'preprocessing_function_names': ['transform_features']}],
    'metrics_specs': [{'metrics': [{
        'class_name': 'BinaryAccuracy',
        'threshold': {'value_threshold': {'lower_bound': 0.5}}}]}],
}


@pytest.fixture
def base(tmp_path, taxi_csv_dir):
  return (PipelineDef('wiring', root=str(tmp_path)).from_csv(taxi_csv_dir)
          .generate_statistics().infer_schema())


def compiled(pdef):
  ir = compile_ir(pdef.build())
  return ir, nodes(ir), edges(ir)


def test_csv_source_and_data_checks(base, taxi_csv_dir):
  ir, n, e = compiled(base.validate_input_data(exclude_splits=['eval']))
  assert node_type(n['CsvExampleGen']).endswith('CsvExampleGen')
  assert params(n['CsvExampleGen'])['input_base'] == taxi_csv_dir
  assert e[('StatisticsGen', 'examples')] == [('CsvExampleGen', 'examples')]
  assert e[('SchemaGen', 'statistics')] == [('StatisticsGen', 'statistics')]
  assert params(n['SchemaGen'])['infer_feature_shape'] == 1
  assert e[('ExampleValidator', 'statistics')] == [('StatisticsGen',
                                                    'statistics')]
  assert e[('ExampleValidator', 'schema')] == [('SchemaGen', 'schema')]
  assert json.loads(params(n['ExampleValidator'])['exclude_splits']) == [
      'eval']


def test_source_configs_accept_protos_and_dicts(tmp_path, taxi_csv_dir):
  pdef = (PipelineDef('configs', root=str(tmp_path))
          .from_csv(taxi_csv_dir, output_config={'split_config': {'splits': [
              {'name': 'train', 'hash_buckets': 4},
              {'name': 'eval', 'hash_buckets': 1}]}})
          .generate_statistics())
  _, n, _ = compiled(pdef)
  output = json.loads(params(n['CsvExampleGen'])['output_config'])
  assert [s['name'] for s in output['split_config']['splits']] == [
      'train', 'eval']
  assert output['split_config']['splits'][0]['hash_buckets'] == 4


@pytest.mark.parametrize('helper,component_id,executor', [
    (inputs.from_tfrecord, 'ImportExampleGen', 'import_example_gen'),
    (inputs.from_parquet, 'ParquetExampleGen', 'columnar_parquet'),
    (lambda path: inputs.from_parquet(path, reader='tfx'),
     'ParquetExampleGen', 'parquet_executor'),
    (inputs.from_avro, 'AvroExampleGen', 'avro_executor'),
])
def test_file_sources(tmp_path, taxi_csv_dir, helper, component_id, executor):
  pdef = (PipelineDef('files', root=str(tmp_path))
          .from_source(helper(taxi_csv_dir)).generate_statistics())
  ir, n, e = compiled(pdef)
  assert params(n[component_id])['input_base'] == taxi_csv_dir
  assert e[('StatisticsGen', 'examples')] == [(component_id, 'examples')]
  assert executor in str(ir.deployment_config)


def test_bigquery_source_compiles(tmp_path):
  pdef = (PipelineDef('bq', root=str(tmp_path))
          .from_bigquery('SELECT * FROM `p.d.t`').generate_statistics())
  _, n, e = compiled(pdef)
  query = json.loads(params(n['BigQueryExampleGen'])['input_config'])
  assert query['splits'][0]['pattern'] == 'SELECT * FROM `p.d.t`'
  assert e[('StatisticsGen', 'examples')] == [('BigQueryExampleGen',
                                               'examples')]


def test_hand_built_example_gen(tmp_path, taxi_csv_dir):
  from tfx.components import CsvExampleGen
  gen = CsvExampleGen(input_base=taxi_csv_dir).with_id('my_gen')
  _, n, e = compiled(PipelineDef('custom', root=str(tmp_path))
                     .from_example_gen(gen).generate_statistics())
  assert 'my_gen' in n
  assert e[('StatisticsGen', 'examples')] == [('my_gen', 'examples')]


def test_imported_schema_wins(base, tmp_path):
  schema = tmp_path / 'schema.pbtxt'
  schema.write_text('feature { name: "fare" type: FLOAT }\n')
  pdef = base.with_imported_schema(str(schema)).validate_input_data() \
      .preprocess(TAXI_MODULE)
  _, n, e = compiled(pdef)
  assert params(n['ImportSchemaGen'])['schema_file'] == str(schema)
  assert e[('ExampleValidator', 'schema')] == [('ImportSchemaGen', 'schema')]
  assert e[('Transform', 'schema')] == [('ImportSchemaGen', 'schema')]
  assert 'SchemaGen' in n  # still computed, for comparison


def test_preprocess_tune_train(base):
  pdef = (base.preprocess(TAXI_MODULE)
          .tune(TAXI_MODULE, train_args=20, eval_args={'num_steps': 5},
                custom_config={'max_trials': 1})
          .train(TAXI_MODULE, train_args=trainer_pb2.TrainArgs(num_steps=30),
                 eval_args=7))
  _, n, e = compiled(pdef)
  assert e[('Transform', 'examples')] == [('CsvExampleGen', 'examples')]
  assert e[('Transform', 'schema')] == [('SchemaGen', 'schema')]
  # The module cut down to preprocessing_fn and what it uses (cache per
  # function), under the user's file name.
  module = params(n['Transform'])['module_file']
  assert os.path.basename(module) == os.path.basename(TAXI_MODULE)
  assert '_fluent_user_code' in module
  for node in ('Tuner', 'Trainer'):
    assert e[(node, 'examples')] == [('Transform', 'transformed_examples')]
    assert e[(node, 'transform_graph')] == [('Transform', 'transform_graph')]
    assert e[(node, 'schema')] == [('SchemaGen', 'schema')]
  assert e[('Trainer', 'hyperparameters')] == [('Tuner',
                                                'best_hyperparameters')]
  assert json.loads(params(n['Tuner'])['train_args'])['num_steps'] == 20
  assert json.loads(params(n['Tuner'])['eval_args'])['num_steps'] == 5
  assert json.loads(params(n['Tuner'])['custom_config']) == {'max_trials': 1}
  assert json.loads(params(n['Trainer'])['train_args'])['num_steps'] == 30
  assert json.loads(params(n['Trainer'])['eval_args'])['num_steps'] == 7


def test_raw_examples_without_preprocess_and_by_choice(base):
  _, _, e = compiled(base.train(TAXI_MODULE))
  assert e[('Trainer', 'examples')] == [('CsvExampleGen', 'examples')]
  assert ('Trainer', 'transform_graph') not in e
  _, _, e = compiled(base.preprocess(TAXI_MODULE)
                     .train(TAXI_MODULE, examples='raw'))
  assert e[('Trainer', 'examples')] == [('CsvExampleGen', 'examples')]
  assert e[('Trainer', 'transform_graph')] == [('Transform',
                                                'transform_graph')]


def test_imported_hyperparameters_win(base, tmp_path):
  hp = tmp_path / 'best_hyperparameters.txt'
  hp.write_text('{}')
  pdef = (base.preprocess(TAXI_MODULE).tune(TAXI_MODULE)
          .with_hyperparameters(str(hp)).train(TAXI_MODULE))
  _, n, e = compiled(pdef)
  importer = _wiring.HYPERPARAMETERS_IMPORTER_ID
  assert params(n[importer])['artifact_uri'] == str(hp)
  assert e[('Trainer', 'hyperparameters')] == [(importer, 'result')]


def test_base_model_from_path_and_latest(base, tmp_path):
  model_dir = tmp_path / 'model'
  model_dir.mkdir()
  _, n, e = compiled(base.train(TAXI_MODULE).with_base_model(str(model_dir)))
  importer = _wiring.BASE_MODEL_IMPORTER_ID
  assert params(n[importer])['artifact_uri'] == str(model_dir)
  assert e[('Trainer', 'base_model')] == [(importer, 'model')]
  ir, n, e = compiled(base.train(TAXI_MODULE).with_base_model(latest))
  resolver = _wiring.BASE_MODEL_RESOLVER_ID
  assert resolver in n
  assert 'LatestArtifactStrategy' in str(n[resolver])
  assert n['Trainer'].inputs.inputs['base_model'].channels


def test_evaluate_push_bulk_infer(base, taxi_sample):
  pdef = (base.train(TAXI_MODULE).evaluate_model(EVAL_CONFIG)
          .push_to('serving')
          .bulk_infer(inputs.from_csv(taxi_sample['data_unlabelled'])))
  ir, n, e = compiled(pdef)
  resolver = _wiring.MODEL_RESOLVER_ID
  # build() for no runner in particular: TFX's strategy, which every runner
  # takes (run() builds for its runner: test_baseline_strategy_per_runner).
  assert 'LatestBlessedModelStrategy' in str(n[resolver])
  assert e[('Evaluator', 'examples')] == [('CsvExampleGen', 'examples')]
  assert e[('Evaluator', 'model')] == [('Trainer', 'model')]
  assert n['Evaluator'].inputs.inputs['baseline_model'].channels
  config = json.loads(params(n['Evaluator'])['eval_config'])
  assert config['model_specs'][0]['label_key'] == 'tips_xf'
  assert e[('Pusher', 'model')] == [('Trainer', 'model')]
  assert e[('Pusher', 'model_blessing')] == [('Evaluator', 'blessing')]
  push = json.loads(params(n['Pusher'])['push_destination'])
  assert push['filesystem']['base_directory'] == os.path.join(
      pdef.pipeline_root, 'serving')
  gen = _wiring.BULK_INFER_EXAMPLE_GEN_ID
  assert params(n[gen])['input_base'] == taxi_sample['data_unlabelled']
  split = json.loads(params(n[gen])['output_config'])
  assert [s['name'] for s in split['split_config']['splits']] == ['unlabelled']
  assert e[('BulkInferrer', 'examples')] == [(gen, 'examples')]
  assert e[('BulkInferrer', 'model')] == [('Trainer', 'model')]
  assert e[('BulkInferrer', 'model_blessing')] == [('Evaluator', 'blessing')]


def test_evaluate_without_baseline(base):
  _, n, _ = compiled(base.train(TAXI_MODULE)
                     .evaluate_model(EVAL_CONFIG, compare_to_baseline=False))
  assert _wiring.MODEL_RESOLVER_ID not in n
  assert 'baseline_model' not in n['Evaluator'].inputs.inputs
  assert set(n['Evaluator'].inputs.inputs) == {'examples', 'model'}


def test_infra_validator_gates_push(base):
  pdef = (base.train(TAXI_MODULE).evaluate_model(EVAL_CONFIG)
          .infra_validate(
              serving_spec={'tensorflow_serving': {'tags': ['latest']},
                            'local_docker': {}},
              request_spec={'tensorflow_serving': {}, 'num_examples': 3})
          .push_to('/tmp/elsewhere/serving'))
  _, n, e = compiled(pdef)
  assert e[('InfraValidator', 'model')] == [('Trainer', 'model')]
  assert e[('InfraValidator', 'examples')] == [('CsvExampleGen', 'examples')]
  serving = json.loads(params(n['InfraValidator'])['serving_spec'])
  assert serving['tensorflow_serving']['tags'] == ['latest']
  assert e[('Pusher', 'infra_blessing')] == [('InfraValidator', 'blessing')]
  assert e[('Pusher', 'model_blessing')] == [('Evaluator', 'blessing')]
  push = json.loads(params(n['Pusher'])['push_destination'])
  assert push['filesystem']['base_directory'] == '/tmp/elsewhere/serving'


def test_pipeline_settings(base, tmp_path):
  from ml_metadata.proto import metadata_store_pb2
  pdef = base.cache().with_beam_pipeline_args(['--direct_num_workers=1'])
  tfx_pipeline = pdef.build()
  assert tfx_pipeline.enable_cache is True
  assert tfx_pipeline.beam_pipeline_args == ['--direct_num_workers=1']
  assert tfx_pipeline.pipeline_info.pipeline_root == os.path.join(
      str(tmp_path), 'wiring')
  assert tfx_pipeline.metadata_connection_config.sqlite.filename_uri == (
      os.path.join(str(tmp_path), 'wiring', 'metadata.sqlite'))
  ir = compile_ir(tfx_pipeline)
  assert all(n.pipeline_node.execution_options.caching_options.enable_cache
             for n in ir.nodes)
  assert '--direct_num_workers=1' in str(ir.deployment_config)
  other = str(tmp_path / 'elsewhere.sqlite')
  assert pdef.with_sqlite_ml_metadata(other).build() \
      .metadata_connection_config.sqlite.filename_uri == other
  config = metadata_store_pb2.ConnectionConfig()
  config.mysql.host = '127.0.0.1'
  assert pdef.with_metadata_connection(config).build() \
      .metadata_connection_config.mysql.host == '127.0.0.1'
  assert base.build().enable_cache is False


def test_add_component(base):
  from tfx.components import StatisticsGen
  pdef = base.preprocess(TAXI_MODULE).add_component(
      lambda made: StatisticsGen(
          examples=made['Transform'].outputs['transformed_examples'],
      ).with_id('xf_stats'))
  _, n, e = compiled(pdef)
  assert e[('xf_stats', 'examples')] == [('Transform', 'transformed_examples')]
  plain = StatisticsGen(
      examples=pdef.build().components[0].outputs['examples'])
  with pytest.raises(PipelineDefinitionError, match="id 'StatisticsGen'"):
    pdef.add_component(plain.with_id('StatisticsGen')).build()


def test_push_without_any_threshold_is_refused(base):
  no_thresholds = {'model_specs': [{'label_key': 'tips'}],
                   'metrics_specs': [{'metrics': [
                       {'class_name': 'BinaryAccuracy'}]}]}
  chain = base.train(TAXI_MODULE).evaluate_model(no_thresholds)
  chain.build()  # evaluating alone is fine
  with pytest.raises(PipelineDefinitionError,
                     match='push_to.*no thresholds.*never blesses'):
    chain.push_to('serving').build()


def test_label_key_must_be_a_csv_column(base):
  typo = {'model_specs': [{'label_key': 'tip'}],
          'metrics_specs': [{'metrics': [{'class_name': 'ExampleCount'}]}]}
  with pytest.raises(PipelineDefinitionError,
                     match="label_key 'tip' is not a column of .*fare"):
    base.train(TAXI_MODULE).evaluate_model(typo).build()


@pytest.mark.parametrize('destination,problem', [
    ('../../outside', 'leaves the pipeline root'),
    ('FILE', 'exists and is not a directory'),
])
def test_bad_push_destinations(base, tmp_path, destination, problem):
  if destination == 'FILE':
    destination = str(tmp_path / 'a_file')
    open(destination, 'w').close()
  with pytest.raises(PipelineDefinitionError, match=problem):
    base.train(TAXI_MODULE).push_to(destination).build()


def _strategy(tfx_pipeline):
  resolver = next(c for c in tfx_pipeline.components
                  if c.id == _wiring.MODEL_RESOLVER_ID)
  return resolver.exec_properties['resolver_class'], set(resolver.inputs)


@pytest.mark.parametrize('runner', _wiring.CANDIDATE_AWARE_RUNNERS)
def test_baseline_strategy_per_runner(base, runner):
  """Built for the runners that run the IR here (run(), `compile --runner
  local|beam`), the baseline is the latest blessed model other than the
  candidate, the Trainer's model of the run, which the resolver is given:
  an unchanged re-run resolves the baseline it resolved before."""
  from fluent_pipeline.components import baseline
  pdef = base.train(TAXI_MODULE).evaluate_model(EVAL_CONFIG).push_to('s')
  tfx_pipeline = _wiring.build(pdef._plan, runner)
  strategy, keys = _strategy(tfx_pipeline)
  assert strategy is baseline.LatestBlessedOtherModelStrategy
  assert keys == {'model', 'model_blessing', 'candidate'}
  n, e = nodes(compile_ir(tfx_pipeline)), edges(compile_ir(tfx_pipeline))
  resolver = _wiring.MODEL_RESOLVER_ID
  assert [p for (node, _), producers in e.items() if node == resolver
          for p in producers] == [('Trainer', 'model')]
  assert 'LatestBlessedOtherModelStrategy' in str(n[resolver])
  assert n['Evaluator'].inputs.inputs['baseline_model'].input_graph_ref


@pytest.mark.parametrize('runner', [None, 'KubeflowV2DagRunner',
                                    'AirflowDagRunner'])
def test_tfx_baseline_strategy_for_other_runners(base, runner):
  """Kubeflow V2 / Vertex compile only TFX's strategies, Airflow's launchers
  give a resolver every model the Trainer made, and build() may go to any
  runner: TFX's latest blessed model there, with its two inputs."""
  from tfx.v1.dsl.experimental import LatestBlessedModelStrategy
  pdef = base.train(TAXI_MODULE).evaluate_model(EVAL_CONFIG).push_to('s')
  strategy, keys = _strategy(_wiring.build(pdef._plan, runner))
  assert strategy is LatestBlessedModelStrategy
  assert keys == {'model', 'model_blessing'}


def test_kubeflow_v2_compiles_the_baseline_and_the_pusher(base):
  """TFX's Kubeflow V2 compiler takes the chain built for it (and build()'s):
  the resolver becomes its two resolver tasks, and the Pusher runs
  fluent_pipeline's executor. Built for LocalDagRunner, the compiler
  refuses the resolver."""
  from tfx.orchestration.kubeflow.v2 import pipeline_builder
  pdef = base.train(TAXI_MODULE).evaluate_model(EVAL_CONFIG).push_to('s')

  def compile_v2(tfx_pipeline):
    return pipeline_builder.PipelineBuilder(tfx_pipeline, 'img:1').build()
  for tfx_pipeline in (_wiring.build(pdef._plan, 'KubeflowV2DagRunner'),
                       pdef.build()):
    spec = compile_v2(tfx_pipeline)
    assert {f'{_wiring.MODEL_RESOLVER_ID}-model-blessing-resolver',
            f'{_wiring.MODEL_RESOLVER_ID}-model-resolver'} <= set(
                spec.root.dag.tasks)
    executors = spec.deployment_spec.fields['executors'].struct_value
    args = list(executors.fields['Pusher_executor'].struct_value.fields[
        'container'].struct_value.fields['args'].list_value.values)
    args = [a.string_value for a in args]
    assert args[args.index('--executor_class_path') + 1] == (
        'fluent_pipeline.components.pusher.Executor')
  with pytest.raises(TypeError, match='LatestBlessedOtherModelStrategy'):
    compile_v2(_wiring.build(pdef._plan, 'LocalDagRunner'))


def test_the_pusher_is_tfx_s_with_its_own_executor(base):
  """The node's type stays TFX's Pusher; its executor is
  components.pusher's; `rollback` is an exec property only when asked."""
  from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
  pdef = base.train(TAXI_MODULE).evaluate_model(EVAL_CONFIG).push_to('s')
  ir = compile_ir(_wiring.build(pdef._plan, 'LocalDagRunner'))
  pusher = nodes(ir)['Pusher']
  assert node_type(pusher) == 'tfx.components.pusher.component.Pusher'
  assert 'rollback' not in params(pusher)
  deployment = pipeline_pb2.IntermediateDeploymentConfig()
  ir.deployment_config.Unpack(deployment)
  executor = executable_spec_pb2.PythonClassExecutableSpec()
  deployment.executor_specs['Pusher'].Unpack(executor)
  assert executor.class_path == 'fluent_pipeline.components.pusher.Executor'
  rolled = nodes(compile_ir(_wiring.build(pdef._plan, 'LocalDagRunner',
                                          rollback=True)))
  assert params(rolled['Pusher'])['rollback'] == 1
  assert {k: v for k, v in params(rolled['Pusher']).items()
          if k != 'rollback'} == params(pusher)


def test_rollback_needs_a_push(base):
  with pytest.raises(PipelineDefinitionError, match='has no push_to'):
    _wiring.build(base.train(TAXI_MODULE)._plan, rollback=True)
