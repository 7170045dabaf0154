"""Import-time environment and quiet run logs."""

import os
import subprocess
import sys

import pytest
from absl import logging as absl_logging

from fluent_pipeline.orchestration import logs as _logs


def test_import_selects_tf_keras_before_tensorflow_loads():
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  out = subprocess.run(
      [sys.executable, '-c',
       'import fluent_pipeline, os, tensorflow as tf\n'
       'import tf_keras\n'
       'print(os.environ["TF_USE_LEGACY_KERAS"],'
       ' tf.keras.layers.Dense.__module__, tf_keras.__version__)'],
      capture_output=True, text=True, check=True, env=env).stdout.split()
  assert out[0] == '1'
  assert out[1].startswith('tf_keras')
  assert out[2].startswith('2.16')


def test_quiet_run_sends_output_to_the_log_and_prints_progress(
    tmp_path, capfd):
  log_path = str(tmp_path / 'logs' / 'run.log')
  with _logs.quiet_run(log_path):
    os.write(1, b'chatter on fd 1\n')
    os.write(2, b'chatter on fd 2\n')
    absl_logging.info('Component %s is running.', 'Trainer')
    # TensorFlow's SavedModel export saves and restores absl's verbosity;
    # progress lines must survive it.
    absl_logging.set_verbosity(absl_logging.get_verbosity())
    absl_logging.info('Component %s is finished.', 'Trainer')
  terminal = capfd.readouterr().out
  assert 'chatter' not in terminal
  assert '  ... Trainer' in terminal
  assert '  ok  Trainer (' in terminal
  with open(log_path) as f:
    log = f.read()
  assert 'chatter on fd 1' in log and 'chatter on fd 2' in log
  assert 'INFO:absl:Component Trainer is finished.' in log


def test_quiet_run_names_the_failing_component_and_the_log(tmp_path, capfd):
  log_path = str(tmp_path / 'run.log')
  with pytest.raises(RuntimeError, match='^boom$'):  # passed on, unchanged
    with _logs.quiet_run(log_path):
      absl_logging.info('Component %s is running.', 'Transform')
      raise RuntimeError('boom')
  terminal = capfd.readouterr().out
  assert terminal.endswith('  ... Transform\n  FAILED Transform\n')
  with open(log_path) as f:
    log = f.read()
  assert 'Component Transform is running.' in log
  assert 'RuntimeError: boom' in log  # the traceback is kept in the log
  os.write(1, b'after\n')
  assert 'after' in capfd.readouterr().out  # the terminal is restored


def test_user_code_pip_env_needs_no_index_and_restores_the_callers(
    monkeypatch):
  from fluent_pipeline import _env
  monkeypatch.setenv('PIP_NO_INDEX', 'caller')
  monkeypatch.delenv('PIP_NO_DEPS', raising=False)
  with _env.user_code_pip_env():
    assert os.environ['PIP_NO_INDEX'] == '1'
    assert os.environ['PIP_NO_DEPS'] == '1'
    assert os.environ['PIP_DISABLE_PIP_VERSION_CHECK'] == '1'
  assert os.environ['PIP_NO_INDEX'] == 'caller'
  assert 'PIP_NO_DEPS' not in os.environ
