"""Bad data at run time, a killed run, a failing Evaluator, two pipelines on
one store: real runs, each checked for the message the user sees and for
what is preserved."""

import ast
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import browser
import fault_pipeline
import pytest
from conftest import TAXI_MODULE

from fluent_pipeline import (
    DataValidationError,
    PipelineDef,
    PipelineRunError,
    read_run,
    runs,
)

pytestmark = pytest.mark.e2e


def _copy_csv(src_dir, dst_dir, edit=None):
  os.makedirs(dst_dir)
  with open(os.path.join(src_dir, 'data.csv')) as f:
    lines = f.read().splitlines()
  lines = edit(lines) if edit else lines
  with open(os.path.join(dst_dir, 'data.csv'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return str(dst_dir)


def test_ragged_csv_row_is_named_by_file_and_line(tmp_path, taxi_csv_dir):
  data = _copy_csv(taxi_csv_dir, tmp_path / 'data',
                   lambda lines: lines[:20] + ['1,2,3'] + lines[20:])
  pdef = PipelineDef('ragged', root=str(tmp_path)).from_csv(data) \
      .generate_statistics()
  with pytest.raises(PipelineRunError) as failure:
    pdef.run()
  message = str(failure.value)
  assert message.startswith('CsvExampleGen failed: ')
  assert f'{data}/data.csv line 21 has 3 fields where the header has 18' \
      in message
  assert 'full log: ' in message
  assert failure.value.component == 'CsvExampleGen'
  with open(failure.value.log_path) as f:
    assert 'Traceback' in f.read()  # the whole story is kept in the log


def test_missing_label_column_is_named(tmp_path, taxi_sample):
  data = _copy_csv(taxi_sample['data_unlabelled'], tmp_path / 'data')
  pdef = (PipelineDef('no_label', root=str(tmp_path)).from_csv(data)
          .generate_statistics().infer_schema().preprocess(TAXI_MODULE))
  with pytest.raises(PipelineRunError) as failure:
    pdef.run()
  assert failure.value.component == 'Transform'
  assert "reads column 'tips', which the data in" in str(failure.value)
  assert 'trip_miles' in str(failure.value)  # the columns it does have


def test_text_in_a_numeric_column_is_named(tmp_path, taxi_sample):
  def put_text(lines):
    header = lines[0].split(',')
    row = lines[40].split(',')
    row[header.index('trip_miles')] = 'lots'
    return lines[:40] + [','.join(row)] + lines[41:]
  data = _copy_csv(taxi_sample['data'], tmp_path / 'data', put_text)
  pdef = (PipelineDef('wrong_type', root=str(tmp_path)).from_csv(data)
          .generate_statistics().infer_schema().preprocess(TAXI_MODULE))
  with pytest.raises(PipelineRunError) as failure:
    pdef.run()
  assert failure.value.component == 'Transform'
  assert (f"column 'trip_miles' of {data}/data.csv holds numbers but line 41 "
          "has 'lots'") in str(failure.value)
  # What finished before the failure is kept in MLMD.
  assert pdef_states(pdef)['SchemaGen'] == 'COMPLETE'


def test_anomalies_stop_the_run_before_training(tmp_path, taxi_csv_dir):
  schema = tmp_path / 'schema.pbtxt'
  schema.write_text(
      'feature { name: "fare" type: BYTES }\n'
      'feature { name: "absent" type: INT presence { min_fraction: 1.0 } }\n')
  pdef = (PipelineDef('anomalies', root=str(tmp_path)).from_csv(taxi_csv_dir)
          .generate_statistics().with_imported_schema(str(schema))
          .validate_input_data(fail_on_anomalies=True)
          .preprocess(TAXI_MODULE).train(TAXI_MODULE).push_to('serving'))
  with pytest.raises(DataValidationError) as failure:
    pdef.run()
  kinds = {(feature, kind) for _, feature, kind, _ in failure.value.anomalies}
  assert ('fare', 'UNEXPECTED_DATA_TYPE') in kinds
  assert ('absent', 'SCHEMA_MISSING_COLUMN') in kinds
  assert 'fare (train, eval): UNEXPECTED_DATA_TYPE' in str(failure.value)
  ran = pdef_states(pdef)
  assert ran['ExampleValidator'] == 'COMPLETE'
  assert 'Transform' not in ran and 'Trainer' not in ran
  assert not os.path.exists(os.path.join(pdef.pipeline_root, 'serving'))


def test_a_failing_run_fn_is_named_by_the_users_file_and_line(
    tmp_path, taxi_csv_dir):
  # The user's copy of the taxi module, with a typo on run_fn's first line.
  with open(TAXI_MODULE) as f:
    text = f.read()
  run_fn = next(node for node in ast.parse(text).body
                if getattr(node, 'name', None) == 'run_fn')
  first = run_fn.body[0].lineno  # the new line's number
  lines = text.splitlines()
  lines.insert(first - 1, '  model_dir = fn_args.serving_model_dir_typo')
  module = tmp_path / 'my_taxi_utils.py'
  module.write_text('\n'.join(lines) + '\n')
  pdef = (PipelineDef('run_fn_bug', root=str(tmp_path / 'root'))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .preprocess(str(module))  # one module for two steps
          .train(str(module), train_args=2, eval_args=1))
  with pytest.raises(PipelineRunError) as failure:
    pdef.run()
  # TFX ran an installed copy in a temporary folder; the message names
  # the file the user edits.
  assert str(failure.value).splitlines()[:3] == [
      "Trainer failed in your run_fn: AttributeError: 'FnArgs' object has "
      "no attribute 'serving_model_dir_typo'",
      f'  at {module}, line {first}, in run_fn:',
      '    model_dir = fn_args.serving_model_dir_typo']
  assert failure.value.location.path == str(module)
  # The run records why: its report and `show` say it later.
  from fluent_pipeline import read_run
  failed = read_run(pdef, failure.value.run_id)
  assert failed.component('Trainer').error.splitlines()[:2] == str(
      failure.value).splitlines()[:2]
  assert f'  at {module}, line {first}, in run_fn:' in str(failed)
  assert failed.log_path == failure.value.log_path
  with browser.open_page(failed.report()) as page:
    assert page.console == [] and page.page_errors == []
    assert page.text('#failure h3') == 'Trainer failed'
    assert page.text('#failure pre').splitlines()[:3] == str(
        failure.value).splitlines()[:3]
    assert failure.value.log_path in page.text('#failure')
    assert 'no evaluation: the run failed at Trainer' not in page.text(
        '#evaluation')  # no Evaluator in this chain
    assert 'no training logs: the run failed at Trainer' in page.text(
        '#training')


def _broken_preprocessing_fn(inputs):
  """A user function: it runs as a module fluent_pipeline writes for TFX."""
  features = dict(inputs)
  raise ValueError(f'cannot scale {len(features)} features')


def test_a_failing_function_object_is_named_by_its_own_file_and_line(
    tmp_path, taxi_csv_dir):
  pdef = (PipelineDef('function_bug', root=str(tmp_path))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .preprocess(_broken_preprocessing_fn))
  with pytest.raises(PipelineRunError) as failure:
    pdef.run()
  line = _broken_preprocessing_fn.__code__.co_firstlineno + 3
  lines = str(failure.value).splitlines()
  assert lines[:3] == [
      'Transform failed in your preprocessing_fn: ValueError: cannot scale '
      '18 features',
      f'  at {__file__}, line {line}, in _broken_preprocessing_fn:',
      "    raise ValueError(f'cannot scale {len(features)} features')"]
  # And the generated module TFX ran, which is kept under the root.
  generated, at = failure.value.location.generated
  assert lines[3] == f'  (run as {generated}, line {at})'
  assert generated.startswith(
      os.path.join(pdef.pipeline_root, '_fluent_user_code', ''))
  with open(generated) as f:
    assert f.read().splitlines()[at - 1].strip() == lines[2].strip()


def pdef_states(pdef):
  from fluent_pipeline import read_run
  return read_run(pdef).states


def _tree_digest(path):
  digest = hashlib.sha256()
  for name in sorted(glob.glob(os.path.join(path, '**'), recursive=True)):
    if os.path.isfile(name):
      digest.update(name.encode())
      with open(name, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()


def _training_logs(model_runs):
  """The TensorBoard event files under every Trainer execution's model_run
  folder (taxi_utils.run_fn logs there from the start of model.fit)."""
  return set(glob.glob(os.path.join(model_runs, '*', '**',
                                    'events.out.tfevents.*'), recursive=True))


def test_killed_trainer_resumes_from_cache_and_keeps_pushed_models(
    tmp_path, taxi_sample):
  from ml_metadata import metadata_store
  root = str(tmp_path)
  first = fault_pipeline.create(root, taxi_sample['data'], 20).run()
  assert first.blessed and first.pushed_model
  pushed_before = _tree_digest(first.pushed_model)

  # Same pipeline, more steps: Trainer runs again, and is killed mid-way,
  # once run_fn is training: its TensorBoard callback writes the new
  # execution's event file when model.fit starts.
  model_runs = os.path.dirname(
      first.component('Trainer').outputs['model_run'][0])
  logs_before = _training_logs(model_runs)
  assert logs_before  # the first run's: what is looked for is there
  script = os.path.join(os.path.dirname(__file__), 'fault_pipeline.py')
  output = tmp_path / 'killed_run.log'
  with open(output, 'w') as out:
    proc = subprocess.Popen(
        [sys.executable, script, root, taxi_sample['data'], '1500'],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 900  # a timeout, not a measurement
    while not _training_logs(model_runs) - logs_before:
      assert proc.poll() is None, (
          'the run ended before its Trainer trained: '
          + output.read_text()[-3000:])
      assert time.monotonic() < deadline, (
          'the Trainer did not start training in 900 s: '
          + output.read_text()[-3000:])
      time.sleep(0.2)
    assert proc.poll() is None, 'Trainer finished before it could be killed'
  finally:
    proc.kill()  # SIGKILL: no chance to record anything
    proc.wait()
  assert proc.returncode == -signal.SIGKILL

  pdef = fault_pipeline.create(root, taxi_sample['data'], 1500)
  store = metadata_store.MetadataStore(pdef.build().metadata_connection_config)
  trainer_runs = [e for e in store.get_executions_by_type(
      'tfx.components.trainer.component.Trainer')]
  killed = [e for e in trainer_runs if e.last_known_state == e.RUNNING]
  assert len(killed) == 1
  # The run does not read as running forever: its process is gone.
  killed_run = runs(pdef)[0]
  assert killed_run.states['Trainer'] == 'ABANDONED', killed_run.states
  assert killed_run.component('Trainer').error == (
      f'abandoned: its process ({proc.pid} on {socket.gethostname()}) ended '
      'without finishing the run')

  again = pdef.run()
  # The next run closed the abandoned execution in ML Metadata; the killed
  # run still reads as abandoned.
  [closed] = store.get_executions_by_id([killed[0].id])
  assert closed.last_known_state == closed.CANCELED
  assert read_run(pdef, killed_run.run_id).states['Trainer'] == 'ABANDONED'
  assert not any(e.last_known_state == e.RUNNING for e in
                 store.get_executions_by_type(
                     'tfx.components.trainer.component.Trainer'))
  for node_id in ('CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'Transform'):
    assert again.states[node_id] == 'CACHED', again.states
  assert again.states['Trainer'] == 'COMPLETE'
  assert again.pushed_model and again.pushed_model != first.pushed_model
  assert _tree_digest(first.pushed_model) == pushed_before

  # Nothing half-published: the killed execution has no LIVE output, and
  # every LIVE artifact's files exist.
  events = store.get_events_by_execution_ids([killed[0].id])
  outputs = store.get_artifacts_by_id(
      [e.artifact_id for e in events if e.type == e.OUTPUT])
  assert all(a.state != a.LIVE for a in outputs)
  for artifact in store.get_artifacts():
    if artifact.state == artifact.LIVE:
      assert os.path.exists(artifact.uri), artifact

  # A model that misses its threshold is not pushed, and the summary says
  # by how much.
  strict = fault_pipeline.create(root, taxi_sample['data'], 1500,
                                 min_accuracy=0.999).run()
  assert strict.states['Trainer'] == 'CACHED'
  assert strict.blessed is False and strict.pushed_model is None
  assert len(strict.failed_thresholds) == 1
  assert strict.failed_thresholds[0].startswith(
      'binary_accuracy on Overall = ')
  assert 'needs >= 0.999 (off by ' in strict.failed_thresholds[0]
  assert 'pushed model: none (not blessed)' in str(strict)
  versions = sorted(os.listdir(os.path.join(pdef.pipeline_root, 'serving')))
  assert len(versions) == 2


def test_two_pipelines_share_one_sqlite_store_at_once(tmp_path, taxi_csv_dir):
  store = str(tmp_path / 'shared.sqlite')
  code = (
      'import sys, fluent_pipeline\n'
      'from fluent_pipeline import PipelineDef\n'
      'r = (PipelineDef(sys.argv[1], root=sys.argv[2]).from_csv(sys.argv[3])'
      '.generate_statistics().infer_schema().with_sqlite_ml_metadata('
      'sys.argv[4]).run())\n'
      'print("STATES", sorted(set(r.states.values())))\n')
  procs = [subprocess.Popen(
      [sys.executable, '-c', code, name, str(tmp_path), taxi_csv_dir, store],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for name in ('alpha', 'beta')]
  outs = [p.communicate(timeout=600)[0] for p in procs]
  for proc, out in zip(procs, outs):
    assert proc.returncode == 0, out
    assert "STATES ['COMPLETE']" in out
  from fluent_pipeline import read_run
  for name in ('alpha', 'beta'):
    pdef = PipelineDef(name, root=str(tmp_path)).with_sqlite_ml_metadata(store)
    assert set(read_run(pdef).states) == {
        'CsvExampleGen', 'PipelineConfigurationGen', 'StatisticsGen',
        'SchemaGen'}
  shutil.rmtree(tmp_path / 'alpha')  # the other pipeline's run stays readable
  assert read_run(PipelineDef('beta', root=str(tmp_path))
                  .with_sqlite_ml_metadata(store)).states
