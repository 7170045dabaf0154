"""PipelineDef.export: user functions as source, and a pipeline.py that
compiles to the same components with the same exec properties."""

import json
import os
import sys
import textwrap

import pytest
import taxi_utils  # examples/chicago_taxi, on sys.path (conftest)
from conftest import TAXI_MODULE
from ir import compile_ir, nodes, params

from fluent_pipeline import PipelineDef, PipelineDefinitionError, inputs
from fluent_pipeline.cli import main
from fluent_pipeline.project import pipeline_file as _pipeline_file
from fluent_pipeline.usercode import user_code as _user_code


def eval_config():
  from pipeline import eval_config as taxi_eval_config  # examples/chicago_taxi
  return taxi_eval_config()


def chain(root, data, **train):
  return (PipelineDef('exported', root=str(root)).from_csv(data)
          .generate_statistics().infer_schema().validate_input_data()
          .preprocess(taxi_utils.preprocessing_fn)
          .tune(taxi_utils.tuner_fn, train_args=10, eval_args=5)
          .train(taxi_utils.run_fn, train_args=100, eval_args=50, **train)
          .evaluate_model(eval_config()).infra_validate().push_to('serving')
          .bulk_infer(inputs.from_csv(data)).cache())


def load(path):
  return _pipeline_file.load(path).build({})


def exec_properties(pdef):
  return {node_id: params(node)
          for node_id, node in nodes(compile_ir(pdef.build())).items()}


@pytest.fixture
def clean_modules():
  """Exported modules are imported by name; forget them after the test."""
  before = set(sys.modules)
  path = list(sys.path)
  yield
  for name in set(sys.modules) - before:
    # An exported pipeline.py loaded before examples/chicago_taxi's
    # pipeline module was imported took its name.
    if name.endswith('_functions') or name in ('pipeline_exported',
                                               'pipeline'):
      del sys.modules[name]
  sys.path[:] = path


def test_exported_pipeline_has_the_same_exec_properties(
    tmp_path, taxi_csv_dir, clean_modules):
  original = chain(tmp_path / 'runs', taxi_csv_dir)
  pipeline_py = original.export(tmp_path / 'project')
  assert sorted(os.listdir(tmp_path / 'project')) == [
      'constraints.txt', 'exported_functions.py', 'pipeline.py',
      'requirements.txt']
  exported = load(pipeline_py)
  assert exec_properties(exported) == exec_properties(original)
  # The user code reached TFX as the same generated module, as source.
  trainer = exec_properties(original)['Trainer']
  with open(trainer['module_file']) as f:
    generated = f.read()
  assert 'cloudpickle' not in generated
  assert 'def run_fn(fn_args: FnArgs) -> None:' in generated
  assert 'import tensorflow as tf' in generated


def test_exported_functions_module_reads_like_source(tmp_path, taxi_csv_dir):
  chain(tmp_path / 'runs', taxi_csv_dir).export(tmp_path / 'project')
  text = (tmp_path / 'project' / 'exported_functions.py').read_text()
  # Imports as the module wrote them, its constants, helpers and entries.
  for line in ('import tensorflow_transform as tft',
               'from tfx.components.tuner.component import TunerFnResult',
               "LABEL = 'tips'", 'def _dense(x):',
               'def preprocessing_fn(inputs: Dict[str, tf.Tensor])',
               'def tuner_fn(fn_args: FnArgs) -> TunerFnResult:',
               'def run_fn(fn_args: FnArgs) -> None:'):
    assert line in text, line
  compile(text, 'exported_functions.py', 'exec')
  pipeline_text = (tmp_path / 'project' / 'pipeline.py').read_text()
  assert ('from exported_functions import preprocessing_fn, run_fn, '
          'tuner_fn') in pipeline_text
  assert ".train(run_fn, train_args=100, eval_args=50)" in pipeline_text
  assert "'label_key': 'tips_xf'," in pipeline_text  # the EvalConfig, as a dict
  requirements = (tmp_path / 'project' / 'requirements.txt').read_text()
  for dist in ('tfx==1.16.0', 'tensorflow==', 'tensorflow-transform==',
               'keras-tuner=='):
    assert dist in requirements, dist


def test_renamed_functions_keep_their_names(tmp_path, taxi_csv_dir,
                                            clean_modules):
  module = tmp_path / 'renamed_model.py'
  module.write_text(textwrap.dedent('''
      import tensorflow as tf

      SCALE = 2.5

      def scaled(x):
        return x * SCALE

      def my_preprocessing(inputs):
        return {k: scaled(v) for k, v in inputs.items()}
      '''))
  sys.path.insert(0, str(tmp_path))
  import renamed_model
  original = (PipelineDef('renamed', root=str(tmp_path / 'runs'))
              .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
              .preprocess(renamed_model.my_preprocessing))
  exported = load(original.export(tmp_path / 'project'))
  assert exec_properties(exported) == exec_properties(original)
  path = exec_properties(original)['Transform']['module_file']
  text = open(path).read()
  assert 'preprocessing_fn = my_preprocessing' in text
  assert 'SCALE = 2.5' in text and 'def scaled(x):' in text
  assert 'import tensorflow' not in text  # not used by the function
  namespace = {}
  exec(compile(text, path, 'exec'), namespace)
  assert namespace['preprocessing_fn']({'a': 2}) == {'a': 5.0}


def test_module_files_and_installed_code_are_referenced(
    tmp_path, taxi_csv_dir, clean_modules):
  from tfx.examples.chicago_taxi_pipeline import taxi_utils_native_keras as t
  original = (PipelineDef('refs', root=str(tmp_path / 'runs'))
              .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
              .preprocess(TAXI_MODULE).train(t.run_fn, train_args=5))
  project = tmp_path / 'project'
  exported = load(original.export(project))
  assert (project / 'user_modules' / 'taxi_utils.py').read_text() == open(
      TAXI_MODULE).read()
  ours = exec_properties(exported)
  theirs = exec_properties(original)
  assert ours['Trainer'] == theirs['Trainer']  # the same dotted path
  # The exported copy of the module is cut down to the same module, at the
  # same path, as the original's.
  assert ours['Transform'] == theirs['Transform']


def test_source_that_cannot_be_written_out_is_named(tmp_path, taxi_csv_dir):
  start = (PipelineDef('bad', root=str(tmp_path / 'runs'))
           .from_csv(taxi_csv_dir).generate_statistics().infer_schema())
  with pytest.raises(PipelineDefinitionError) as e:
    start.train(lambda fn_args: None).export(tmp_path / 'a')
  assert 'train()' in str(e.value) and 'lambda' in str(e.value)

  live = object()

  def run_fn(fn_args):
    return live, fn_args

  with pytest.raises(PipelineDefinitionError) as e:
    start.train(run_fn).export(tmp_path / 'b')
  message = str(e.value)
  assert 'run_fn' in message and "closes over 'live'" in message
  assert 'object' in message and 'fix:' in message
  assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()
  # It still runs locally: pickled, and recorded as such.
  code = _user_code.resolve(run_fn, fn_name='run_fn', step='train()',
                            pipeline_root=str(tmp_path / 'runs'))
  assert code.record()['written_as'] == 'cloudpickle'


def test_export_never_overwrites_other_content(tmp_path, taxi_csv_dir):
  project = tmp_path / 'project'
  project.mkdir()
  (project / 'pipeline.py').write_text('# my own work\n')
  pdef = (PipelineDef('keep', root=str(tmp_path / 'runs'))
          .from_csv(taxi_csv_dir).generate_statistics())
  with pytest.raises(PipelineDefinitionError) as e:
    pdef.export(project)
  assert 'already exist' in str(e.value)
  assert (project / 'pipeline.py').read_text() == '# my own work\n'
  assert sorted(os.listdir(project)) == ['pipeline.py']
  pdef.export(tmp_path / 'again')
  pdef.export(tmp_path / 'again')  # the same text again: fine


def test_cli_exports_a_pipeline_file(tmp_path, taxi_csv_dir, capsys,
                                     clean_modules):
  file = tmp_path / 'my_pipeline.py'
  file.write_text(textwrap.dedent(f'''
      from fluent_pipeline import PipelineDef

      STEPS = 7

      def run_fn(fn_args):
        return fn_args.train_steps * STEPS

      def create_pipeline(steps: int = 3):
        return (PipelineDef('clipipe', root={str(tmp_path / 'runs')!r})
                .from_csv({taxi_csv_dir!r}).generate_statistics()
                .infer_schema().train(run_fn, train_args=steps))
      '''))
  assert main(['export', str(file), '-o', str(tmp_path / 'out'),
               '--steps', '9']) == 0
  out = capsys.readouterr().out
  assert 'pipeline.py' in out and 'clipipe_functions.py' in out
  text = (tmp_path / 'out' / 'pipeline.py').read_text()
  assert 'train(run_fn, train_args=9)' in text
  assert 'with_parameters(steps=9)' in text
  functions = (tmp_path / 'out' / 'clipipe_functions.py').read_text()
  assert 'STEPS = 7' in functions


# ------------------------------------------------------- remote (URI) paths
BUCKET = 'gs://bucket/pipelines'


def test_every_path_argument_keeps_a_uri(tmp_path, monkeypatch):
  """Nothing is made absolute, looked for or created locally."""
  monkeypatch.chdir(tmp_path)
  pdef = (PipelineDef('remote', root=BUCKET)
          .from_csv('gs://bucket/data/')
          .generate_statistics().infer_schema()
          .with_imported_schema('gs://bucket/schema/schema.pbtxt')
          .preprocess('gs://bucket/code/taxi_utils.py')
          .train(taxi_utils.run_fn, train_args=5)
          .with_hyperparameters('s3://bucket/hp/')
          .with_base_model('hdfs://namenode/models/7')
          .push_to('serving')
          .bulk_infer(inputs.from_parquet('gs://bucket/unlabelled/')))
  assert pdef.pipeline_root == f'{BUCKET}/remote'
  assert pdef.metadata_path == f'{BUCKET}/remote/metadata.sqlite'
  pipeline = pdef.build()
  assert pipeline.pipeline_info.pipeline_root == f'{BUCKET}/remote'
  ir = compile_ir(pipeline)
  n = {k: params(v) for k, v in nodes(ir).items()}
  assert n['CsvExampleGen']['input_base'] == 'gs://bucket/data/'
  assert n['ImportSchemaGen']['schema_file'] == \
      'gs://bucket/schema/schema.pbtxt'
  assert n['Transform']['module_file'] == 'gs://bucket/code/taxi_utils.py'
  assert n['hyperparameters_importer']['artifact_uri'] == 's3://bucket/hp/'
  assert n['base_model_importer']['artifact_uri'] == \
      'hdfs://namenode/models/7'
  assert n['bulk_infer_example_gen']['input_base'] == 'gs://bucket/unlabelled/'
  assert json.loads(n['Pusher']['push_destination'])['filesystem'][
      'base_directory'] == f'{BUCKET}/remote/serving'
  config = json.loads(n['PipelineConfigurationGen']['configuration_json'])
  assert config['pipeline']['pipeline_root'] == f'{BUCKET}/remote'
  # The generated module of run_fn is local (TFX packages it into a wheel
  # under the remote root when it runs), and nothing was created here.
  assert not n['Trainer']['module_file'].startswith('gs:')
  assert os.listdir(tmp_path) == []
  text = json.dumps(n)
  assert str(tmp_path) not in text and 'gs:/bucket' not in text


def test_a_remote_sqlite_store_is_refused_at_run(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  pdef = (PipelineDef('remote', root=BUCKET).from_csv('gs://bucket/data/')
          .generate_statistics())
  with pytest.raises(PipelineDefinitionError) as e:
    pdef.run()
  assert 'sqlite needs a local file' in str(e.value)
  assert 'with_sqlite_ml_metadata' in str(e.value)
  assert os.listdir(tmp_path) == []


def test_export_of_a_remote_pipeline(tmp_path, clean_modules):
  original = (PipelineDef('remote', root=BUCKET)
              .from_csv('gs://bucket/data/').generate_statistics()
              .infer_schema().train(taxi_utils.run_fn, train_args=5))
  exported = load(original.export(tmp_path / 'project'))
  assert exported.pipeline_root == f'{BUCKET}/remote'
  assert exec_properties(exported) == exec_properties(original)
  with pytest.raises(PipelineDefinitionError) as e:
    original.export('gs://bucket/project')
  assert 'written locally' in str(e.value)


def test_other_sources_and_the_run_history_keep_a_uri(tmp_path, monkeypatch):
  from fluent_pipeline.recorded import history as run_history
  monkeypatch.chdir(tmp_path)
  for make, kind in ((PipelineDef.from_tfrecord, 'ImportExampleGen'),
                     (PipelineDef.from_avro, 'AvroExampleGen')):
    pdef = make(PipelineDef('remote', root=BUCKET), 's3://bucket/in/')
    n = {k: params(v) for k, v in nodes(compile_ir(
        pdef.generate_statistics().build())).items()}
    assert n[kind]['input_base'] == 's3://bucket/in/'
  with pytest.raises(LookupError, match='is remote'):
    run_history.runs(BUCKET)
  assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ secrets
SECRET = 'Planted-s3cret'

# How a chain holds a secret -> the environment variables its export reads
# (with the values that give the original chain back).
SECRET_CASES = {
    'beam flag=value': (
        lambda p: p.with_beam_pipeline_args(
            ['--direct_num_workers=2', f'--api_token={SECRET}']),
        {'API_TOKEN': SECRET}),
    'beam flag value': (
        lambda p: p.with_beam_pipeline_args(
            ['--api_token', SECRET, '--direct_num_workers=2']),
        {'API_TOKEN': SECRET}),
    'mysql password': (
        lambda p: p.with_mysql_ml_metadata(host='db.example.com', user='tfx',
                                           password=SECRET),
        {'MLMD_PASSWORD': SECRET}),
    'parameter': (
        lambda p: p.with_parameters(steps=3, db_password=SECRET),
        {'DB_PASSWORD': SECRET}),
    'config key': (
        lambda p: p.train(taxi_utils.run_fn, train_args=5,
                          custom_config={'api_key': SECRET, 'units': 8}),
        {'API_KEY': SECRET}),
    'one name, two secrets': (
        lambda p: p.with_beam_pipeline_args([f'--api_token={SECRET}'])
        .with_parameters(api_token=SECRET + '-2'),
        {'API_TOKEN': SECRET, 'API_TOKEN_2': SECRET + '-2'}),
    'one secret, two places': (
        lambda p: p.with_beam_pipeline_args([f'--api_key={SECRET}'])
        .train(taxi_utils.run_fn, train_args=5,
               custom_config={'api_key': SECRET}),
        {'API_KEY': SECRET}),
}


@pytest.mark.parametrize('case', list(SECRET_CASES))
def test_export_reads_secrets_from_the_environment(
    case, tmp_path, taxi_csv_dir, clean_modules, monkeypatch):
  add, environment = SECRET_CASES[case]
  original = add(PipelineDef('secrets', root=str(tmp_path / 'runs'))
                 .from_csv(taxi_csv_dir).generate_statistics().infer_schema())
  project = tmp_path / 'project'
  pipeline_py = original.export(project)
  # The secret is nowhere in the project, nor in the repr.
  files = [p for p in project.rglob('*') if p.is_file()]
  assert files
  for path in files:
    assert SECRET.encode() not in path.read_bytes(), path
  assert SECRET not in repr(original)
  # pipeline.py reads each from a variable its docstring names.
  text = open(pipeline_py).read()
  documented = text.split('"""')[1].split('must be set to run or '
                                           'compile it:\n')[1]
  assert [line.split()[0] for line in documented.splitlines()] == list(
      environment)
  for variable in environment:
    assert f'os.environ[{variable!r}]' in text, variable
  for variable in environment:
    monkeypatch.delenv(variable, raising=False)
  with pytest.raises(KeyError, match=next(iter(environment))):
    load(pipeline_py)
  # With the variables set, it builds what the original does.
  for variable, value in environment.items():
    monkeypatch.setenv(variable, value)
  exported = load(pipeline_py)
  assert exec_properties(exported) == exec_properties(original)
  ours, theirs = exported.build(), original.build()
  assert ours.beam_pipeline_args == theirs.beam_pipeline_args
  assert ours.metadata_connection_config == \
      theirs.metadata_connection_config
  assert exported._plan.parameters == original._plan.parameters


def test_pipeline_py_makes_the_calls_the_repr_shows(tmp_path, taxi_csv_dir):
  """One writer: the same calls, in the same order, the same arguments
  left out as the defaults."""
  pdef = (chain(tmp_path / 'runs', taxi_csv_dir)
          .with_beam_pipeline_args(['--direct_num_workers=2'])
          .with_parameters(lr=0.1).record_configuration(False))
  text = open(pdef.export(tmp_path / 'project')).read()
  written = text.split('pipeline = (\n')[1].split('\n)\n')[0]

  def calls(lines):
    return [line.strip().lstrip('(.').split('(')[0] for line in lines]
  assert calls(written.splitlines()) == calls(repr(pdef).splitlines())
  for shown in ('.infra_validate()', '.push_to(\'serving\')',
                ".with_beam_pipeline_args(['--direct_num_workers=2'])",
                '.with_parameters(lr=0.1)', '.record_configuration(False)'):
    assert shown in written and shown in repr(pdef), shown
