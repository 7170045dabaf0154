"""Runs found, compared and reproduced: real runs of a pipeline file with
parameters, made through the `fluent-pipeline` command in a subprocess and
from Python, read back from the real ML Metadata store.

Runs in order (each test builds on the store the earlier ones left):
A: train_steps=20, B: train_steps=40 (CLI); the same file imported from
Python; A rebuilt with PipelineDef.from_run; a line of run_fn edited;
partial runs; a failed run resumed.
"""

import json
import os
import re
import subprocess
import sys
import types

import pytest
from conftest import TAXI_DIR

from fluent_pipeline import (
  PipelineDef,
  PipelineDefinitionError,
  diff,
  read_run,
  runs,
)

pytestmark = pytest.mark.e2e

CLI = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')
HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = ('CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'Transform')
CONFIG = 'PipelineConfigurationGen'
EDITED = 'return taxi_utils.run_fn(fn_args)  # edited'


def fluent(*args, check=True):
  done = subprocess.run([CLI, *args], capture_output=True, text=True,
                        timeout=900, stdin=subprocess.DEVNULL)
  if check:
    assert done.returncode == 0, (args, done.stdout[-3000:],
                                  done.stderr[-3000:])
  return done


def run_id_of(stdout: str) -> str:
  return re.search(r"^Pipeline 'history', run (\S+)$", stdout, re.M).group(1)


def complete(result):
  return {c.node_id for c in result.components if c.state == 'COMPLETE'}


@pytest.fixture(scope='module')
def project(tmp_path_factory, taxi_sample):
  folder = tmp_path_factory.mktemp('history')
  with open(os.path.join(HERE, 'history_pipeline_template.py')) as f:
    text = f.read().replace('@TAXI_DIR@', TAXI_DIR)
  file = folder / 'history_pipeline.py'
  file.write_text(text)
  root = folder / 'runs'
  return types.SimpleNamespace(
      folder=str(folder), file=str(file), root=str(root),
      pipeline_root=str(root / 'history'), data=taxi_sample['data'],
      args=['--set', f'data={taxi_sample["data"]}', '--set', f'root={root}'])


def cli_run(project, *args, check=True):
  return fluent('run', project.file, *project.args, *args, check=check)


@pytest.fixture(scope='module')
def two_runs(project):
  a = run_id_of(cli_run(project, '--set', 'train_steps=20').stdout)
  b = run_id_of(cli_run(project, '--train-steps', '40').stdout)
  return a, b


def test_runs_lists_both_runs_with_their_parameters(project, two_runs):
  a, b = two_runs
  listed = runs(project.pipeline_root)
  assert [r.run_id for r in listed[:2]] == [b, a]  # newest first
  assert listed[1].parameters['train_steps'] == 20
  assert listed[0].parameters['train_steps'] == 40
  assert complete(listed[1]) >= set(UPSTREAM) | {'Trainer', 'Evaluator',
                                                 CONFIG}
  assert {listed[0].states[n] for n in UPSTREAM} == {'CACHED'}
  assert {'Trainer', 'Evaluator', CONFIG} <= complete(listed[0])
  assert listed[0].started > listed[1].started and listed[1].seconds > 0
  table = fluent('runs', '--root', project.root).stdout
  lines = table.splitlines()
  assert lines[0].split()[:3] == ['RUN', 'ID', 'STARTED']
  assert lines[1].startswith(b) and 'train_steps=40' in lines[1]
  assert lines[2].startswith(a) and 'train_steps=20' in lines[2]
  assert 'binary_accuracy=' in lines[1] and 'auc=' in lines[1]
  # One run-id format on every runner: BeamDagRunner's.
  assert re.fullmatch(r'\d{8}-\d{6}\.\d{6}', a)


def test_diff_names_exactly_the_parameter_and_the_changed_metrics(
    project, two_runs):
  a, b = two_runs
  found = diff(project.pipeline_root, a, b)
  assert found.parameters == {'train_steps': (20, 40)}
  assert set(found.arguments) == {'train.train_args'}
  assert not found.user_code and not found.versions
  assert found.metrics and 'example_count' not in found.metrics
  for name, (before, after) in found.metrics.items():
    assert before != after, name
  # Metrics are read without TFMA (fast listings); they are TFMA's figures.
  import tensorflow_model_analysis as tfma

  from fluent_pipeline.artifacts import metrics_file as _metrics_file
  for run_id in (a, b):
    uri = read_run(project.pipeline_root, run_id).component(
        'Evaluator').outputs['evaluation'][0]
    overall = [m for m in tfma.load_metrics(uri)
               if not m.slice_key.single_slice_keys][0]
    assert _metrics_file.overall_metrics(uri) == {
        kv.key.name: kv.value.double_value.value
        for kv in overall.metric_keys_and_values}
  printed = fluent('diff', a, b, '--root', project.root).stdout
  assert 'train_steps: 20 -> 40' in printed
  assert 'train.train_args: 20 -> 40' in printed
  assert 'metrics:' in printed
  # And a wrong id names the nearest ones.
  wrong = fluent('diff', a[:-3] + 'xyz', b, '--root', project.root,
                 check=False)
  assert wrong.returncode == 2 and a in wrong.stderr


def test_the_same_file_imported_from_python_hits_the_cli_runs_cache(
    project, two_runs):
  code = (f'import sys, json; sys.path.insert(0, {project.folder!r})\n'
          'import history_pipeline\n'
          f'result = history_pipeline.create_pipeline({project.data!r}, '
          f'{project.root!r}, train_steps=40).run()\n'
          'print("STATES", json.dumps(result.states))\n'
          'print("PARAMETERS", json.dumps(result.parameters))\n')
  done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, timeout=900, check=True)
  states = json.loads(done.stdout.split('STATES ', 1)[1].splitlines()[0])
  for node in UPSTREAM + ('Trainer', 'Evaluator'):
    assert states[node] == 'CACHED', states
  # create_pipeline's arguments are recorded as the CLI records them, so
  # even the configuration comes from the CLI run's cache.
  parameters = json.loads(done.stdout.split('PARAMETERS ', 1)[1])
  assert parameters == {'data': project.data, 'root': project.root,
                        'train_steps': 40, 'cache': True, 'fail': False}
  assert states[CONFIG] == 'CACHED'


def test_from_run_reproduces_a_run_from_cache(project, two_runs):
  a, _ = two_runs
  original = read_run(project.pipeline_root, a)
  rebuilt = PipelineDef.from_run(a, root=project.root)
  again = rebuilt.run()
  assert again.configuration == original.configuration
  resolver = 'latest_blessed_model_resolver'  # TFX resolves anew each run
  assert {s for n, s in again.states.items() if n != resolver} == {
      'CACHED'}, again.states
  assert again.component('Trainer').outputs == \
      original.component('Trainer').outputs
  assert again.component(CONFIG).outputs == original.component(
      CONFIG).outputs  # the very same configuration artifact


def test_from_run_names_data_that_is_gone(project, two_runs, tmp_path):
  a, _ = two_runs
  config = read_run(project.pipeline_root, a).configuration
  config['source']['location'] = str(tmp_path / 'moved')
  from fluent_pipeline.recorded import replay as _replay
  with pytest.raises(PipelineDefinitionError) as e:
    _replay.rebuild(config, a)
  assert f'run {a} read csv data from' in str(e.value)
  assert 'does not exist' in str(e.value)


def test_a_changed_line_of_run_fn_reruns_training_and_shows_in_diff(
    project, two_runs):
  _, b = two_runs
  with open(project.file) as f:
    text = f.read()
  assert 'taxi_utils.run_fn(fn_args)  # the line the tests edit' in text
  with open(project.file, 'w') as f:
    f.write(text.replace('taxi_utils.run_fn(fn_args)  # the line the tests '
                         'edit', EDITED))
  c = run_id_of(cli_run(project, '--train-steps', '40').stdout)
  result = read_run(project.pipeline_root, c)
  assert 'Trainer' in complete(result)  # the edit reached TFX's cache key
  assert {result.states[n] for n in UPSTREAM} == {'CACHED'}
  found = diff(project.pipeline_root, b, c)
  assert not found.parameters and not found.arguments
  assert [change.where for change in found.user_code] == ['train.run_fn']
  assert f'+  {EDITED}' in found.user_code[0].diff
  printed = fluent('diff', b, c, '--root', project.root).stdout
  assert 'user code:' in printed and f'+  {EDITED}' in printed


@pytest.mark.parametrize('args, expected', [
    (['--from', 'evaluate_model'],
     {'latest_blessed_model_resolver', 'Evaluator'}),
    (['--only', 'infer_schema'], {'SchemaGen'}),
    (['--to', 'SchemaGen'], {'CsvExampleGen', 'StatisticsGen', 'SchemaGen'}),
])
def test_partial_runs_run_exactly_the_selected_steps(project, two_runs, args,
                                                     expected):
  # Cache off, so every step that runs is COMPLETE and the others are the
  # executions TFX's partial run records, which read REUSED, not CACHED.
  done = cli_run(project, '--set', 'cache=false', *args)
  result = read_run(project.pipeline_root, run_id_of(done.stdout))
  assert complete(result) == expected | {CONFIG}, result.states
  reused = set(result.states) - complete(result)
  assert {result.states[n] for n in reused} <= {'REUSED'}


def test_partial_run_without_upstream_outputs_is_a_clear_error(
    project, tmp_path):
  done = fluent('run', project.file, '--set', f'data={project.data}',
                '--set', f'root={tmp_path}', '--only', 'train', check=False)
  assert done.returncode == 2
  assert 'Trainer need the outputs of' in done.stderr
  assert 'Transform' in done.stderr and 'which no run of' in done.stderr
  assert not os.path.exists(os.path.join(tmp_path, 'history', 'Trainer'))


def test_a_failed_run_resumes_from_the_failed_step(project, two_runs):
  failed = cli_run(project, '--train-steps', '30', '--set', 'fail=true',
                   check=False)
  assert failed.returncode == 1
  assert 'Trainer failed' in failed.stderr
  assert 'planned failure in run_fn' in failed.stderr
  failed_id = re.search(r'run (\S+); resume it', failed.stderr).group(1)
  assert read_run(project.pipeline_root, failed_id).states['Trainer'] == \
      'FAILED'
  # fail=true is what failed: resuming with fail=false is a deliberate
  # change of the run's parameters, which --override allows and says.
  resumed = cli_run(project, '--train-steps', '30', '--set', 'fail=false',
                    '--resume', '--override')
  assert (f'resuming run {failed_id} with other parameters (--override)'
          in resumed.stderr)
  assert 'fail: the run being resumed used True, you gave False' in \
      resumed.stderr
  result = read_run(project.pipeline_root, run_id_of(resumed.stdout))
  # The baseline resolver follows the Trainer (it excludes the candidate
  # model), so it did not complete in the failed run either.
  assert complete(result) == {'Trainer', 'latest_blessed_model_resolver',
                              'Evaluator', CONFIG}, result.states
  assert {result.states[n] for n in UPSTREAM} == {'REUSED'}
