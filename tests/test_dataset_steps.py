"""Dataset steps and added components in the chain.

Build-level (milliseconds, TFX's own compiler): what each step reads, the
order of dataset steps, their exec properties, channels by name, custom
components replacing standard steps, and the errors. Real runs (e2e): the
example under examples/reshape_and_extend on LocalDagRunner and on
BeamDagRunner, the cache re-running a step whose predicate changed, and a
Python-function component consuming transform_graph.
"""

import importlib.util
import json
import os
import sys

import dataset_fns
import fault_pipeline
import pytest
from conftest import REPO, TAXI_MODULE
from ir import compile_ir, edges, nodes, params
from tfx.dsl.component.experimental.annotations import (
  InputArtifact,
  OutputArtifact,
  Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from fluent_pipeline import PipelineDef, read_run
from fluent_pipeline.components.configuration import PipelineConfiguration
from fluent_pipeline.dsl import configuration as _configuration
from fluent_pipeline.errors import PipelineDefinitionError, UserCodeError

EXAMPLE_DIR = os.path.join(REPO, 'examples', 'reshape_and_extend')


def _load_example():
  """examples/reshape_and_extend/pipeline.py, under a name of its own (the
  taxi example is imported as `pipeline`)."""
  spec = importlib.util.spec_from_file_location(
      'reshape_and_extend_pipeline', os.path.join(EXAMPLE_DIR, 'pipeline.py'))
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module
  spec.loader.exec_module(module)
  return module


example = _load_example()

EVAL_CONFIG = fault_pipeline.eval_config(0.5)
KEY = 'reshaped_examples'  # the dataset steps' output key


def long_trip(features):
  return (features.get('trip_seconds') or [0])[0] > 600


def long_trips(df):
  """long_trip, batch form."""
  return df.trip_seconds > 600


def longer_trip(features):
  return (features.get('trip_seconds') or [0])[0] > 900


@component
def CountFeatures(
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    examples: InputArtifact[standard_artifacts.Examples],
    counted: OutputArtifact[standard_artifacts.ExampleStatistics],
    label: Parameter[str] = 'xf'):
  """Consumes the Transform graph: writes its transformed features."""
  import tensorflow_transform as tft
  features = sorted(tft.TFTransformOutput(
      transform_graph.uri).transformed_feature_spec())
  with open(os.path.join(counted.uri, 'features.json'), 'w') as f:
    json.dump({'label': label, 'features': features,
               'examples': examples.uri}, f)


@component
def TinyTrainer(
    examples: InputArtifact[standard_artifacts.Examples],
    model: OutputArtifact[standard_artifacts.Model],
    model_run: OutputArtifact[standard_artifacts.ModelRun]):
  del examples, model, model_run


@component
def Misnamed(
    examples: InputArtifact[standard_artifacts.Examples],
    trained: OutputArtifact[standard_artifacts.Model]):
  del examples, trained


@component
def ReadsConfiguration(
    configuration: InputArtifact[PipelineConfiguration]):
  del configuration


@pytest.fixture
def base(tmp_path, taxi_csv_dir):
  return PipelineDef('reshape', root=str(tmp_path)).from_csv(taxi_csv_dir)


def compiled(pdef):
  ir = compile_ir(pdef.build())
  return nodes(ir), edges(ir)


# ------------------------------------------------------------ build level
def test_every_step_reads_the_reshaped_examples(base):
  pdef = (base.filter_examples(long_trip)
          .stratified_sample('payment_type', samples_per_key=5,
                             splits=['train'])
          .generate_statistics().infer_schema().preprocess(TAXI_MODULE)
          .train(TAXI_MODULE, train_args=10, eval_args=5)
          .evaluate_model(EVAL_CONFIG).infra_validate())
  _, e = compiled(pdef)
  assert e[('FilterExamples', 'examples')] == [('CsvExampleGen', 'examples')]
  assert e[('StratifiedSample', 'examples')] == [('FilterExamples', KEY)]
  for node in ('StatisticsGen', 'Transform', 'Evaluator',
               'LocalInfraValidator'):
    assert e[(node, 'examples')] == [('StratifiedSample', KEY)], node
  assert e[('Trainer', 'examples')] == [('Transform', 'transformed_examples')]


def test_each_step_can_still_ask_for_the_raw_examples(base):
  pdef = (base.filter_examples(long_trip)
          .generate_statistics(examples='raw').infer_schema()
          .preprocess(TAXI_MODULE, examples='raw')
          .train(TAXI_MODULE, examples='reshaped')
          .evaluate_model(EVAL_CONFIG, examples='raw'))
  _, e = compiled(pdef)
  for node in ('StatisticsGen', 'Transform', 'Evaluator'):
    assert e[(node, 'examples')] == [('CsvExampleGen', 'examples')], node
  assert e[('Trainer', 'examples')] == [('FilterExamples', KEY)]
  raw = compiled(pdef.train(TAXI_MODULE, examples='raw'))[1]
  assert raw[('Trainer', 'examples')] == [('CsvExampleGen', 'examples')]
  with pytest.raises(PipelineDefinitionError, match="examples='transformed'"):
    base.generate_statistics(examples='transformed')


def test_dataset_steps_run_in_the_order_written(base):
  pdef = (base.stratified_sample('company', fraction=0.5)
          .filter_examples(long_trip).filter_examples(longer_trip)
          .generate_statistics())
  assert pdef.steps == ['from_source', 'stratified_sample',
                        'filter_examples', 'filter_examples',
                        'generate_statistics']
  n, e = compiled(pdef)
  assert e[('FilterExamples', 'examples')] == [('StratifiedSample', KEY)]
  assert e[('FilterExamples_2', 'examples')] == [('FilterExamples', KEY)]
  assert e[('StatisticsGen', 'examples')] == [('FilterExamples_2', KEY)]
  assert params(n['StratifiedSample'])['fraction'] == 0.5
  assert params(n['StratifiedSample'])['key_feature'] == 'company'
  # The receiver is unchanged: a shared prefix seeds variants.
  assert base.steps == ['from_source']
  assert repr(pdef).index('stratified_sample') < repr(pdef).index(
      'filter_examples(long_trip)') < repr(pdef).index(
          'filter_examples(longer_trip)')


def test_parameters_and_the_predicate_hash_are_exec_properties(base):
  def sha(pdef, node):
    return params(compiled(pdef)[0][node])['code_sha256']
  one = base.filter_examples(long_trip).generate_statistics()
  assert sha(one, 'FilterExamples') == sha(
      base.filter_examples(long_trip).generate_statistics(), 'FilterExamples')
  assert sha(one, 'FilterExamples') != sha(
      base.filter_examples(longer_trip).generate_statistics(),
      'FilterExamples')
  dotted = base.filter_examples('dataset_fns.keep_cash', splits=['train'])
  p = params(compiled(dotted)[0]['FilterExamples'])
  assert p['predicate_fn'] == 'dataset_fns.keep_cash'
  assert len(p['code_sha256']) == 64 and json.loads(p['splits']) == ['train']
  sample = params(compiled(base.stratified_sample(
      dataset_fns.payment_kind, samples_per_key=3, seed=11))[0][
          'StratifiedSample'])
  assert (sample['samples_per_key'], sample['seed']) == (3, 11)
  assert sample['module_file'].endswith('key_fn_module.py')
  assert len(sample['code_sha256']) == 64


def test_the_configuration_records_each_dataset_step(base):
  from fluent_pipeline.dsl import wiring as _wiring
  pdef = (base.filter_examples(long_trip)
          .stratified_sample('company', samples_per_key=2)
          .filter_examples('dataset_fns.keep_cash').generate_statistics())
  made = _wiring._Components(pdef._plan)
  made.create()
  config = _configuration.build(pdef._plan, made.user_code, runner=None)
  assert list(config['steps']) == ['filter_examples', 'stratified_sample',
                                   'filter_examples#2', 'generate_statistics']
  assert config['steps']['stratified_sample']['key'] == 'company'
  assert config['steps']['filter_examples#2']['predicate'] == {
      'user_code': made.user_code['reshape_3'].record()['sha256']}
  source = config['user_code'][
      config['steps']['filter_examples']['predicate']['user_code']]
  assert 'def long_trip' in source['source']


def test_from_run_rebuilds_the_dataset_steps(base):
  from fluent_pipeline.dsl import wiring as _wiring
  from fluent_pipeline.recorded import replay as _replay
  pdef = (base.filter_examples(long_trip)
          .stratified_sample(dataset_fns.payment_kind, samples_per_key=2)
          .filter_examples(longer_trip).generate_statistics())
  made = _wiring._Components(pdef._plan)
  made.create()
  config = json.loads(_configuration.dumps(_configuration.build(
      pdef._plan, made.user_code, runner=None)))
  rebuilt = _replay.rebuild(config, 'run-1')
  assert rebuilt.steps == pdef.steps
  before, after = compiled(pdef)[0], compiled(rebuilt)[0]
  for node in ('FilterExamples', 'StratifiedSample', 'FilterExamples_2'):
    assert params(after[node])['code_sha256'] == params(
        before[node])['code_sha256'], node


def test_a_batch_function_is_the_steps_batch_exec_property(base):
  pdef = (base.filter_examples(long_trips, batch=True)
          .stratified_sample(dataset_fns.batch_payment_kind, batch=True,
                             samples_per_key=3))
  nodes_ = compiled(pdef)[0]
  kept, sample = params(nodes_['FilterExamples']), params(
      nodes_['StratifiedSample'])
  assert 'predicate_fn' not in kept and 'key_fn' not in sample
  assert kept['batch_predicate_fn'] == 'batch_predicate_fn'  # in module_file
  assert kept['module_file'].endswith('batch_predicate_fn_module.py')
  assert sample['module_file'].endswith('batch_key_fn_module.py')
  dotted = params(compiled(base.filter_examples(
      'dataset_fns.batch_keep_cash', batch=True))[0]['FilterExamples'])
  assert dotted['batch_predicate_fn'] == 'dataset_fns.batch_keep_cash'
  # The per-record form of the same step is another step for the cache.
  assert params(compiled(base.filter_examples('dataset_fns.batch_keep_cash'))[
      0]['FilterExamples'])['predicate_fn'] == 'dataset_fns.batch_keep_cash'


def test_the_configuration_records_batch_and_from_run_rebuilds_it(base):
  from fluent_pipeline.dsl import wiring as _wiring
  from fluent_pipeline.recorded import replay as _replay
  pdef = (base.filter_examples(long_trips, batch=True)
          .stratified_sample(dataset_fns.payment_kind, samples_per_key=2)
          .generate_statistics())
  made = _wiring._Components(pdef._plan)
  made.create()
  config = json.loads(_configuration.dumps(_configuration.build(
      pdef._plan, made.user_code, runner=None)))
  assert config['steps']['filter_examples']['batch'] is True
  # Per record: no key, as in a configuration recorded before batch existed.
  assert 'batch' not in config['steps']['stratified_sample']
  rebuilt = _replay.rebuild(config, 'run-1')
  assert rebuilt.steps == pdef.steps
  before, after = compiled(pdef)[0], compiled(rebuilt)[0]
  for node in ('FilterExamples', 'StratifiedSample'):
    assert params(after[node]) == params(before[node]) | {
        'module_file': params(after[node])['module_file']}, node
  assert params(after['FilterExamples'])['batch_predicate_fn']
  assert params(after['StratifiedSample'])['key_fn']


def _load_exported(path):
  """The PipelineDef of an exported pipeline file, its functions module
  forgotten afterwards (the next export writes another)."""
  from fluent_pipeline.project import pipeline_file
  saved = list(sys.path)
  try:
    return pipeline_file.load(path).build({})
  finally:
    sys.path[:] = saved
    sys.modules.pop('reshape_functions', None)


def test_export_writes_a_batch_step_as_source(base, tmp_path):
  pdef = base.filter_examples(long_trips, batch=True).generate_statistics()
  path = pdef.export(tmp_path / 'project')
  assert '.filter_examples(long_trips, batch=True)' in open(path).read()
  functions = (tmp_path / 'project' / 'reshape_functions.py').read_text()
  assert 'def long_trips(df):' in functions
  exported = _load_exported(path)
  assert params(compiled(exported)[0]['FilterExamples']) == params(
      compiled(pdef)[0]['FilterExamples'])


def test_export_writes_the_dataset_steps_as_source(base, tmp_path):
  pdef = (base.filter_examples(long_trip)
          .stratified_sample('company', fraction=0.5, splits=['train'])
          .generate_statistics())
  path = pdef.export(tmp_path / 'project')
  text = open(path).read()
  assert '.filter_examples(long_trip)' in text
  assert ".stratified_sample('company', fraction=0.5, splits=['train'])" in \
      text
  functions = (tmp_path / 'project' / 'reshape_functions.py').read_text()
  assert 'def long_trip(features):' in functions
  exported = _load_exported(path)
  before, after = compiled(pdef)[0], compiled(exported)[0]
  for node in ('FilterExamples', 'StratifiedSample'):
    assert params(after[node]) == params(before[node]), node


@pytest.mark.parametrize('make, error, message', [
    (lambda b: b.stratified_sample('company'), PipelineDefinitionError,
     'exactly one of'),
    (lambda b: b.stratified_sample('company', samples_per_key=2,
                                   fraction=0.1), PipelineDefinitionError,
     'exactly one of'),
    (lambda b: b.stratified_sample('company', samples_per_key=0),
     PipelineDefinitionError, 'positive int'),
    (lambda b: b.stratified_sample('company', fraction=1.5),
     PipelineDefinitionError, r'\(0, 1\]'),
    (lambda b: b.stratified_sample(3, fraction=0.5), PipelineDefinitionError,
     'feature name'),
    (lambda b: b.stratified_sample('company', fraction=0.5, seed='x'),
     PipelineDefinitionError, 'seed must be an int'),
    (lambda b: b.filter_examples(None), PipelineDefinitionError,
     'function or a dotted path'),
    (lambda b: b.filter_examples(long_trip, splits=[]),
     PipelineDefinitionError, 'split names'),
    (lambda b: b.filter_examples(lambda a, b: True).build(), UserCodeError,
     'cannot be called with one argument'),
    (lambda b: b.filter_examples(long_trips, batch='yes'),
     PipelineDefinitionError, 'batch must be True or False'),
    (lambda b: b.filter_examples(lambda a, b: True, batch=True),
     PipelineDefinitionError, 'called with a DataFrame of examples'),
    (lambda b: b.stratified_sample('company', samples_per_key=2, batch=True),
     PipelineDefinitionError, 'batch=True takes a key function of a '
     "DataFrame, got the feature name 'company'"),
])
def test_bad_dataset_step_arguments_are_clear_errors(base, make, error,
                                                     message):
  with pytest.raises(error, match=message):
    make(base)


def test_a_stratification_key_that_is_no_column_fails_at_the_call(
    base, taxi_csv_dir):
  with pytest.raises(PipelineDefinitionError) as error:
    base.stratified_sample('paymnt_type', samples_per_key=5)
  message = str(error.value)
  assert message.startswith("stratified_sample: key 'paymnt_type' is not a "
                            f'feature: the CSV header of {taxi_csv_dir} has ')
  assert 'payment_type, ' in message or ', payment_type' in message
  assert "fix: stratified_sample('payment_type', ...) (the closest name)" in \
      message
  # A column is taken; a chain without known columns is checked at the step.
  assert 'stratified_sample' in base.stratified_sample(
      'company', fraction=0.5).steps
  early = PipelineDef('unknown', root=base.pipeline_root).stratified_sample(
      'paymnt_type', fraction=0.5)
  # ... unless the source comes later in the chain: then at build().
  with pytest.raises(PipelineDefinitionError,
                     match="key 'paymnt_type' is not a feature: the CSV "
                     'header of'):
    early.from_csv(taxi_csv_dir).build()
  assert PipelineDef('known', root=base.pipeline_root).stratified_sample(
      'payment_type', fraction=0.5).from_csv(taxi_csv_dir).build() is not None


def test_an_imported_schemas_features_are_the_known_ones(base, tmp_path):
  schema = tmp_path / 'schema.pbtxt'
  schema.write_text('feature { name: "region" type: BYTES }\n'
                    'feature { name: "fare" type: FLOAT }\n')
  chain = base.with_imported_schema(schema)
  # Not a CSV column, but the schema's feature.
  assert 'stratified_sample' in chain.stratified_sample(
      'region', fraction=0.5).steps
  with pytest.raises(PipelineDefinitionError,
                     match=r"key 'regon' is not a feature: the schema .*"
                     r"schema.pbtxt has region, fare\n.*'region'"):
    chain.stratified_sample('regon', fraction=0.5)


def test_added_components_get_the_chain_channels_by_name(base):
  pdef = (base.filter_examples(long_trip).generate_statistics()
          .infer_schema().preprocess(TAXI_MODULE)
          .add_component(CountFeatures)
          .add_component(lambda examples, transform_graph: CountFeatures(
              transform_graph=transform_graph, examples=examples,
              label='again').with_id('count_again')))
  n, e = compiled(pdef)
  for node in ('CountFeatures', 'count_again'):
    assert e[(node, 'transform_graph')] == [('Transform', 'transform_graph')]
    assert e[(node, 'examples')] == [('FilterExamples', KEY)]
  assert params(n['count_again'])['label'] == 'again'


def test_a_missing_or_misspelt_channel_is_a_build_error(base):
  chain = base.generate_statistics().infer_schema()
  with pytest.raises(PipelineDefinitionError,
                     match=r"'transform_graph'.*\n.*preprocess"):
    chain.add_component(CountFeatures).build()
  with pytest.raises(PipelineDefinitionError,
                     match="'exmaples', which is not a channel"):
    chain.add_component(lambda exmaples: CountFeatures(
        examples=exmaples)).build()
  with pytest.raises(PipelineDefinitionError, match='not a TFX component'):
    chain.add_component(lambda schema: 'a string').build()


def test_a_custom_component_replaces_a_standard_step(base):
  pdef = (base.generate_statistics().infer_schema()
          .train(TAXI_MODULE)  # replaced below, whatever the order
          .add_component(TinyTrainer, replaces='train')
          .evaluate_model(EVAL_CONFIG).push_to('serving'))
  n, e = compiled(pdef)
  assert 'Trainer' not in n and 'TinyTrainer' in n
  assert e[('Evaluator', 'model')] == [('TinyTrainer', 'model')]
  assert e[('Pusher', 'model')] == [('TinyTrainer', 'model')]
  assert pdef.steps[-3] == 'add_component'
  with pytest.raises(PipelineDefinitionError,
                     match=r"Misnamed has no output 'model' \(its outputs: "
                     r"trained\), which evaluate_model\(\) reads"):
    pdef.add_component(Misnamed, replaces='train').build()
  with pytest.raises(PipelineDefinitionError, match="replaces='trian'"):
    base.add_component(TinyTrainer, replaces='trian')


def test_a_custom_example_gen_replaces_the_source(tmp_path, taxi_csv_dir):
  from tfx.components import CsvExampleGen
  pdef = (PipelineDef('custom_source', root=str(tmp_path))
          .add_component(CsvExampleGen(input_base=taxi_csv_dir).with_id(
              'my_example_gen'), replaces='from_source')
          .filter_examples(long_trip).generate_statistics())
  _, e = compiled(pdef)
  assert e[('FilterExamples', 'examples')] == [('my_example_gen', 'examples')]


def test_the_configuration_is_a_channel(base):
  _, e = compiled(base.generate_statistics().add_component(
      ReadsConfiguration))
  assert e[('ReadsConfiguration', 'configuration')] == [
      ('PipelineConfigurationGen', 'configuration')]
  with pytest.raises(PipelineDefinitionError, match='record_configuration'):
    base.record_configuration(False).add_component(ReadsConfiguration).build()



def test_the_example_compiles_for_kubeflow_v2(tmp_path):
  from fluent_pipeline.cli import main
  out = tmp_path / 'job'
  assert main(['compile', os.path.join(EXAMPLE_DIR, 'pipeline.py'),
               '--runner', 'kubeflow_v2', '--image', 'gcr.io/p/rx:1',
               '-o', str(out), '--set', 'root=gs://bucket/p',
               '--set', 'data_dir=gs://bucket/data']) == 0
  text = (out / 'pipeline.json').read_text()
  tasks = json.loads(text)['pipelineSpec']['root']['dag']['tasks']
  assert {'FilterExamples', 'StratifiedSample', 'FeatureReport'} <= set(tasks)
  # Every user module the spec names is in the image's build context.
  app = out / 'app'
  assert 'feature_report.FeatureReport_Executor' in text
  assert (app / 'feature_report.py').is_file()
  assert 'from feature_report import FeatureReport' in (
      app / 'pipeline.py').read_text()
  shim = next(p for p in os.listdir(app) if p.startswith('fluent_code_'))
  assert f'{shim[:-3]}.predicate_fn_reshape_1' in text
  assert 'gs://bucket/p/taxi-reshaped' in text


# -------------------------------------------------------------- real runs
@pytest.fixture(scope='module')
def example_run(tmp_path_factory, taxi_sample):
  root = tmp_path_factory.mktemp('reshape_example')
  pdef = example.create_pipeline(root=str(root), data_dir=taxi_sample['data'],
                                 samples_per_payment=40)
  return pdef, pdef.run()


def _records(uri, split):
  import tensorflow as tf
  folder = os.path.join(uri, f'Split-{split}')
  files = [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
  return [bytes(r.numpy()) for r in tf.data.TFRecordDataset(
      files, compression_type='GZIP')]


def _features(record):
  import tensorflow as tf
  example_ = tf.train.Example.FromString(record)
  out = {}
  for name, feature in example_.features.feature.items():
    kind = feature.WhichOneof('kind')
    out[name] = list(getattr(feature, kind).value) if kind else []
  return out


@pytest.mark.e2e
def test_the_example_runs_on_local_dag_runner(example_run):
  pdef, result = example_run
  assert set(result.states.values()) == {'COMPLETE'}, result.states
  raw = result.component('CsvExampleGen').outputs['examples'][0]
  kept = result.component('FilterExamples').outputs[KEY][0]
  sample = result.component('StratifiedSample').outputs[KEY][0]
  for split in ('train', 'eval'):
    expected = [r for r in _records(raw, split)
                if example.paid_trip(_features(r))]
    assert sorted(_records(kept, split)) == sorted(expected)
  strata = {}
  for record in _records(sample, 'train'):
    strata.setdefault(tuple(_features(record)['payment_type']), 0)
    strata[tuple(_features(record)['payment_type'])] += 1
  before = {}
  for record in _records(kept, 'train'):
    key = tuple(_features(record)['payment_type'])
    before[key] = before.get(key, 0) + 1
  assert strata == {k: min(40, n) for k, n in before.items()}
  assert _records(sample, 'eval') == _records(kept, 'eval')
  # Statistics describe the reshaped data, and the report read the schema,
  # the Transform graph and the run's configuration.
  stats = result.statistics('train')
  assert stats['payment_type']['count'] == sum(strata.values())
  # What a person sees: the summary's counts, and the report's table.
  kept_train = len(_records(kept, 'train'))
  assert result.reshaped['StratifiedSample']['train'] == {
      'in': kept_train, 'out': sum(strata.values())}
  assert (f'StratifiedSample: train {kept_train:,} -> '
          f'{sum(strata.values()):,}\n') in str(result)  # eval: copied
  import browser
  path = result.report()
  with browser.open_page(path) as page:
    rows = [r.split('\t') for r in page.texts('#reshaped tbody tr')]
    assert not page.page_errors and not page.requests[1:]
  assert ['StratifiedSample', 'train', f'{kept_train:,}',
          f'{sum(strata.values()):,}'] == rows[-1][:4], rows
  assert [r[:2] for r in rows] == [['FilterExamples', 'eval'],
                                   ['FilterExamples', 'train'],
                                   ['StratifiedSample', 'train']]
  report = example.report_of(result)
  # create_pipeline's arguments, recorded as the run's parameters.
  assert report['parameters']['samples_per_payment'] == 40
  assert set(report['parameters']) == {'root', 'data_dir',
                                       'samples_per_payment', 'name'}
  assert report['dataset_steps'] == ['filter_examples', 'stratified_sample']
  assert 'payment_type' in report['raw_features']
  assert 'payment_type_xf' in report['transformed_features']


@pytest.mark.e2e
def test_the_example_runs_on_beam_dag_runner(tmp_path, taxi_sample,
                                             example_run):
  """BeamDagRunner, from a fresh process (as `--runner beam` is used):
  the same examples come out as on LocalDagRunner."""
  import subprocess
  _, local = example_run
  done = subprocess.run(
      [sys.executable, os.path.join(EXAMPLE_DIR, 'pipeline.py'), '--runner',
       'beam', '--root', str(tmp_path), '--data-dir', taxi_sample['data']],
      capture_output=True, text=True, timeout=900,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
  assert done.returncode == 0, done.stderr[-3000:]
  assert '"payment_type_xf"' in done.stdout
  beam = read_run(PipelineDef('taxi-reshaped', root=str(tmp_path)))
  assert set(beam.states.values()) == {'COMPLETE'}, beam.states
  # Another sample size (the default 300), the same filter.
  kept = [beam.component('FilterExamples').outputs[KEY][0],
          local.component('FilterExamples').outputs[KEY][0]]
  for split in ('train', 'eval'):  # (a map's bytes vary from run to run)
    assert _canonical(kept[0], split) == _canonical(kept[1], split)


def _canonical(uri, split):
  import tensorflow as tf
  return sorted(tf.train.Example.FromString(r).SerializeToString(
      deterministic=True) for r in _records(uri, split))


@pytest.mark.e2e
def test_a_changed_predicate_reruns_the_step_an_unchanged_one_is_cached(
    tmp_path, taxi_sample):
  def chain(predicate):
    return (PipelineDef('cache', root=str(tmp_path))
            .from_csv(taxi_sample['data']).filter_examples(predicate)
            .generate_statistics().cache())
  first = chain(long_trip).run()
  again = chain(long_trip).run()
  changed = chain(longer_trip).run()
  assert first.states['FilterExamples'] == 'COMPLETE'
  assert again.states['FilterExamples'] == 'CACHED'
  assert again.states['StatisticsGen'] == 'CACHED'
  assert changed.states['FilterExamples'] == 'COMPLETE'
  assert changed.states['StatisticsGen'] == 'COMPLETE'
  assert changed.statistics('train')['trip_seconds']['count'] < \
      first.statistics('train')['trip_seconds']['count']


NOTEBOOK_CELLS = [
    '''import glob, json, os
import fluent_pipeline
from fluent_pipeline import PipelineDef
from fluent_pipeline.components.configuration import PipelineConfiguration
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputDict
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples''',
    '''def short_trip(features):
    return (features.get('trip_seconds') or [0])[0] < 600''',
    '''@component
def CountKept(examples: InputArtifact[Examples],
              configuration: InputArtifact[PipelineConfiguration]
              ) -> OutputDict(kept=int, filters=int):
    import tensorflow as tf
    files = glob.glob(os.path.join(examples.uri, 'Split-train', '*.gz'))
    kept = sum(1 for _ in tf.data.TFRecordDataset(files,
                                                  compression_type='GZIP'))
    with open(os.path.join(configuration.uri, 'configuration.json')) as f:
        steps = json.load(f)['steps']
    return {'kept': kept,
            'filters': sum(s.startswith('filter_examples') for s in steps)}''',
    '''result = (PipelineDef('nb-reshape', root='runs').from_csv(DATA)
          .filter_examples(short_trip).add_component(CountKept).run())
print(sorted(result.states.items()))''',
]


@pytest.mark.e2e
def test_a_notebooks_predicate_and_component_run_in_the_chain(
    tmp_path, taxi_sample):
  """A predicate and a TFX @component defined in notebook cells, run on
  LocalDagRunner from a Jupyter kernel (nbclient), as a person runs them."""
  import nbformat
  from kernels import kernel_manager
  from nbclient import NotebookClient
  notebook = nbformat.v4.new_notebook(cells=[
      nbformat.v4.new_code_cell(f"DATA = {taxi_sample['data']!r}")] + [
          nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
  NotebookClient(notebook, timeout=600,
                 km=kernel_manager(str(tmp_path / 'kernels')),
                 resources={'metadata': {'path': str(tmp_path)}}).execute()
  printed = ''.join(o.get('text', '') for o in notebook.cells[-1].outputs)
  assert "('CountKept', 'COMPLETE')" in printed, printed
  assert "('FilterExamples', 'COMPLETE')" in printed, printed
  result = read_run(PipelineDef('nb-reshape', root=str(tmp_path / 'runs')))
  values = {}
  for key in ('kept', 'filters'):
    with open(result.component('CountKept').outputs[key][0]) as f:
      values[key] = int(f.read())
  raw = result.component('CsvExampleGen').outputs['examples'][0]
  expected = sum((_features(r).get('trip_seconds') or [0])[0] < 600
                 for r in _records(raw, 'train'))
  assert values == {'kept': expected, 'filters': 1}


@pytest.mark.e2e
def test_a_filter_keeping_all_and_a_one_stratum_sample_are_said(
    tmp_path, taxi_sample):
  result = (PipelineDef('said', root=str(tmp_path))
            .from_csv(taxi_sample['data'])
            .filter_examples(dataset_fns.keep_every_trip, splits=['eval'])
            .stratified_sample(dataset_fns.one_kind, samples_per_key=50,
                               splits=['eval']).run())
  n = result.reshaped['FilterExamples']['eval']['in']
  kept_all = f'kept every example: keep_every_trip returned True for all {n:,}'
  one = ("one stratum: every example has the key 'trips', so the sample is "
         'not stratified')
  assert result.reshaped == {
      'FilterExamples': {'eval': {'in': n, 'out': n, 'note': kept_all}},
      'StratifiedSample': {'eval': {'in': n, 'out': 50, 'note': one}}}
  text = str(result)
  assert f'FilterExamples: eval {n:,} -> {n:,} ({kept_all})\n' in text
  assert f'StratifiedSample: eval {n:,} -> 50 ({one})\n' in text
  # ... and in the report, as a reader sees it.
  import browser
  with browser.open_page(result.report()) as page:
    rows = [r.split('\t') for r in page.texts('#reshaped tbody tr')]
    assert not page.page_errors
  assert [r[0] for r in rows] == ['FilterExamples', 'StratifiedSample']
  assert [r[-1] for r in rows] == [kept_all, one]


def region_value(features):
  return features['payment_type'][0]  # the slip: a value, not a bool


@pytest.mark.e2e
def test_a_predicate_returning_a_value_fails_the_run_naming_it(
    tmp_path, taxi_sample):
  from fluent_pipeline.errors import PipelineRunError
  chain = (PipelineDef('not_bool', root=str(tmp_path))
           .from_csv(taxi_sample['data']).filter_examples(region_value))
  with pytest.raises(PipelineRunError) as error:
    chain.run()
  assert error.value.component == 'FilterExamples'
  reason = error.value.reason
  assert 'predicate region_value returned ' in reason, reason
  assert "(str, a value of features['payment_type']), not a bool" in reason
  assert "return a comparison, e.g. features['payment_type'] == [" in reason
  # The run's error points at the user's own line, as for run_fn.
  location = error.value.location
  assert (location.path, location.lineno) == (
      __file__, region_value.__code__.co_firstlineno + 1)
  assert location.line == "return features['payment_type'][0]  # the " \
      'slip: a value, not a bool'


@pytest.mark.e2e
def test_a_key_an_earlier_runs_statistics_lack_fails_before_a_run(
    tmp_path, taxi_sample):
  """A Parquet source has no header to read; the statistics an earlier run
  computed from it name its features, so a misspelt key stops the run
  before any component starts."""
  import pyarrow.csv
  import pyarrow.parquet
  data = tmp_path / 'parquet'
  data.mkdir()
  pyarrow.parquet.write_table(
      pyarrow.csv.read_csv(os.path.join(taxi_sample['data'], 'data.csv')).slice(0, 300),
      str(data / 'trips.parquet'))

  def chain():
    return PipelineDef('seen', root=str(tmp_path / 'runs')).from_parquet(
        str(data))

  chain().stratified_sample('paymnt_type', samples_per_key=5).build()
  first = chain().generate_statistics().run()
  assert first.component('StatisticsGen').state == 'COMPLETE'
  with pytest.raises(PipelineDefinitionError) as error:
    (chain().stratified_sample('paymnt_type', samples_per_key=5)
     .generate_statistics().run())
  message = str(error.value)
  assert "key 'paymnt_type' is not a feature: the statistics run " \
      f'{first.run_id} computed from this source has ' in message, message
  assert "stratified_sample('payment_type', ...) (the closest name)" in \
      message, message
  from fluent_pipeline import runs
  assert [r.run_id for r in runs(chain())] == [first.run_id]
  from fluent_pipeline.orchestration import runners
  right = chain().stratified_sample('payment_type', samples_per_key=5)
  runners._check_features_seen(right._plan, right.build())  # no error
  # Another source's statistics say nothing about this one.
  other = tmp_path / 'other'
  other.mkdir()
  (data / 'trips.parquet').rename(other / 'trips.parquet')
  from fluent_pipeline.recorded import earlier_data
  moved = [str(other / 'trips.parquet')]
  assert earlier_data.features_seen(chain(), str(other), moved) is None
  (other / 'trips.parquet').rename(data / 'trips.parquet')
  files = [str(data / 'trips.parquet')]
  assert earlier_data.features_seen(chain(), str(data), files)[0][:2] == [
      'company', 'dropoff_census_tract']
  # Data changed since the statistics (a new column, say): they no longer
  # tell, so nothing is refused before the run; nor for remote data.
  os.utime(files[0])
  assert earlier_data.features_seen(chain(), str(data), files) is None
  assert earlier_data.features_seen(chain(), 'gs://b/data', []) is None


def _readme_batch_example() -> str:
  """The code block of README's "Batch form" item, as written there."""
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    text = f.read()
  block = text[text.index('- **Batch form**'):]
  block = block[block.index('```python\n') + len('```python\n'):]
  import textwrap
  return textwrap.dedent(block[:block.index('```')])


@pytest.mark.e2e
def test_the_readmes_batch_example_runs_and_samples_as_per_record(
    tmp_path, taxi_sample, monkeypatch):
  """README's batch example, run as a notebook cell is (its source known to
  linecache) on the taxi sample: the filter keeps exactly the timed trips,
  the sample is the per-record sample of the same key, computed here."""
  import collections
  import hashlib
  import linecache
  import struct

  import tensorflow as tf
  code = _readme_batch_example()
  assert "PipelineDef('taxi-batch')" in code and "'data/'" in code
  monkeypatch.chdir(tmp_path)  # its root: runs/ here
  code = code.replace("'data/'", repr(taxi_sample['data']))
  cell = '<readme-batch-cell>'
  linecache.cache[cell] = (len(code), None, code.splitlines(True), cell)
  namespace = {'PipelineDef': PipelineDef, '__name__': '__main__'}
  exec(compile(code, cell, 'exec'), namespace)
  result = namespace['pipeline'].run()
  assert set(result.states.values()) == {'COMPLETE'}, result.states
  steps = result.configuration['steps']
  assert steps['filter_examples']['batch'] is True
  assert steps['stratified_sample']['batch'] is True
  raw = result.component('CsvExampleGen').outputs['examples'][0]
  kept = result.component('FilterExamples').outputs[KEY][0]
  sample = result.component('StratifiedSample').outputs[KEY][0]

  def h(record):  # the step's hash: sha256(seed, canonical bytes)
    canonical = tf.train.Example.FromString(record).SerializeToString(
        deterministic=True)
    return hashlib.sha256(struct.pack('>q', 7) + canonical).digest()[:8]

  largest = 0
  for split in ('train', 'eval'):
    timed = [r for r in _records(raw, split)
             if (_features(r).get('trip_seconds') or [0])[0] > 0]
    assert 0 < len(timed) < len(_records(raw, split))
    assert collections.Counter(_records(kept, split)) == collections.Counter(
        timed)
    strata = collections.defaultdict(list)
    for record in timed:
      strata[(_features(record).get('trip_start_hour') or [-1])[0] // 6
             ].append(record)
    expected = [r for group in strata.values()
                for r in sorted(group, key=lambda r: (h(r), r))[:300]]
    largest = max(largest, *(len(g) for g in strata.values()))
    assert collections.Counter(_records(sample, split)) == \
        collections.Counter(expected)
  assert largest > 300  # some stratum was sampled, not kept whole
