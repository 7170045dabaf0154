"""The command line, through its entry point: show, compile, parameters,
errors and --help (run, runs and diff on real runs: test_run_history)."""

import json
import os
import subprocess
import sys

import pytest
import test_recorded_runs
from conftest import TAXI_DIR

from fluent_pipeline import cli
from fluent_pipeline.project import pipeline_file
from fluent_pipeline.recorded import history

CLI = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')
TAXI_FILE = os.path.join(TAXI_DIR, 'pipeline.py')


def fluent(*args, cwd=None):
  return subprocess.run([CLI, *args], capture_output=True, text=True,
                        cwd=cwd, timeout=300, stdin=subprocess.DEVNULL)


def test_show_prints_components_wiring_and_arguments(capsys, tmp_path):
  assert cli.main(['show', TAXI_FILE, '--set', f'root={tmp_path}',
                   '--train-steps', '321']) == 0
  out = capsys.readouterr().out
  assert ('Trainer: Trainer (examples<-Transform.transformed_examples, '
          'transform_graph<-Transform.transform_graph, '
          'schema<-SchemaGen.schema, '
          'hyperparameters<-Tuner.best_hyperparameters)') in out
  assert 'Pusher: Pusher (model<-Trainer.model, ' \
      'model_blessing<-Evaluator.blessing, ' \
      'infra_blessing<-LocalInfraValidator.blessing)' in out
  assert 'model<-MLMD query (Model)' in out
  lines = out.splitlines()
  trainer = lines.index(next(ln for ln in lines if ln.startswith('Trainer:')))
  arguments = lines[trainer + 1:trainer + 5]
  assert '    train_args: 321' in arguments  # the parameter reached it
  assert '    eval_args: 150' in arguments
  assert any(ln.startswith('    run_fn: module file ') and
             'taxi_utils.py (sha256 ' in ln for ln in arguments)
  assert '"lower_bound": 0.6' in out  # the Evaluator's threshold
  assert 'train_steps=321' in lines[1]  # parameters, on the second line
  components = [ln for ln in lines if ln and not ln.startswith(' ')
                and ': ' in ln and not ln.startswith('Pipeline ')]
  assert len(components) == 14  # TFX's 13 and PipelineConfigurationGen


def test_file_without_a_pipeline_is_a_clear_error(tmp_path, capsys):
  empty = tmp_path / 'nothing.py'
  empty.write_text('x = 1\n')
  assert cli.main(['show', str(empty)]) == 2
  err = capsys.readouterr().err
  assert 'defines 0 PipelineDefs' in err and '--name' in err


def test_unknown_parameter_and_bad_value_are_clear_errors(tmp_path):
  unknown = fluent('show', TAXI_FILE, '--set', 'train_stepz=3')
  assert unknown.returncode == 2
  assert "unknown parameter 'train_stepz'" in unknown.stderr
  assert 'train_steps (int, default 1000)' in unknown.stderr  # valid ones
  bad = fluent('run', TAXI_FILE, '--train-steps', 'many',
               '--set', f'root={tmp_path}')
  assert bad.returncode == 2
  assert "parameter train_steps takes an int, got 'many'" in bad.stderr
  assert not os.listdir(tmp_path)  # nothing ran, nothing was written


# What --help must not import: each takes seconds (how long --help takes is
# measured in bench/, not asserted here).
HEAVY = ('tfx', 'tensorflow', 'tf_keras', 'keras', 'apache_beam',
         'ml_metadata', 'tensorflow_transform', 'tensorflow_model_analysis',
         'tensorflow_data_validation', 'kfp', 'airflow')


@pytest.mark.parametrize('command', ['', 'run', 'show', 'runs', 'diff',
                                     'compile', 'export', 'report'])
def test_help_imports_neither_tfx_nor_tensorflow(command):
  """In a fresh interpreter: --help answers, exits 0, and loaded none of
  HEAVY (nor any of their submodules)."""
  args = [command, '--help'] if command else ['--help']
  out = subprocess.run(
      [sys.executable, '-c', 'import json, sys\n'
       'from fluent_pipeline import cli\n'
       f'try:\n  cli.main({args!r})\nexcept SystemExit as e:\n'
       '  code = e.code\n'
       f'heavy = sorted({{m.split(".")[0] for m in sys.modules}} & '
       f'set({HEAVY!r}))\n'
       'print("RESULT", json.dumps([code, heavy]))'],
      capture_output=True, text=True, check=True, timeout=300).stdout
  assert out.startswith('usage: fluent-pipeline' + (f' {command}'
                                                     if command else ''))
  code, heavy = json.loads(out.rsplit('RESULT ', 1)[1])
  assert code == 0
  assert heavy == []


def test_compile_for_kubeflow_v2(tmp_path, capsys):
  """A spec naming paths of this machine is refused, listing them, before
  anything is written; --allow-local-paths writes it, and says them."""
  build = tmp_path / 'job'
  args = ['compile', TAXI_FILE, '--runner', 'kubeflow_v2', '-o', str(build),
          '--image', 'gcr.io/p/taxi:1', '--set', f'root={tmp_path / "root"}',
          '--set', 'train_steps=77', '--set', 'name=taxi-v2']
  assert cli.main(args) == 2
  refused = capsys.readouterr().err
  assert refused.startswith('error: compile: the spec names paths of this '
                            'machine, which no container can read:\n')
  assert f'{tmp_path / "root"} (the pipeline root;' in refused
  assert os.path.join(TAXI_DIR, 'data') in refused
  assert '--allow-local-paths' in refused
  assert not build.exists()
  done = fluent(*args, '--allow-local-paths')
  assert done.returncode == 0, done.stderr
  out = build / 'pipeline.json'
  assert 'docker build -t gcr.io/p/taxi:1' in done.stdout
  assert 'note: the spec names paths of this machine' in done.stderr
  assert os.path.join(TAXI_DIR, 'data') in done.stderr
  job = json.loads(out.read_text())
  assert job['runtimeConfig']['gcsOutputDirectory'] == str(
      tmp_path / 'root' / 'taxi-v2')
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  assert 'PipelineConfigurationGen' in tasks and 'Trainer' in tasks
  assert '"num_steps": 77' in out.read_text().replace('\\"', '"')


def test_compile_names_a_name_kubeflow_refuses(tmp_path):
  done = fluent('compile', TAXI_FILE, '--runner', 'kubeflow_v2', '-o',
                str(tmp_path / 'build'), '--image', 'gcr.io/p/taxi:1',
                '--set', f'root={tmp_path}')
  assert done.returncode == 2
  assert "pipeline name 'chicago_taxi' is not valid on Kubeflow V2" in \
      done.stderr and "name it 'chicago-taxi'" in done.stderr
  assert not (tmp_path / 'build').exists()


def test_compile_keeps_a_remote_root_remote(tmp_path, taxi_csv_dir):
  file = tmp_path / 'remote.py'
  file.write_text(
      'from fluent_pipeline import PipelineDef\n'
      'def create_pipeline(root: str = "gs://bucket/runs"):\n'
      f'  return (PipelineDef("remote", root=root).from_csv({taxi_csv_dir!r})'
      '\n          .generate_statistics().infer_schema())\n')
  done = fluent('compile', str(file), '--runner', 'kubeflow_v2', '-o',
                str(tmp_path / 'build'), '--image', 'gcr.io/p/remote:1',
                '--allow-local-paths')
  assert done.returncode == 0, done.stderr
  out = tmp_path / 'build' / 'pipeline.json'
  job = json.loads(out.read_text())
  assert job['runtimeConfig']['gcsOutputDirectory'] == 'gs://bucket/runs/remote'
  assert 'gs:/bucket' not in out.read_text().replace('gs://bucket', '')
  assert not (tmp_path / 'gs:').exists()
  # The local data is a path of this machine; a URI never is one.
  note = done.stderr.split('note: the spec names paths of this machine')[1]
  assert taxi_csv_dir in note and 'gs://' not in note


def test_compile_for_local_writes_the_ir(tmp_path):
  out = tmp_path / 'ir.json'
  done = fluent('compile', TAXI_FILE, '--runner', 'local', '-o', str(out),
                '--set', f'root={tmp_path}')
  assert done.returncode == 0, done.stderr
  ir = json.loads(out.read_text())
  ids = [n['pipeline_node']['node_info']['id'] for n in ir['nodes']]
  assert ids[0] in ('CsvExampleGen', 'PipelineConfigurationGen')
  assert {'PipelineConfigurationGen', 'Trainer', 'Pusher'} <= set(ids)
  assert ir['pipeline_info']['id'] == 'chicago_taxi'
  # Nothing ran: the root holds only the user code cut down per step.
  assert os.listdir(tmp_path / 'chicago_taxi') == ['_fluent_user_code']


# A user's pipeline file as many are written: TensorFlow and TFMA imported
# at its top, so running it takes seconds before create_pipeline is reached.
HEAVY_FILE = '''
import os

import tensorflow as tf
import tensorflow_model_analysis as tfma

from fluent_pipeline import PipelineDef

HERE = os.path.dirname(os.path.abspath(__file__))


def create_pipeline(root: str = os.path.join(HERE, 'runs'), epochs: int = 3,
                    use_tuner: bool = False, rate: float = 0.25):
  return PipelineDef('heavy', root=root).from_csv(HERE)


def needs_data(data: str, steps: int = 1):
  return PipelineDef('heavy', root=data).from_csv(data)
'''


@pytest.mark.parametrize('args, messages', [
    (['--set', 'epochs=many'],
     ["parameter epochs takes an int, got 'many'",
      'fix: --set epochs=3 (its default), or another int']),
    (['--rate', 'fast'], ['fix: --set rate=0.25 (its default)']),
    (['--use-tuner', 'maybe'],
     ["parameter use_tuner takes a bool, got 'maybe'",
      'fix: --set use_tuner=false (its default), or --use-tuner / '
      '--no-use-tuner']),
    (['--epochz', '3'],
     ["unknown parameter 'epochz'", 'epochs (int, default 3)',
      "root (str, default os.path.join(HERE, 'runs'))",
      'use_tuner (bool, default False)']),
    (['--epochs'], ['--epochs needs a value', '(int, default 3)']),
    (['--set', 'oops'], ["--set 'oops': expected name=value"]),
    (['--name', 'other'], ["defines no 'other' (--name other)"]),
    (['--name', 'needs_data', '--steps', '2'],
     ['parameter(s) data have no default', 'fix: --set data=...']),
])
def test_a_bad_parameter_is_said_before_the_file_runs(tmp_path, args,
                                                      messages):
  """Exit 2 and the error, with TensorFlow (which the file imports) not
  loaded: the file's syntax says what is wrong, so it never ran."""
  file = tmp_path / 'heavy_pipeline.py'
  file.write_text(HEAVY_FILE)
  done = subprocess.run(
      [sys.executable, '-c', 'import json, sys\n'
       'from fluent_pipeline import cli\n'
       f'code = cli.main({["show", str(file), *args]!r})\n'
       f'heavy = sorted({{m.split(".")[0] for m in sys.modules}} & '
       f'set({HEAVY!r}))\n'
       'print("RESULT", json.dumps([code, heavy]))'],
      capture_output=True, text=True, timeout=300)
  code, heavy = json.loads(done.stdout.rsplit('RESULT ', 1)[1])
  assert (code, heavy) == (2, [])
  assert done.stderr.startswith('error: ')
  for message in messages:
    assert message in done.stderr


@pytest.mark.parametrize('source', [
    'from x import *\ndef create_pipeline(n: int = 1): ...',
    'import functools\n@functools.lru_cache\ndef create_pipeline(n: int = 1):'
    ' ...',
    'if True:\n  def create_pipeline(n: int = 1): ...',
    'def create_pipeline(n: int = 1): ...\ncreate_pipeline = print',
    'Steps = int\ndef create_pipeline(n: Steps = 1): ...',
    'globals()["create_pipeline"] = print',
])
def test_what_the_syntax_cannot_tell_is_left_to_the_import(tmp_path, source):
  """A file whose factory or its parameters only running it can tell is
  not judged early: no false error, load() decides."""
  file = tmp_path / 'unsure.py'
  file.write_text(source + '\n')
  found = pipeline_file.declared(str(file))
  if found is not None:  # the alias: n's type is left open
    assert found.parameters['n'].type is None
  pipeline_file.check_early(str(file), None, ['n=1.5'], ['--n'])


def test_a_bool_parameter_is_a_flag(tmp_path, taxi_csv_dir):
  file = tmp_path / 'flags_pipeline.py'
  file.write_text(
      'from fluent_pipeline import PipelineDef\n'
      'def create_pipeline(root: str, use_tuner: bool = False,\n'
      '                    shuffle: bool = True, steps: int = 3):\n'
      f'  return PipelineDef("flags", root=root).from_csv({taxi_csv_dir!r})\n')
  done = fluent('show', str(file), '--use-tuner', '--no-shuffle', '--steps',
                '4', '--set', f'root={tmp_path}')
  assert done.returncode == 0, done.stderr
  assert (f"parameters: root={str(tmp_path)!r}, use_tuner=True, "
          'shuffle=False, steps=4') in done.stdout
  parameters = pipeline_file.declared(str(file)).parameters
  assert parameters == pipeline_file.load(str(file)).parameters

  def split(*extra, sets=()):
    return pipeline_file.split_assignments(list(sets), list(extra),
                                           parameters)
  assert split('--use-tuner') == {'use_tuner': 'true'}
  assert split('--use-tuner', 'false') == {'use_tuner': 'false'}
  assert split('--use-tuner=no') == {'use_tuner': 'no'}
  assert split(sets=['use_tuner=false']) == {'use_tuner': 'false'}
  assert split('--no-use-tuner', '--steps', '5') == {'use_tuner': 'false',
                                                     'steps': '5'}
  with pytest.raises(SystemExit, match='--steps needs a value'):
    split('--steps', '--use-tuner')


@pytest.mark.e2e
def test_run_takes_root_and_an_ambiguous_run_id_lists_the_matches(
    tmp_path, taxi_csv_dir):
  """`run --root` runs under that root (here: the recorded run's, whose
  pipeline has the same name), and a prefix of both runs' ids is
  ambiguous, not one of them."""
  store = test_recorded_runs._relocated(str(tmp_path / 'store'))
  file = tmp_path / 'again.py'
  file.write_text(
      'from fluent_pipeline import PipelineDef\n'
      f'def create_pipeline(root: str = {str(tmp_path / "elsewhere")!r}):\n'
      f'  return PipelineDef("recorded", root=root).from_csv('
      f'{taxi_csv_dir!r})\n')
  done = fluent('run', str(file), '--root', os.path.dirname(store))
  assert done.returncode == 0, done.stderr
  assert f'root: {store}' in done.stdout
  assert not (tmp_path / 'elsewhere').exists()
  ids = [r.run_id for r in history.runs(store)]
  assert len(ids) == 2
  prefix = os.path.commonprefix(ids)  # '20' at least: both are dates
  shown = fluent('show', prefix, '--root', store)
  assert shown.returncode == 2
  assert f"run id {prefix!r} is ambiguous: 2 runs of pipeline 'recorded' " \
      'start with it' in shown.stderr
  assert all(i in shown.stderr for i in ids)
  one = fluent('show', ids[1][:len(prefix) + 1], '--root', store)
  assert one.returncode == 0 and ids[1] in one.stdout


def test_a_secret_default_is_never_shown(tmp_path, capsys):
  """The fix of a parameter error lists the parameters with their
  defaults; a secret's is masked (the file read from its syntax, and
  loaded)."""
  file = tmp_path / 'with_token.py'
  file.write_text(
      'from fluent_pipeline import PipelineDef\n'
      "def create_pipeline(api_token: str = 'Planted-cli-t0ken', n: int = 2):\n"
      "  return PipelineDef('tok', root='gs://b/r').from_csv('gs://b/d/')\n")
  assert cli.main(['show', str(file), '--set', 'bogus=1']) == 2
  err = capsys.readouterr().err
  assert "api_token (str, default '***')" in err and 'n (int, default 2)' in err
  assert 'Planted-cli-t0ken' not in err
  assert cli.main(['show', str(file), '--n', 'many']) == 2
  assert 'Planted-cli-t0ken' not in capsys.readouterr().err
