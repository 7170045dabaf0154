"""No error swallowed while reading a run (issue 21).

A lost ML Metadata connection is an error, not 'no runs'; metrics or a
validation result that cannot be read say why in the RunResult and its
summary (and warn), instead of reading as no metrics or a bare 'not
blessed'; a missing evaluation still reads as absent, quietly; checking a
URI fails loudly unless the file is genuinely not found; a failure record
the runner could not write is logged. Real TFMA protos and a real sqlite
store in TFX's layout (test_candidate_metrics's writers): no pipeline runs.
"""

import logging
import os
import types
import warnings

import pytest
from test_candidate_metrics import (
  ACCURACY,
  FIGURES,
  PIPELINE,
  write_evaluation,
  write_run,
)

from fluent_pipeline import _paths, read_run, runs
from fluent_pipeline.artifacts import metrics_file, models
from fluent_pipeline.recorded import results

GARBAGE = b'\x05' + b'\x00' * 7 + b'not a TFRecord file at all' * 8


def _evaluated(tmp_path, evaluation_written=True):
  """(pipeline dir, evaluation uri) of a run whose Evaluator did not bless
  the model."""
  pipeline_dir = str(tmp_path / PIPELINE)
  evaluation = os.path.join(pipeline_dir, 'Evaluator', 'evaluation', '2')
  if evaluation_written:
    write_evaluation(evaluation, 'candidate', 'baseline')
  write_run(pipeline_dir, evaluation)
  os.remove(os.path.join(pipeline_dir, 'Evaluator', 'blessing', '2',
                         'BLESSED'))
  return pipeline_dir, evaluation


def _store_config(pipeline_dir):
  from fluent_pipeline.dsl import wiring
  return wiring.sqlite_config(os.path.join(pipeline_dir, 'metadata.sqlite'))


def test_a_store_that_fails_is_an_error_not_no_runs(tmp_path, monkeypatch):
  pipeline_dir, _ = _evaluated(tmp_path)
  again = str(tmp_path / 'again')
  write_run(again, str(tmp_path / 'none'))
  from ml_metadata import errors, metadata_store
  opened = metadata_store.MetadataStore

  def lost(config, *args, **kwargs):  # the connection breaks once opened
    store = opened(config, *args, **kwargs)
    with open(config.sqlite.filename_uri, 'wb') as f:
      f.write(b'garbage' * 4096)
    return store
  monkeypatch.setattr(metadata_store, 'MetadataStore', lost)
  pipeline = types.SimpleNamespace(  # as a TFX pipeline names its store
      metadata_connection_config=_store_config(pipeline_dir),
      pipeline_info=types.SimpleNamespace(pipeline_name=PIPELINE,
                                          pipeline_root=pipeline_dir))
  with pytest.raises(errors.InternalError,
                     match='cannot read the runs .*file is not a database'):
    runs(pipeline)
  pipeline.metadata_connection_config = _store_config(again)
  with pytest.raises(errors.InternalError, match='cannot read the runs'):
    read_run(pipeline)  # not "has no run"


def test_corrupt_metrics_say_why_instead_of_none(tmp_path):
  pipeline_dir, evaluation = _evaluated(tmp_path)
  metrics = os.path.join(evaluation, 'metrics-00000-of-00001.tfrecord')
  with open(metrics, 'wb') as f:
    f.write(GARBAGE)
  # The fast path neither reads a length it is given as one nor guesses.
  assert metrics_file.overall_metrics(evaluation) is None
  with pytest.warns(UserWarning, match='its metrics cannot be read'):
    listed = runs(pipeline_dir)  # the listing still lists the run
  assert len(listed) == 1 and listed[0].metrics == {}
  reason = listed[0].unreadable['metrics']
  assert reason.startswith('DataLossError: ') and evaluation in reason
  assert f'evaluation: metrics unavailable: {reason}' in str(listed[0])
  # the run table marks the run, which `show` then explains
  from fluent_pipeline import cli
  row = cli.runs_table(listed).splitlines()[1]
  assert '(unreadable)' in row


def test_an_unreadable_validation_says_why_the_model_is_not_blessed(
    tmp_path):
  pipeline_dir, evaluation = _evaluated(tmp_path)
  with open(os.path.join(evaluation, 'validations.tfrecord'), 'wb') as f:
    f.write(GARBAGE)
  with pytest.warns(UserWarning, match='its failed thresholds cannot be'):
    run = read_run(pipeline_dir)
  assert run.blessed is False and run.failed_thresholds == []
  assert run.metrics == {ACCURACY: FIGURES['Overall'][0]}
  reason = run.unreadable['failed thresholds']
  assert reason.startswith('DataLossError: ')
  summary = str(run)
  assert '  blessed: NO\n    failed: thresholds unavailable: ' \
      'DataLossError: ' in summary, summary


def test_a_missing_evaluation_reads_as_absent_without_a_warning(tmp_path):
  pipeline_dir, _ = _evaluated(tmp_path, evaluation_written=False)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    listed = runs(pipeline_dir)
    run = read_run(pipeline_dir)
  for result in (listed[0], run):
    assert result.metrics == {} and result.failed_thresholds == []
    assert result.unreadable == {} and result.blessed is False
  assert 'unavailable' not in str(run)


def test_only_a_genuine_not_found_reads_as_absent(monkeypatch, tmp_path):
  import tensorflow as tf
  from tfx.dsl.io import fileio
  assert _paths.exists(f'file://{tmp_path}/nothing') is False
  with pytest.raises(tf.errors.UnimplementedError, match='foo'):
    _paths.exists('foo://bucket/x')  # no filesystem for it: not 'absent'

  def denied(path):
    raise tf.errors.PermissionDeniedError(None, None, f'{path}: 403')
  monkeypatch.setattr(fileio, 'exists', denied)
  with pytest.raises(tf.errors.PermissionDeniedError, match='403'):
    _paths.exists('gs://bucket/BLESSED')

  def not_found(path):
    raise tf.errors.NotFoundError(None, None, path)
  monkeypatch.setattr(fileio, 'exists', not_found)
  assert _paths.exists('gs://bucket/BLESSED') is False


def test_an_eval_config_that_is_not_an_eval_run_warns(tmp_path):
  (tmp_path / models.EVAL_CONFIG_FILE).write_text('{not json')
  with pytest.warns(UserWarning, match='is not an EvalRun'):
    assert models.of_evaluation(str(tmp_path)) == models.DEFAULT


def test_a_result_message_that_is_not_json_is_kept():
  from ml_metadata.proto import metadata_store_pb2 as mlmd
  execution = mlmd.Execution(last_known_state=mlmd.Execution.FAILED)
  execution.custom_properties[results.EXECUTION_RESULT].string_value = (
      'Trainer: out of memory')
  assert results._execution_error(execution) == 'Trainer: out of memory'


def test_a_failure_record_that_cannot_be_written_is_logged(tmp_path, caplog):
  from fluent_pipeline.orchestration import runners
  corrupt = tmp_path / 'metadata.sqlite'
  corrupt.write_bytes(b'garbage' * 4096)
  pipeline = types.SimpleNamespace(
      metadata_connection_config=_store_config(str(tmp_path)))
  with caplog.at_level(logging.WARNING):
    runners._record_failure(pipeline, 'run-1', 'Trainer failed')
  assert any('could not record why run run-1 failed' in r.getMessage()
             and 'not a database' in r.getMessage() for r in caplog.records)
