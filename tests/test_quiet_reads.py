"""Reading a run back (`report`, `show`, `metrics_by_slice`) prints no
TensorFlow deprecation notice: TFMA's loaders call tf_record_iterator, whose
notice is TFMA's to act on. The silence is scoped to those reads: the user's
own call of a deprecated TensorFlow API still warns. Its own module, so that
test_cli stays out of the taxi_runs group."""

import subprocess
import sys

import pytest

CHECK = '''
import sys
from fluent_pipeline import cli, read_run
root, out = sys.argv[1:]
run = read_run(root, 'latest')
assert run.metrics_by_slice['Overall'], 'no metrics: TFMA read nothing'
assert cli.main(['report', 'latest', '--root', root, '-o', out]) == 0
assert cli.main(['show', 'latest', '--root', root]) == 0
sys.stderr.write('USER CODE\\n')
import tensorflow as tf
open(out + '.tfrecord', 'w').close()
list(tf.compat.v1.io.tf_record_iterator(out + '.tfrecord'))  # warns
'''


@pytest.mark.e2e  # taxi_runs runs the pipeline
def test_reading_a_run_prints_no_tensorflow_deprecation(taxi_runs, tmp_path):
  pdef, _, _ = taxi_runs
  done = subprocess.run(
      [sys.executable, '-c', CHECK, pdef.pipeline_root,
       str(tmp_path / 'report.html')],
      capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr
  ours, user = done.stderr.split('USER CODE\n')
  assert 'is deprecated' not in ours, ours
  assert 'tf_record_iterator (from tensorflow' in user  # not silenced
