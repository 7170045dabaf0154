"""PipelineDef.export: user functions as source, and a pipeline.py that
compiles to the same components with the same exec properties."""

import json
import os
import pathlib
import re
import sys
import tempfile
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
  assert 'def create_pipeline(steps: int = 9):' in text
  assert 'train(run_fn, train_args=steps)' in text
  assert 'with_parameters' not in text  # create_pipeline() records them
  functions = (tmp_path / 'out' / 'clipipe_functions.py').read_text()
  assert 'STEPS = 7' in functions


def test_export_keeps_create_pipeline_and_its_parameters(
    tmp_path, taxi_csv_dir, capsys, clean_modules):
  """The taxi example's create_pipeline(...): each parameter goes where it
  went, with the value used as its default, so the exported pipeline.py
  builds the same components with the same exec properties and takes
  --set; one that the chain uses in a computed value or a condition is
  kept at its value, and another value is refused, not ignored."""
  from conftest import TAXI_DIR
  unlabelled = os.path.join(os.path.dirname(taxi_csv_dir), 'data_unlabelled')
  example = os.path.join(TAXI_DIR, 'pipeline.py')
  given = ['--set', f'data_dir={taxi_csv_dir}', '--set',
           f'unlabelled_dir={unlabelled}', '--set', f'root={tmp_path / "r"}',
           '--train-steps', '77', '--set', 'name=taxi-exported']
  assert main(['export', example, '-o', str(tmp_path / 'out'), *given]) == 0
  err = capsys.readouterr().err
  text = (tmp_path / 'out' / 'pipeline.py').read_text()
  for line in ('def create_pipeline(', '        train_steps: int = 77,',
               f'        data_dir: str = {taxi_csv_dir!r},',
               "        name: str = 'taxi-exported',",
               "        infra_validation: str = 'local',",
               'PipelineDef(name, root=root)', '.from_csv(data_dir)',
               "train_args=train_steps, eval_args=eval_steps)",
               "custom_config={'max_trials': max_trials}",
               '.bulk_infer(inputs.from_csv(unlabelled_dir))',
               '    if tune_steps != 100:',
               "    if infra_validation != 'local':"):
    assert line in text, line
  # tune_steps goes into eval_args=max(1, tune_steps // 4) too: fixed.
  assert 'parameter tune_steps of create_pipeline() is fixed at 100' in err
  exported_file = _pipeline_file.load(str(tmp_path / 'out' / 'pipeline.py'))
  assert list(exported_file.parameters) == [
      'root', 'data_dir', 'unlabelled_dir', 'train_steps', 'eval_steps',
      'tune_steps', 'max_trials', 'name', 'infra_validation']
  assert exported_file.parameters['train_steps'].default == 77
  # The parameters are read from its syntax too (before it runs).
  declared = _pipeline_file.declared(str(tmp_path / 'out' / 'pipeline.py'))
  assert declared.parameters['train_steps'].default == 77
  original = _pipeline_file.load(example).build(
      {k.split('=')[0]: k.split('=', 1)[1] for k in given[1::2]
       if '=' in k} | {'train_steps': '77'})
  exported = exported_file.build({})
  ours, theirs = exec_properties(exported), exec_properties(original)
  # The configuration records where the module file is (now the copy).
  ours_config = json.loads(ours.pop('PipelineConfigurationGen')[
      'configuration_json'])
  theirs_config = json.loads(theirs.pop('PipelineConfigurationGen')[
      'configuration_json'])
  assert ours == theirs
  for key in ('parameters', 'steps', 'source', 'settings'):
    assert ours_config[key] == theirs_config[key], key
  assert list(exported._plan.parameters.items()) == list(
      original._plan.parameters.items())
  changed = exported_file.build({'train_steps': '5', 'max_trials': '3'})
  trainer = changed._plan.steps['trainer'].args
  assert trainer['train_args'] == 5 and trainer['eval_args'] == 150
  assert changed._plan.steps['tuner'].args['custom_config'] == {
      'max_trials': 3}
  assert changed._plan.parameters['train_steps'] == 5
  with pytest.raises(PipelineDefinitionError) as raised:
    exported_file.build({'tune_steps': '8'})
  assert 'tune_steps is fixed at 100' in str(raised.value)


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


SECRET_FILE = textwrap.dedent('''
    from fluent_pipeline import PipelineDef

    def create_pipeline(api_token: str = 'unset', db_password: str = 'unset',
                        steps: int = 3):
      return (PipelineDef('secret-files', root='gs://bucket/runs')
              .from_csv('gs://bucket/data/').generate_statistics()
              .with_beam_pipeline_args(['--api_token', api_token,
                                        f'--auth_secret={api_token}-b'])
              .with_mysql_ml_metadata(host='db.example.com', user='tfx',
                                      password=db_password)
              .with_parameters(token=api_token + '-c', steps=steps))
    ''')


def test_no_file_export_or_compile_writes_holds_a_secret(
    tmp_path, capsys, clean_modules):
  """Secrets planted in every form the configuration masks (a Beam flag
  and its value, `--flag=value`, a parameter given with --set, a
  with_parameters value, the ML Metadata password), through every command
  that writes files: export, compile for local (the IR), kubeflow_v2 and
  vertex (the spec and the image's build context) and airflow (the DAG
  file and its compiled pipeline). Each either writes them read from the
  environment or refuses before writing; no file and no message holds
  one."""
  file = tmp_path / 'secret_pipeline.py'
  file.write_text(SECRET_FILE)
  sets = ['--set', f'api_token={SECRET}', '--set', f'db_password={SECRET}-d']
  outputs = {
      'export': (['export', str(file), '-o', str(tmp_path / 'export')], 0),
      'local': (['compile', str(file), '--runner', 'local', '-o',
                 str(tmp_path / 'ir' / 'ir.json')], 2),  # the MLMD password
      'kubeflow_v2': (['compile', str(file), '--runner', 'kubeflow_v2',
                       '--image', 'gcr.io/p/s:1', '-o',
                       str(tmp_path / 'kubeflow_v2')], 0),
      'vertex': (['compile', str(file), '--runner', 'vertex', '--image',
                  'gcr.io/p/s:1', '-o', str(tmp_path / 'vertex')], 2),
      'airflow': (['compile', str(file), '--runner', 'airflow', '-o',
                   str(tmp_path / 'dags')], 2),
  }
  said = {}
  for label, (argv, code) in outputs.items():
    assert main(argv + sets) == code, (label, capsys.readouterr().err)
    said[label] = capsys.readouterr()
    assert SECRET not in said[label].out + said[label].err, label
  assert 'with_mysql_ml_metadata(password=...) holds a secret' in said[
      'local'].err
  assert 'the Beam flag --api_token holds a secret' in said['vertex'].err
  assert 'api_token is a secret' in said['airflow'].err
  files = [p for p in tmp_path.rglob('*') if p.is_file() and p != file]
  assert {p.relative_to(tmp_path).parts[0] for p in files} == {
      'export', 'kubeflow_v2'}
  for path in files:
    assert SECRET.encode() not in path.read_bytes(), path
  # Each reads its secrets from the environment.
  exported = (tmp_path / 'export' / 'pipeline.py').read_text()
  for variable in ('API_TOKEN', 'AUTH_SECRET', 'MLMD_PASSWORD'):
    assert f"os.environ[{variable!r}]" in exported, variable
  assert "api_token: str = os.environ.get('API_TOKEN')" in exported
  spec = (tmp_path / 'kubeflow_v2' / 'pipeline.json').read_text()
  assert '"--api_token", "$(API_TOKEN)", "--auth_secret=$(AUTH_SECRET)"' \
      in spec
  assert "os.environ['API_TOKEN']" in (
      tmp_path / 'kubeflow_v2' / 'app' / 'pipeline.py').read_text()
  # A file holding its secrets itself: what the Airflow compile writes (the
  # DAG file, its compiled pipeline, the log of the build) holds none.
  own = tmp_path / 'own_secrets.py'
  own.write_text(SECRET_FILE.replace("'unset'", repr(SECRET)))
  dags = tmp_path / 'own_dags'
  main(['compile', str(own), '--runner', 'airflow', '-o', str(dags)])
  said = capsys.readouterr()
  assert SECRET not in said.out + said.err
  logs = [os.path.join(tempfile.gettempdir(), 'fluent_pipeline_logs',
                       'compile-airflow-secret-files.log')]
  for path in [*dags.rglob('*'), *map(pathlib.Path, logs)]:
    if path.is_file():
      assert SECRET.encode() not in path.read_bytes(), path


# --------------------------------------------------- notebook components
NOTEBOOK_CELLS = [
    'from tfx.dsl.component.experimental.annotations import (\n'
    '    InputArtifact, OutputArtifact, Parameter)\n'
    'from tfx.dsl.component.experimental.decorators import component\n'
    'from tfx.dsl.components.base import base_component, base_executor\n'
    'from tfx.dsl.components.base import executor_spec\n'
    'from tfx.types import standard_artifacts\n'
    'from tfx.types.component_spec import (\n'
    '    ChannelParameter, ComponentSpec, ExecutionParameter)\n'
    'from fluent_pipeline import PipelineDef\n'
    'LIMIT = 5\n',
    '@component\n'
    'def CountRows(examples: InputArtifact[standard_artifacts.Examples],\n'
    '              report: OutputArtifact[standard_artifacts.String],\n'
    '              limit: Parameter[int] = LIMIT):\n'
    "  with open(report.uri + '/count', 'w') as f:\n"
    '    f.write(str(limit))\n',
    'class NoteSpec(ComponentSpec):\n'
    "  PARAMETERS = {'text': ExecutionParameter(type=str)}\n"
    "  INPUTS = {'statistics': ChannelParameter(\n"
    '      type=standard_artifacts.ExampleStatistics)}\n'
    '  OUTPUTS = {}\n\n\n'
    'class NoteExecutor(base_executor.BaseExecutor):\n'
    '  def Do(self, input_dict, output_dict, exec_properties):\n'
    "    print(exec_properties['text'])\n\n\n"
    'class Note(base_component.BaseComponent):\n'
    '  SPEC_CLASS = NoteSpec\n'
    '  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(NoteExecutor)\n\n'
    '  def __init__(self, statistics, text):\n'
    '    super().__init__(spec=NoteSpec(statistics=statistics, text=text))\n'
    '\n\n'
    'def make_note(statistics):\n'
    "  return Note(statistics=statistics, text='counted')\n",
    "small = (PipelineDef('nbcomp', root='gs://bucket/runs')\n"
    "         .from_csv('gs://bucket/data/'))\n"
    'pipeline = (small.generate_statistics().add_component(CountRows)\n'
    '            .add_component(make_note))\n',
    "pipeline.export('exported')\n",
]


def write_notebook(path, cells):
  import nbformat
  notebook = nbformat.v4.new_notebook(
      cells=[nbformat.v4.new_code_cell(c) for c in cells])
  nbformat.write(notebook, str(path))
  return str(path)


def executor_paths(pdef):
  """Component id -> the class path of its executor, as TFX compiles it."""
  from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
  config = pipeline_pb2.IntermediateDeploymentConfig()
  compile_ir(pdef.build()).deployment_config.Unpack(config)
  found = {}
  for node, spec in config.executor_specs.items():
    python = executable_spec_pb2.PythonClassExecutableSpec()
    if spec.Unpack(python):
      found[node] = python.class_path
  return found


def test_components_defined_in_a_notebook_are_exported_as_source(
    tmp_path, clean_modules):
  """A @component function, a component class and a function making one,
  all defined in cells: written into the functions module as source; the
  exported pipeline.py builds them with the same exec properties."""
  from fluent_pipeline.project import export as _export
  from fluent_pipeline.project import notebook as _notebook
  path = write_notebook(tmp_path / 'components.ipynb', NOTEBOOK_CELLS)
  pdef = _notebook.load(path)
  assert len(pdef._plan.extra_components) == 2
  project = _export.make(pdef._plan)
  functions = project.files['nbcomp_functions.py']
  for line in ('@component\ndef CountRows(examples: InputArtifact[',
               'LIMIT = 5', 'class NoteSpec(ComponentSpec):',
               'class NoteExecutor(base_executor.BaseExecutor):',
               'class Note(base_component.BaseComponent):',
               'def make_note(statistics):',
               'from tfx.dsl.component.experimental.decorators import '
               'component'):
    assert line in functions, line
  assert 'from nbcomp_functions import CountRows, make_note' in project.files[
      'pipeline.py']
  assert any('add_component(CountRows): defined in the notebook' in note
             and 'runs it again' in note for note in project.notes)
  exported = load(_export.write(project, str(tmp_path / 'project')))
  assert exec_properties(exported) == exec_properties(pdef)
  assert exec_properties(exported)['Note'] == {'text': 'counted'}
  theirs, ours = executor_paths(pdef), executor_paths(exported)
  assert theirs['CountRows'].startswith('__fluent_notebook_')
  assert ours['CountRows'] == 'nbcomp_functions.CountRows_Executor'
  assert ours['Note'] == 'nbcomp_functions.NoteExecutor'


def test_the_vertex_compile_carries_notebook_components(tmp_path):
  """Their executors are named through the image's content-hashed module,
  which imports them from the build context: an edit of the component
  changes the spec, so Vertex's cache never serves older outputs."""
  import subprocess

  from fluent_pipeline.orchestration import compile as compile_
  from fluent_pipeline.project import notebook as _notebook
  names = []
  for limit in (5, 6):
    cells = list(NOTEBOOK_CELLS)
    cells[0] = cells[0].replace('LIMIT = 5', f'LIMIT = {limit}')
    path = write_notebook(tmp_path / 'components.ipynb', cells)
    out = tmp_path / 'build'
    compile_.write_image_build(_notebook.load(path), 'vertex', str(out),
                               image='gcr.io/p/nb:1')
    spec = (out / 'pipeline.json').read_text()
    assert '__fluent_notebook' not in spec and '__main__' not in spec
    paths = set(re.findall(r'"(fluent_code_[0-9a-f]{16}\.\w+)"', spec))
    assert {p.split('.')[1] for p in paths} == {'CountRows_Executor',
                                                'NoteExecutor'}
    names.append(next(iter(paths)).split('.')[0])
  assert names[0] != names[1]
  check = subprocess.run(
      [sys.executable, '-c', textwrap.dedent('''
          import importlib, sys
          from tfx.dsl.components.base import base_executor
          for path in sys.argv[1:]:
            module, _, name = path.rpartition('.')
            executor = getattr(importlib.import_module(module), name)
            assert issubclass(executor, base_executor.BaseExecutor), path
            print(path, executor.__module__,
                  sys.modules[executor.__module__].__file__)
          ''')] + sorted(paths),
      env={**os.environ, 'PYTHONPATH': f'{out / "app"}:{out / "src"}',
           'TF_CPP_MIN_LOG_LEVEL': '3'},
      cwd='/', capture_output=True, text=True, timeout=300)
  assert check.returncode == 0, check.stderr[-3000:]
  assert f'nbcomp_functions {out}/app/nbcomp_functions.py' in check.stdout


MAIN_SCRIPT = textwrap.dedent('''
    """A prototype run as a script: its component is defined in __main__."""
    import json
    import sys

    from tfx.dsl.compiler import compiler
    from tfx.dsl.component.experimental.annotations import (
        InputArtifact, Parameter)
    from tfx.dsl.component.experimental.decorators import component
    from tfx.types import standard_artifacts

    from fluent_pipeline import PipelineDef

    THRESHOLD = 0.25


    @component
    def CheckStatistics(
        statistics: InputArtifact[standard_artifacts.ExampleStatistics],
        threshold: Parameter[float] = THRESHOLD):
      del statistics
      assert threshold > 0


    def check_statistics(statistics):
      return CheckStatistics(statistics=statistics, threshold=THRESHOLD)


    pipeline = (PipelineDef('mainpipe', root='gs://bucket/runs')
                .from_csv('gs://bucket/data/').generate_statistics()
                .add_component(check_statistics))
    node = next(n.pipeline_node for n in compiler.Compiler().compile(
        pipeline.build()).nodes
                if n.pipeline_node.node_info.id == 'CheckStatistics')
    print(json.dumps({
        'module': CheckStatistics.__module__,
        'threshold': node.parameters.parameters[
            'threshold'].field_value.double_value}))
    pipeline.export(sys.argv[1])
    ''')


def test_a_component_defined_in_main_is_exported(tmp_path):
  """A script's @component (module __main__), added through a function
  making it, goes into the export; the
  exported pipeline.py, compiled in a fresh process, has it with the same
  exec properties, its executor imported from the functions module."""
  import subprocess
  script = tmp_path / 'prototype.py'
  script.write_text(MAIN_SCRIPT)
  env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
  made = subprocess.run([sys.executable, str(script), str(tmp_path / 'out')],
                        capture_output=True, text=True, timeout=300, env=env,
                        cwd=str(tmp_path))
  assert made.returncode == 0, made.stderr[-3000:]
  original = json.loads(made.stdout.strip().splitlines()[-1])
  assert original == {'module': '__main__', 'threshold': 0.25}
  functions = (tmp_path / 'out' / 'mainpipe_functions.py').read_text()
  assert '@component\ndef CheckStatistics(' in functions
  assert 'def check_statistics(statistics):' in functions
  assert 'THRESHOLD = 0.25' in functions
  cli = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')
  ir_path = tmp_path / 'ir.json'
  compiled = subprocess.run(
      [cli, 'compile', str(tmp_path / 'out' / 'pipeline.py'), '--runner',
       'local', '-o', str(ir_path)], capture_output=True, text=True,
      timeout=300, env=env, cwd='/')
  assert compiled.returncode == 0, compiled.stderr[-3000:]
  ir = json.loads(ir_path.read_text())
  node = next(n['pipeline_node'] for n in ir['nodes']
              if n['pipeline_node']['node_info']['id'] == 'CheckStatistics')
  assert node['parameters']['parameters']['threshold']['field_value'] == {
      'double_value': 0.25}
  assert 'mainpipe_functions.CheckStatistics_Executor' in ir_path.read_text()
  assert '__main__' not in ir_path.read_text()


def test_exporting_a_notebook_with_two_chains_says_which_it_took(
    tmp_path, capsys, clean_modules):
  path = write_notebook(tmp_path / 'two.ipynb', NOTEBOOK_CELLS)
  assert main(['export', path, '-o', str(tmp_path / 'a')]) == 0
  err = capsys.readouterr().err
  assert ('note: two.ipynb: took the PipelineDef pipeline, whose run() or '
          'export() in cell 5 is the first; the notebook also holds small: '
          'pick one with --name small') in err
  assert main(['export', path, '--name', 'small', '-o',
               str(tmp_path / 'b')]) == 0
  assert 'took the PipelineDef' not in capsys.readouterr().err
  text = (tmp_path / 'b' / 'pipeline.py').read_text()
  assert '.from_csv(' in text and 'generate_statistics' not in text
  assert main(['export', path, '--name', 'nothing', '-o',
               str(tmp_path / 'c')]) == 2
  assert 'pass --name with the variable holding the chain: small, ' \
      'pipeline' in capsys.readouterr().err
