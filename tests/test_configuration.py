"""The PipelineConfiguration a built pipeline records: what it holds, what it
masks, what changes it; and the parameters of a pipeline file."""

import importlib.util
import json
import os

import pytest
from conftest import TAXI_DIR, TAXI_MODULE

from fluent_pipeline import PipelineDef, PipelineDefinitionError
from fluent_pipeline.dsl import configuration as _configuration
from fluent_pipeline.project import pipeline_file as _pipeline_file
from fluent_pipeline.recorded import diff as _run_diff
from fluent_pipeline.recorded.results import RunResult


def configuration(pdef):
  for component in pdef.build().components:
    if component.id == 'PipelineConfigurationGen':
      return json.loads(component.exec_properties['configuration_json'])
  return None


@pytest.fixture
def chain(tmp_path, taxi_csv_dir):
  return (PipelineDef('cfg', root=str(tmp_path)).from_csv(taxi_csv_dir)
          .generate_statistics().infer_schema().preprocess(TAXI_MODULE)
          .train(TAXI_MODULE, train_args=100, eval_args=10))


def test_records_every_call_its_arguments_code_and_versions(chain,
                                                            taxi_csv_dir):
  from tfx.components.util import udf_utils
  config = configuration(chain.with_parameters(train_steps=100))
  assert config['pipeline']['name'] == 'cfg'
  assert config['source'] == {'kind': 'csv', 'location': taxi_csv_dir,
                              'reader': 'columnar'}
  assert list(config['steps']) == ['generate_statistics', 'infer_schema',
                                   'preprocess', 'train']
  train = config['steps']['train']
  assert train['train_args'] == 100 and train['eval_args'] == 10
  assert config['steps']['infer_schema']['infer_feature_shape'] is True
  assert config['parameters'] == {'train_steps': 100}
  # The user code: TFX's own content hash (the one in its wheel's name) of
  # what TFX packages for each step: the module cut down to the code that
  # step uses, beside the folder's other files as they are.
  built = chain.with_parameters(train_steps=100).build()
  shas = {}
  for call, fn_name, component_id in (
      ('preprocess', 'preprocessing_fn', 'Transform'),
      ('train', 'run_fn', 'Trainer')):
    sha = config['steps'][call][fn_name]['user_code']
    code = config['user_code'][sha]
    assert code['given_as'] == 'module_file'
    assert code['location'] == TAXI_MODULE
    assert code['sliced']['for'] == fn_name
    [component] = [c for c in built.components if c.id == component_id]
    folder = os.path.dirname(component.exec_properties['module_file'])
    assert sha == udf_utils._get_version_hash(folder, list(code['files']))
    assert f'def {fn_name}(' in code['files']['taxi_utils.py']
    with open(os.path.join(TAXI_DIR, 'taxi_data.py')) as f:
      assert code['files']['taxi_data.py'] == f.read()
    shas[call] = sha
  assert shas['preprocess'] != shas['train']
  for package in ('fluent_pipeline', 'tfx', 'tensorflow',
                  'tensorflow_transform', 'tensorflow_model_analysis',
                  'tensorflow_data_validation', 'apache_beam'):
    assert config['versions'][package][0].isdigit(), package
  assert config['settings']['metadata'] == {
      'sqlite': os.path.join(chain.pipeline_root, 'metadata.sqlite')}


def test_same_chain_same_bytes_and_a_change_shows(chain):
  def node(p):
    return [c for c in p.build().components
                      if c.id == 'PipelineConfigurationGen'][0]
  same = node(chain).exec_properties['configuration_json']
  assert node(chain).exec_properties['configuration_json'] == same
  other = node(chain.train(TAXI_MODULE, train_args=101, eval_args=10))
  assert other.exec_properties['configuration_json'] != same


def test_secrets_are_masked_and_collected(chain):
  pdef = (chain.with_beam_pipeline_args(
      ['--direct_num_workers=1', '--s3_secret_access_key=Planted-1',
       '--api_token', 'Planted-2'])
          .with_mysql_ml_metadata(password='Planted-3', user='tfx')
          .tune(TAXI_MODULE, custom_config={'db_password': 'Planted-4',
                                            'max_trials': 1}))
  text = json.dumps(configuration(pdef))
  for planted in ('Planted-1', 'Planted-2', 'Planted-3', 'Planted-4'):
    assert planted not in text
  config = json.loads(text)
  assert config['settings']['beam_pipeline_args'] == [
      '--direct_num_workers=1', '--s3_secret_access_key=***', '--api_token',
      '***']
  assert config['settings']['metadata']['mysql']['password'] == '***'
  assert config['settings']['metadata']['mysql']['user'] == 'tfx'
  assert config['steps']['tune']['custom_config'] == {
      'db_password': '***', 'max_trials': 1}
  assert _configuration.secrets_of(pdef._plan) == {
      'Planted-1', 'Planted-2', 'Planted-3', 'Planted-4'}


def test_turned_off_there_is_no_configuration_node(chain):
  assert configuration(chain) is not None
  assert configuration(chain.record_configuration(False)) is None


def test_a_changed_line_in_a_function_changes_hash_and_diff(tmp_path,
                                                            taxi_csv_dir):
  base = (PipelineDef('fn', root=str(tmp_path)).from_csv(taxi_csv_dir)
          .generate_statistics().infer_schema())
  source = tmp_path / 'my_model.py'
  configs = []
  for i, line in enumerate(('return steps', 'return [steps]')):
    source.write_text(f'def run_fn(fn_args):\n  steps = fn_args\n  {line}\n')
    spec = importlib.util.spec_from_file_location(f'my_model_{i}', source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    configs.append(configuration(base.train(module.run_fn, train_args=5)))
  shas = [c['steps']['train']['run_fn']['user_code'] for c in configs]
  assert shas[0] != shas[1]
  assert configs[1]['user_code'][shas[1]]['source'] == \
      'def run_fn(fn_args):\n  steps = fn_args\n  return [steps]\n'
  runs = [RunResult('fn', f'run-{i}', '', [], configuration=c)
          for i, c in enumerate(configs)]
  diff = _run_diff.compare(*runs)
  assert [c.where for c in diff.user_code] == ['train.run_fn']
  assert not diff.parameters and not diff.arguments and not diff.versions
  text = str(diff)
  assert f'train.run_fn: {shas[0][:12]} -> {shas[1][:12]}' in text
  assert '-  return steps' in text and '+  return [steps]' in text


def test_a_remote_root_stays_remote(taxi_csv_dir):
  pdef = (PipelineDef('remote', root='gs://bucket/runs').from_csv(taxi_csv_dir)
          .generate_statistics().infer_schema()
          .train(TAXI_MODULE, train_args=5).push_to('serving'))
  assert pdef.pipeline_root == 'gs://bucket/runs/remote'
  built = pdef.build()
  assert built.pipeline_info.pipeline_root == 'gs://bucket/runs/remote'
  pusher = [c for c in built.components if c.id == 'Pusher'][0]
  assert 'gs://bucket/runs/remote/serving' in pusher.exec_properties[
      'push_destination']


PIPELINE_FILE = '''
import pathlib
from fluent_pipeline import PipelineDef

def create_pipeline(data: str, steps: int = 10, rate=0.5, deep: bool = False,
                    out: pathlib.Path = pathlib.Path('x'), name='p'):
  return PipelineDef(name, root=str(out)).from_csv(data)
'''


def test_parameters_are_typed_bound_and_recorded(tmp_path, taxi_csv_dir):
  path = tmp_path / 'typed_pipeline.py'
  path.write_text(PIPELINE_FILE)
  loaded = _pipeline_file.load(str(path))
  assert {n: p.type for n, p in loaded.parameters.items()} == {
      'data': 'str', 'steps': 'int', 'rate': 'float', 'deep': 'bool',
      'out': 'path', 'name': 'str'}
  pdef = loaded.build({'data': taxi_csv_dir, 'steps': '30', 'rate': '1e-3',
                       'deep': 'yes', 'out': str(tmp_path / 'o')})
  assert pdef._plan.parameters == {
      'data': taxi_csv_dir, 'steps': 30, 'rate': 0.001, 'deep': True,
      'out': str(tmp_path / 'o'), 'name': 'p'}
  assert pdef.pipeline_root == str(tmp_path / 'o' / 'p')


@pytest.mark.parametrize('assignments, message', [
    ({'stepz': '1', 'data': 'd'}, "unknown parameter 'stepz'"),
    ({'steps': '1.5', 'data': 'd'}, "steps takes an int, got '1.5'"),
    ({'rate': 'fast', 'data': 'd'}, "rate takes a float, got 'fast'"),
    ({'deep': 'maybe', 'data': 'd'}, "deep takes a bool, got 'maybe'"),
    ({}, 'parameter(s) data have no default'),
])
def test_bad_parameters_are_named(tmp_path, assignments, message):
  path = tmp_path / 'bad_params_pipeline.py'
  path.write_text(PIPELINE_FILE)
  with pytest.raises(PipelineDefinitionError) as e:
    _pipeline_file.load(str(path)).build(assignments)
  assert message in str(e.value)
  if 'unknown' in message:
    assert 'steps (int, default 10)' in str(e.value)


def test_assignments_from_set_and_dashed_flags():
  assert _pipeline_file.split_assignments(
      ['train_steps=3', 'x=a=b'], ['--learning-rate', '0.1', '--deep=true']
  ) == {'train_steps': '3', 'x': 'a=b', 'learning_rate': '0.1',
        'deep': 'true'}
  with pytest.raises(SystemExit, match='expected name=value'):
    _pipeline_file.split_assignments(['oops'], [])


def test_a_tfx_runtime_parameter_becomes_a_kubeflow_pipeline_parameter(
    tmp_path, taxi_csv_dir):
  """Bound at submission on Kubeflow V2 / Vertex; its default elsewhere."""
  import json as json_

  from tfx.orchestration import data_types
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2
  steps = data_types.RuntimeParameter(name='train_args', ptype=str,
                                      default='{"num_steps": 100}')
  pdef = (PipelineDef('rp', root=str(tmp_path / 'root'))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .train(TAXI_MODULE, train_args=steps, eval_args=5))
  assert configuration(pdef)['steps']['train']['train_args'] == {
      'runtime_parameter': 'train_args', 'type': 'str',
      'default': '{"num_steps": 100}'}
  kfv2.KubeflowV2DagRunner(
      config=kfv2.KubeflowV2DagRunnerConfig(default_image='image'),
      output_dir=str(tmp_path), output_filename='job.json').run(pdef.build())
  job = json_.loads((tmp_path / 'job.json').read_text())
  assert job['pipelineSpec']['root']['inputDefinitions']['parameters'][
      'train_args'] == {'type': 'STRING'}
  with pytest.raises(PipelineDefinitionError, match='no RuntimeParameter'):
    pdef.evaluate_model(data_types.RuntimeParameter(
        name='e', ptype=str, default='{}'))


def test_from_run_leaves_out_masked_beam_flags_and_their_values(
    taxi_csv_dir, tmp_path):
  """A secret flag recorded as '--name ***' comes back as neither: a flag
  left without its value would swallow the next flag."""
  from fluent_pipeline.recorded import replay
  pdef = (PipelineDef('beam_secrets', root=str(tmp_path)).from_csv(
      taxi_csv_dir).generate_statistics().with_beam_pipeline_args(
          ['--api_token', 'Planted-s3cret', '--direct_num_workers=2',
           '--password=Planted-s3cret', '--job_name', 'nightly']))
  config = json.loads(_configuration.dumps(_configuration.build(
      pdef._plan, {}, runner=None)))
  assert 'Planted-s3cret' not in json.dumps(config)
  rebuilt = replay.rebuild(config, 'run-1')
  assert list(rebuilt._plan.beam_pipeline_args) == [
      '--direct_num_workers=2', '--job_name', 'nightly']


def test_from_run_refuses_a_step_whose_secret_was_masked(taxi_csv_dir,
                                                        tmp_path):
  """Passing the mask on would run the step with '***' as the secret."""
  from fluent_pipeline.recorded import replay
  pdef = (PipelineDef('step_secret', root=str(tmp_path)).from_csv(
      taxi_csv_dir).generate_statistics().infer_schema()
          .train(TAXI_MODULE, train_args=10, eval_args=5,
                 custom_config={'api_key': 'Planted-s3cret', 'n': 1})
          .with_parameters(db_password='Planted-s3cret', lr=0.5))
  config = json.loads(_configuration.dumps(_configuration.build(
      pdef._plan, {}, runner=None)))
  assert 'Planted-s3cret' not in json.dumps(config)
  with pytest.raises(PipelineDefinitionError,
                     match=r"train\(\) a secret \(custom_config\['api_key'\]\)"):
    replay.rebuild(config, 'run-1')
  # without that step, the masked parameter comes back as recorded
  del config['steps']['train']
  rebuilt = replay.rebuild(config, 'run-1')
  assert dict(rebuilt._plan.parameters) == {'db_password': '***', 'lr': 0.5}


def test_an_unset_csv_reader_is_the_default_as_built_and_recorded(
    taxi_csv_dir):
  """A Source made directly (a public dataclass) builds the columnar reader,
  so it records that reader; a configuration without one is TFX's, which
  runs recorded before the columnar reader used."""
  from fluent_pipeline.dsl import configuration as config_json
  from fluent_pipeline.dsl import inputs
  from fluent_pipeline.recorded import replay
  source = inputs.Source(kind='csv', location=taxi_csv_dir)
  assert source.reader == 'columnar'
  assert config_json.source_json(source, set())['reader'] == 'columnar'
  assert type(source.make_component()).__name__ == 'ColumnarCsvExampleGen'
  old = replay.source_from_json({'kind': 'csv', 'location': taxi_csv_dir},
                                'r1')
  assert old.reader == 'tfx'
  assert 'reader' not in config_json.source_json(old, set())
  assert type(old.make_component()).__name__ == 'CsvExampleGen'
