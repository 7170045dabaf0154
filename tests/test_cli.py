"""The command line, through its entry point: show, compile, parameters,
errors and --help (run, runs and diff on real runs: test_run_history)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import TAXI_DIR

from fluent_pipeline import cli

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


def test_file_without_a_pipeline_is_a_clear_error(tmp_path):
  empty = tmp_path / 'nothing.py'
  empty.write_text('x = 1\n')
  with pytest.raises(SystemExit) as e:
    cli.main(['show', str(empty)])
  assert 'defines 0 PipelineDefs' in str(e.value) and '--name' in str(e.value)


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


def test_compile_for_kubeflow_v2(tmp_path):
  build = tmp_path / 'job'
  done = fluent('compile', TAXI_FILE, '--runner', 'kubeflow_v2', '-o',
                str(build), '--image', 'gcr.io/p/taxi:1',
                '--set', f'root={tmp_path / "root"}',
                '--set', 'train_steps=77', '--set', 'name=taxi-v2')
  assert done.returncode == 0, done.stderr
  out = build / 'pipeline.json'
  assert 'docker build -t gcr.io/p/taxi:1' in done.stdout
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
                str(tmp_path / 'build'), '--image', 'gcr.io/p/remote:1')
  assert done.returncode == 0, done.stderr
  out = tmp_path / 'build' / 'pipeline.json'
  job = json.loads(out.read_text())
  assert job['runtimeConfig']['gcsOutputDirectory'] == 'gs://bucket/runs/remote'
  assert 'gs:/bucket' not in out.read_text().replace('gs://bucket', '')
  assert not (tmp_path / 'gs:').exists()


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
