"""run() in a Jupyter notebook: one progress display and the summary, nothing
else, and nothing that loads from the network.

A real notebook runs in a real ipykernel (this virtualenv's interpreter)
through nbclient, and the test reads the executed notebook's outputs.
"""

import glob
import json
import os
import re
import sys

import nbclient
import nbformat
import pytest
from kernels import kernel_manager

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMPONENTS = ('CsvExampleGen', 'StatisticsGen', 'SchemaGen',
              'ExampleValidator')

# Every source of noise a quiet run must keep out of the cell, each with a
# marker to find in the log. The HTML output must not reach the notebook.
NOISE = '''
import logging, os, subprocess, sys, warnings
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging as absl_logging
from IPython.display import HTML, clear_output, display
from fluent_pipeline.orchestration import logs as _logs
with _logs.quiet_run(os.path.join({root!r}, 'noise', 'run.log')):
  absl_logging.info('Component %s is running.', 'Noise')
  print('noise: print')
  sys.stderr.write('noise: sys.stderr\\n')
  warnings.warn('noise: warnings.warn')
  tf.get_logger().warning('noise: tensorflow logger')
  logging.getLogger('apache_beam.noise').warning('noise: beam logger')
  absl_logging.warning('noise: absl')
  os.write(1, b'noise: fd 1\\n')
  os.write(2, b'noise: fd 2\\n')
  subprocess.run(['echo', 'noise: subprocess'], check=True)
  display(HTML('<script src="https://code.jquery.com/x.js"></script>'))
  model = tf_keras.Sequential([tf_keras.layers.Dense(1)])
  model.compile(loss='mse')
  model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=1, verbose=1)
  clear_output()  # what KerasTuner does after each trial
  absl_logging.info('Component %s is finished.', 'Noise')
'''
NOISE_MARKERS = ('noise: print', 'noise: sys.stderr', 'noise: warnings.warn',
                 'noise: tensorflow logger', 'noise: beam logger',
                 'noise: absl', 'noise: fd 1', 'noise: fd 2',
                 'noise: subprocess', '[notebook display output]',
                 '1/1 [')  # Keras' progress bar


# Two cells of user code, the second using the first: the slip (a feature
# that does not exist) is in the helper, on line 4 of its cell.
HELPER_CELL = ('# what the predicate reads\n'
               '\n'
               'def _region(features):\n'
               "  return features['regon']  # the slip: no such feature\n")
PREDICATE_CELL = ('def keep_south(features):\n'
                  "  return _region(features) == ['south']\n")


def build_notebook(root: str, data_dir: str):
  """Cells: the environment, a quiet run, direct noise, a failure, a
  verbose run, the quiet run again (from the cache), a failure in user
  code of two cells, the failed run's summary."""
  cell = nbformat.v4.new_code_cell
  return nbformat.v4.new_notebook(cells=[
      cell("import os, sys\n"
           "os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
           "sys.executable"),
      cell("from fluent_pipeline import PipelineDef\n"
           f"quiet = (PipelineDef('nbquiet', root={root!r})"
           f".from_csv({data_dir!r})\n"
           "         .generate_statistics().infer_schema()"
           ".validate_input_data().cache())\n"
           "quiet.run()"),
      cell(NOISE.format(root=root)),
      cell("from absl import logging as absl_logging\n"
           "try:\n"
           f"  with _logs.quiet_run({root!r} + '/broken/run.log'):\n"
           "    absl_logging.info('Component %s is running.', 'Broken')\n"
           "    print('noise: before the failure')\n"
           "    raise RuntimeError('boom')\n"
           "except RuntimeError:\n"
           "  pass"),
      cell(f"_ = (PipelineDef('nbverbose', root={root!r})"
           f".from_csv({data_dir!r})\n"
           "     .generate_statistics().run(verbose=True))"),
      cell('quiet.run()'),
      cell(HELPER_CELL),
      cell(PREDICATE_CELL),
      cell(f"failing = (PipelineDef('nbfail', root={root!r})"
           f".from_csv({data_dir!r})\n"
           "           .filter_examples(keep_south))\n"
           "failing.run()", metadata={'tags': ['raises-exception']}),
      cell('from fluent_pipeline import read_run\n'
           'print(read_run(failing))'),
  ])


@pytest.fixture(scope='module')
def executed(tmp_path_factory, taxi_csv_dir):
  tmp = tmp_path_factory.mktemp('notebook')
  root = str(tmp / 'runs')
  nb = build_notebook(root, taxi_csv_dir)
  km = kernel_manager(str(tmp / 'kernels'))
  nbclient.NotebookClient(nb, km=km, timeout=240, cwd=REPO).execute()
  return nb, root


def _texts(output) -> list:
  if output['output_type'] == 'stream':
    return [output['text']]
  return [v if isinstance(v, str) else json.dumps(v)
          for v in output.get('data', {}).values()]


def test_the_kernel_is_this_interpreter(executed):
  nb, _ = executed
  (out,) = nb.cells[0].outputs
  assert out['data']['text/plain'] == repr(sys.executable)


def test_a_run_shows_one_progress_display_and_the_summary(executed):
  nb, root = executed
  outputs = nb.cells[1].outputs
  assert [o['output_type'] for o in outputs] == [
      'display_data', 'execute_result'], outputs
  progress = outputs[0]['data']
  assert set(progress) == {'text/plain'}
  lines = progress['text/plain'].splitlines()
  assert all(line.startswith('  ok  ') for line in lines), lines
  for component in COMPONENTS:
    assert any(line.startswith(f'  ok  {component} (') for line in lines)
  summary = outputs[1]['data']['text/plain']
  assert summary.startswith("Pipeline 'nbquiet', run ")  # the summary
  assert 'full log: ' in summary
  assert ' COMPLETE ' in summary and 'FAILED' not in summary
  # What the notebook did not show is in the run's log.
  # (the quiet run runs twice: cell 5 runs it again, from the cache)
  log_path = re.search(r'full log: (\S+)', summary).group(1)
  assert log_path in glob.glob(os.path.join(root, 'nbquiet', 'logs', '*.log'))
  with open(log_path) as f:
    log = f.read()
  for component in COMPONENTS:
    assert f'INFO:absl:Component {component} is finished.' in log
  assert 'INFO:absl:Using deployment config' in log
  assert 'apache_beam' in log  # Beam's warnings, through the root logger
  # Interactive Beam was never set up (its warning and jQuery loader).
  assert 'Interactive Beam' not in log


def test_every_kind_of_output_goes_to_the_log(executed):
  nb, root = executed
  outputs = nb.cells[2].outputs
  assert [o['output_type'] for o in outputs] == ['display_data'], outputs
  assert list(outputs[0]['data']) == ['text/plain']
  assert outputs[0]['data']['text/plain'].startswith('  ok  Noise (')
  with open(os.path.join(root, 'noise', 'run.log')) as f:
    log = f.read()
  for marker in NOISE_MARKERS:
    assert marker in log, marker


def test_a_failure_is_marked_in_the_progress_display(executed):
  nb, root = executed
  outputs = nb.cells[3].outputs
  assert [o['output_type'] for o in outputs] == ['display_data'], outputs
  assert outputs[0]['data'] == {'text/plain': '  FAILED Broken'}
  with open(os.path.join(root, 'broken', 'run.log')) as f:
    log = f.read()
  assert 'noise: before the failure' in log
  assert 'RuntimeError: boom' in log


def test_verbose_shows_the_logs(executed):
  nb, _ = executed
  text = ''.join(t for o in nb.cells[4].outputs for t in _texts(o))
  assert 'Component CsvExampleGen is running.' in text
  assert 'Component StatisticsGen is finished.' in text


def test_no_output_loads_anything(executed):
  nb, _ = executed
  for cell in nb.cells:
    for output in cell.outputs:
      for text in _texts(output):
        # (SVG's namespace names w3.org; nothing is loaded from it)
        text = re.sub(r'http://www\.w3\.org/[\w/.#-]*', '', text)
        for bad in ('http://', 'https://', '<script', 'Interactive Beam'):
          assert bad not in text, (bad, text[:500])


def _progress_and_states(outputs):
  """The live lines by component, and each component's state in the run's
  summary."""
  assert [o['output_type'] for o in outputs] == [
      'display_data', 'execute_result'], outputs
  live = {}
  for line in outputs[0]['data']['text/plain'].splitlines():
    found = re.match(r'  ok  (\S+) \((.*)\)$', line)
    assert found, line
    live[found.group(1)] = found.group(2)
  states = {}
  for line in outputs[1]['data']['text/plain'].splitlines():
    parts = line.split()
    if len(parts) >= 2 and parts[1] in ('COMPLETE', 'CACHED', 'FAILED'):
      states[parts[0]] = parts[1]
  return live, states


def test_a_cached_step_says_cached_in_the_live_line(executed):
  nb, _ = executed
  first, first_states = _progress_and_states(nb.cells[1].outputs)
  assert 'cached' not in first.values(), first
  live, states = _progress_and_states(nb.cells[5].outputs)
  for component in COMPONENTS:
    assert states[component] == 'CACHED', states
  # The live line says what the summary says, component by component.
  assert set(live) == set(states)
  for component, state in states.items():
    assert (live[component] == 'cached') == (state == 'CACHED'), (
        component, live, states)


def test_a_failure_in_notebook_code_names_the_cell_and_its_line(executed):
  nb, _ = executed
  helper, predicate, run, summary = nb.cells[6:10]
  assert helper.source == HELPER_CELL and predicate.source == PREDICATE_CELL
  (error,) = [o for o in run.outputs if o['output_type'] == 'error']
  assert error['ename'] == 'PipelineRunError'
  lines = error['evalue'].splitlines()
  assert lines[0].startswith(
      'FilterExamples failed in your predicate_fn: '), lines
  assert 'regon' in lines[0]
  cell = f'notebook cell In [{helper.execution_count}]'
  assert lines[1:3] == [
      f'  at {cell}, line 4, in _region:',
      "    return features['regon']  # the slip: no such feature"], lines
  assert lines[3].startswith('  (run as ') and '_fluent_user_code' in lines[3]
  # The run's summary, read back from ML Metadata, says the same.
  printed = ''.join(o.get('text', '') for o in summary.outputs)
  assert 'FilterExamples' in printed and ' FAILED ' in printed, printed
  assert f'at {cell}, line 4, in _region:' in printed, printed
  assert "return features['regon']" in printed
