"""The chain is a plan: immutable, order-forgiving, checked early and clearly."""

import pytest
from conftest import TAXI_MODULE
from ir import compile_ir, edges, nodes, params

from fluent_pipeline import (
  MissingStepError,
  PipelineDef,
  PipelineDefinitionError,
  inputs,
)

EVAL_CONFIG = {
    'model_specs': [{'label_key': 'tips'}],
    'metrics_specs': [{'metrics': [{
        'class_name': 'BinaryAccuracy',
        'threshold': {'value_threshold': {'lower_bound': 0.5}}}]}],
}


@pytest.fixture
def start(tmp_path, taxi_csv_dir):
  return PipelineDef('chain', root=str(tmp_path)).from_csv(taxi_csv_dir)


def graph(pdef):
  ir = compile_ir(pdef.build())
  return sorted(nodes(ir)), edges(ir)


def test_each_call_returns_a_new_plan_and_leaves_the_receiver(start):
  prefix = start.generate_statistics().infer_schema()
  with_validation = prefix.validate_input_data()
  with_training = prefix.train(TAXI_MODULE, train_args=10)
  assert prefix.steps == ['from_source', 'generate_statistics',
                          'infer_schema']
  config = 'PipelineConfigurationGen'
  assert graph(with_validation)[0] == [
      'CsvExampleGen', 'ExampleValidator', config, 'SchemaGen',
      'StatisticsGen']
  assert graph(with_training)[0] == [
      'CsvExampleGen', config, 'SchemaGen', 'StatisticsGen', 'Trainer']
  assert graph(prefix)[0] == ['CsvExampleGen', config, 'SchemaGen',
                              'StatisticsGen']


def test_calls_in_any_order_build_the_same_pipeline(start):
  in_order = (start.cache().generate_statistics().infer_schema()
              .preprocess(TAXI_MODULE).train(TAXI_MODULE, train_args=10)
              .push_to('serving'))
  shuffled = (start.push_to('serving').train(TAXI_MODULE, train_args=10)
              .preprocess(TAXI_MODULE).infer_schema().generate_statistics()
              .cache())
  assert graph(in_order) == graph(shuffled)
  assert in_order.steps == shuffled.steps
  assert shuffled.build().enable_cache


def test_calling_a_step_again_replaces_it(start):
  pdef = (start.generate_statistics().infer_schema()
          .train(TAXI_MODULE, train_args=10).train(TAXI_MODULE, train_args=99))
  trainer = nodes(compile_ir(pdef.build()))['Trainer']
  assert '"num_steps": 99' in params(trainer)['train_args']
  assert pdef.steps.count('train') == 1


@pytest.mark.parametrize('make,step,fix', [
    (lambda p: p.train(TAXI_MODULE), 'train()', '.from_csv(path)'),
    (lambda p: p.generate_statistics().infer_schema(), 'generate_statistics()',
     '.from_csv(path)'),
])
def test_steps_without_a_source(tmp_path, make, step, fix):
  with pytest.raises(MissingStepError) as error:
    make(PipelineDef('nosource', root=str(tmp_path))).build()
  assert str(error.value).startswith(f'{step}: needs examples')
  assert fix in error.value.fix


@pytest.mark.parametrize('make,step,needs,fix', [
    (lambda p: p.preprocess(TAXI_MODULE), 'preprocess()', 'a schema',
     '.infer_schema() or .with_imported_schema(path)'),
    (lambda p: p.validate_input_data(), 'validate_input_data()', 'statistics',
     '.generate_statistics()'),
    (lambda p: p.evaluate_model(EVAL_CONFIG), 'evaluate_model()',
     'a trained model', '.train(run_fn, ...)'),
    (lambda p: p.push_to('serving'), 'push_to()', 'a trained model',
     '.train(run_fn, ...)'),
    (lambda p: p.bulk_infer(inputs.from_csv(p.pipeline_root + '/../..')),
     'bulk_infer()', 'a trained model', '.train(run_fn, ...)'),
    (lambda p: p.infra_validate(serving_spec={
        'tensorflow_serving': {'tags': ['latest']}, 'local_docker': {}}),
     'infra_validate()', 'a trained model', '.train(run_fn, ...)'),
])
def test_steps_missing_a_predecessor(start, make, step, needs, fix):
  with pytest.raises(MissingStepError) as error:
    make(start).build()
  assert str(error.value).startswith(f'{step}: needs {needs}')
  assert error.value.fix == f'add {fix} to the chain'


def test_transformed_examples_need_preprocess(start):
  pdef = start.generate_statistics().infer_schema().train(
      TAXI_MODULE, examples='transformed')
  with pytest.raises(MissingStepError,
                     match=r"train\(\): examples='transformed' needs "
                     r'preprocess\(\)'):
    pdef.build()
  with pytest.raises(PipelineDefinitionError, match="one of"):
    start.train(TAXI_MODULE, examples='cooked')


def test_empty_pipeline(tmp_path):
  with pytest.raises(MissingStepError, match='the pipeline is empty') as e:
    PipelineDef('empty', root=str(tmp_path)).build()
  assert '.from_csv(path)' in e.value.fix


@pytest.mark.parametrize('name', ['', 'has space', 'x' * 64, '-dash', 'a/b',
                                  None])
def test_pipeline_names_tfx_would_reject(name):
  with pytest.raises(PipelineDefinitionError) as error:
    PipelineDef(name)
  assert 'is not usable' in str(error.value)
  assert "PipelineDef('taxi')" in error.value.fix


def test_arguments_become_protos_or_fail_naming_the_argument(start):
  from tfx.proto import trainer_pb2
  chain = start.generate_statistics().infer_schema()
  ints = chain.train(TAXI_MODULE, train_args=10, eval_args=2)
  dicts = chain.train(TAXI_MODULE, train_args={'num_steps': 10},
                      eval_args={'num_steps': 2})
  protos = chain.train(TAXI_MODULE, train_args=trainer_pb2.TrainArgs(
      num_steps=10), eval_args=trainer_pb2.EvalArgs(num_steps=2))
  assert graph(ints) == graph(dicts) == graph(protos)
  with pytest.raises(PipelineDefinitionError) as error:
    chain.train(TAXI_MODULE, train_args='ten')
  assert str(error.value).startswith(
      "train: train_args must be an int (num_steps), a tfx.components.trainer."
      "TrainArgs or a dict of its fields, not str 'ten'")
  with pytest.raises(PipelineDefinitionError,
                     match="train_args is a dict that does not fit "
                     "tfx.components.trainer.TrainArgs: .*num_stepz"):
    chain.train(TAXI_MODULE, train_args={'num_stepz': 10})
  with pytest.raises(PipelineDefinitionError,
                     match='train_args=0 must be a positive number of steps'):
    chain.train(TAXI_MODULE, train_args=0)
  with pytest.raises(PipelineDefinitionError, match='eval_config is required'):
    chain.evaluate_model(None)


def test_sources_must_be_sources(start, tmp_path):
  with pytest.raises(PipelineDefinitionError,
                     match='expected a fluent_pipeline.inputs source, got str'):
    start.from_source('data/')
  with pytest.raises(PipelineDefinitionError,
                     match=r"bulk_infer\(inputs.from_csv"):
    start.bulk_infer(str(tmp_path))


def test_bad_data_paths_fail_before_running(tmp_path):
  base = PipelineDef('paths', root=str(tmp_path / 'root'))
  missing = str(tmp_path / 'missing')
  with pytest.raises(PipelineDefinitionError,
                     match=f"from_csv: data path '{missing}' does not exist"):
    base.from_csv(missing).generate_statistics().build()
  empty_dir = tmp_path / 'empty_dir'
  empty_dir.mkdir()
  with pytest.raises(PipelineDefinitionError,
                     match='data directory .* is empty'):
    base.from_csv(str(empty_dir)).generate_statistics().build()
  empty_file = tmp_path / 'empty_file'
  empty_file.mkdir()
  (empty_file / 'data.csv').write_text('')
  with pytest.raises(PipelineDefinitionError) as error:
    base.from_csv(str(empty_file)).generate_statistics().build()
  assert 'data.csv\' is empty' in str(error.value)
  assert 'CSV files need a header row' in error.value.fix
  splits = {'splits': [{'name': 'train', 'pattern': 'train-*.csv'},
                       {'name': 'eval', 'pattern': 'eval-*.csv'}]}
  (tmp_path / 'split').mkdir()
  (tmp_path / 'split' / 'train-1.csv').write_text('a,b\n1,2\n')
  with pytest.raises(PipelineDefinitionError,
                     match="no file in .* matches the pattern 'eval-\\*.csv' "
                     "of split 'eval'"):
    base.from_csv(str(tmp_path / 'split'), input_config=splits) \
        .generate_statistics().build()


def test_missing_imported_paths(start, tmp_path):
  chain = start.generate_statistics()
  nowhere = str(tmp_path / 'nowhere')
  with pytest.raises(PipelineDefinitionError,
                     match=r"with_imported_schema\(\): schema file .* does "
                     'not exist'):
    chain.with_imported_schema(nowhere).build()
  trained = chain.infer_schema().train(TAXI_MODULE)
  with pytest.raises(PipelineDefinitionError,
                     match=r'with_hyperparameters\(\): .* does not exist'):
    trained.with_hyperparameters(nowhere).build()
  with pytest.raises(PipelineDefinitionError,
                     match=r'with_base_model\(\): model path .* does not '
                     'exist'):
    trained.with_base_model(nowhere).build()


def test_repr_lists_the_chain(start, tmp_path, taxi_csv_dir):
  pdef = start.generate_statistics().infer_schema().train(TAXI_MODULE)
  assert repr(pdef) == (f"(PipelineDef('chain', root={str(tmp_path)!r})\n"
                        f' .from_csv({taxi_csv_dir!r})\n'
                        ' .generate_statistics()\n'
                        ' .infer_schema()\n'
                        f' .train({TAXI_MODULE!r}))')


def test_repr_masks_every_secret(start):
  secret = 'Planted-s3cret'
  pdef = (start.train(TAXI_MODULE, custom_config={'api_key': secret, 'n': 1})
          .with_beam_pipeline_args(['--api_token', secret,
                                    f'--password={secret}', '--n=2'])
          .with_mysql_ml_metadata(host='db', password=secret)
          .with_parameters(token=42, db_password=secret, lr=0.5))
  text = repr(pdef)
  assert secret not in text and '42' not in text
  for shown in (".train('", "custom_config={'api_key': '***', 'n': 1})",
                "(['--api_token', '***', '--password=***', '--n=2'])",
                "with_mysql_ml_metadata(host='db', password='***')",
                "with_parameters(token='***', db_password='***', lr=0.5)"):
    assert shown in text, shown


def test_repr_masks_a_secret_in_any_mapping(start):
  """The configuration masks secret keys of any Mapping; repr by the same
  rule (a ChainMap once showed in clear)."""
  import collections
  secret = 'Planted-s3cret'
  pdef = start.train(TAXI_MODULE, custom_config=collections.ChainMap(
      {'api_token': secret}))
  assert secret not in repr(pdef)
  assert "'api_token': '***'" in repr(pdef)


def test_a_python_call_of_create_pipeline_records_its_parameters(tmp_path):
  """`create_pipeline(epochs=3)` from Python records its arguments, as
  `fluent-pipeline run FILE --set epochs=3` does; any other function, or an
  argument no command line could give, records nothing."""
  marker = object()

  def create_pipeline(data, root=tmp_path, epochs: int = 2, extra=marker,
                      *, fast: bool = True):
    return PipelineDef('p', root=root).from_csv(data)

  def make(data):
    return PipelineDef('p', root=tmp_path).from_csv(data)

  made = create_pipeline(str(tmp_path), epochs=3)
  assert dict(made._plan.parameters) == {'data': str(tmp_path), 'root': str(tmp_path),
                             'epochs': 3, 'fast': True}
  assert not make(str(tmp_path))._plan.parameters
  assert not PipelineDef('p', root=tmp_path)._plan.parameters
  # with_parameters still has the last word.
  assert made.with_parameters(epochs=4)._plan.parameters['epochs'] == 4
