"""examples/chicago_taxi/notebook.ipynb, executed as a person runs it (a
Jupyter kernel, through nbclient) on a small sample: it trains and pushes a
model, exports the pipeline, and the exported pipeline.py is served from the
notebook run's cache."""

import glob
import json
import os
import re
import subprocess
import sys

import browser
import nbformat
import pytest
from conftest import SERVING_LIMITS, TAXI_DIR
from kernels import kernel_manager
from nbclient import NotebookClient

pytestmark = pytest.mark.e2e

NOTEBOOK = os.path.join(TAXI_DIR, 'notebook.ipynb')
CLI = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')

# One edit to the notebook's code, so that what the tests check does not
# depend on the machine's speed: the serving check's limits (the notebook
# keeps infra_validate's defaults, 5 s and 200 ms, which measure the
# machine). Its run_fn seeds the model itself. The edit must find its line,
# so a change to the notebook fails here, loudly.
EDITS = [
    ('            .infra_validate()\n',
     '            .infra_validate(max_load_seconds={max_load_seconds!r}, '
     'max_latency_ms={max_latency_ms!r})\n'.format(**SERVING_LIMITS)),
]


def edited(notebook):
  for old, new in EDITS:
    cells = [c for c in notebook.cells if old in c.source]
    assert len(cells) == 1 and cells[0].source.count(old) == 1, old
    cells[0].source = cells[0].source.replace(old, new)


@pytest.fixture(scope='module')
def executed(tmp_path_factory, taxi_sample):
  """The notebook run once in a fresh folder, on the sample, few steps."""
  folder = tmp_path_factory.mktemp('notebook')
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  parameters = [c for c in notebook.cells
                if 'parameters' in c.metadata.get('tags', [])]
  assert len(parameters) == 1
  parameters[0].source = '\n'.join([
      f"DATA = {taxi_sample['data']!r}", "ROOT = 'runs'",
      'TRAIN_STEPS = 60', 'EVAL_STEPS = 10'])
  edited(notebook)
  client = NotebookClient(notebook, timeout=900,
                          km=kernel_manager(str(folder / 'kernels')),
                          resources={'metadata': {'path': str(folder)}})
  client.execute()
  nbformat.write(notebook, str(folder / 'executed.ipynb'))
  return folder, notebook


def outputs_of(notebook, text):
  cell = next(c for c in notebook.cells
              if c.cell_type == 'code' and text in c.source)
  return cell.outputs


def plain(outputs):
  found = []
  for output in outputs:
    if output.output_type == 'stream':
      found.append(output.text)
    elif 'data' in output:
      found.append(output.data.get('text/plain', ''))
  return '\n'.join(found)


def test_the_notebook_trains_and_pushes_a_model(executed):
  folder, notebook = executed
  run_outputs = outputs_of(notebook, 'result = pipeline.run()')
  # What a person sees: the progress (one display, updated in place) and
  # the summary; no TF, Beam or Keras output, nothing from the network.
  assert [o.output_type for o in run_outputs] == ['display_data',
                                                  'execute_result']
  progress = run_outputs[0].data['text/plain'].splitlines()
  assert progress and all(ln.startswith('  ok  ') for ln in progress), progress
  everything = json.dumps([c.get('outputs', []) for c in notebook.cells])
  # (SVG's namespace names w3.org; nothing is loaded from it)
  assert not re.search(r'https?://(?!www\.w3\.org/)', everything)
  assert '<script' not in everything
  summary = plain(run_outputs)
  assert "Pipeline 'taxi-notebook'" in summary
  for component in ('CsvExampleGen', 'Transform', 'Trainer', 'Evaluator',
                    'LocalInfraValidator', 'Pusher'):
    assert component in summary
  assert 'pushed model:' in summary
  pushed = glob.glob(str(folder / 'runs' / 'taxi-notebook' / 'serving' / '*'
                         / 'saved_model.pb'))
  assert len(pushed) == 1
  # The partial run ran just the trainer (served from the cache), reusing
  # what comes before it; nothing after it ran.
  partial = plain(outputs_of(notebook, "pipeline.run(only='train')"))
  assert 'Trainer' in partial
  assert 'Evaluator' not in partial and 'Pusher' not in partial


def test_the_notebook_shows_the_planned_graph_and_the_run_summary(executed):
  folder, notebook = executed
  planned = outputs_of(notebook, 'pipeline  # the planned graph')[-1].data
  assert '<svg' in planned['text/html']
  for component in ('CsvExampleGen', 'Transform', 'Trainer', 'Pusher'):
    assert component in planned['text/html']
  assert planned['text/plain'].startswith("(PipelineDef('taxi-notebook'")
  summary = outputs_of(notebook, 'result = pipeline.run()')[-1].data
  html = summary['text/html']
  link = re.search(r'<a href="([^"]+)"[^>]*class="fluent-report-link"',
                   html).group(1)
  assert os.path.isfile(os.path.join(folder, link)), link
  with open(os.path.join(folder, link), encoding='utf-8') as f:
    assert 'id="evaluation"' in f.read()
  # As the notebook shows it: rendered, nothing loaded, no error.
  with browser.open_page(html=html) as page:
    assert page.console == [] and page.page_errors == []
    assert page.requests == [] or page.requests == ['about:blank']
    shown = page.text('.fluent-summary')
    assert 'blessed' in shown and 'binary_accuracy' in shown
    graph = page.dom.locator('.graph svg').inner_html()
    assert 'Trainer' in graph and 'COMPLETE' in graph
    page.dom.screenshot(path=str(folder / 'summary.png'), full_page=True)


def test_the_export_is_source_and_is_served_from_the_cache(executed):
  folder, notebook = executed
  exported = folder / 'exported'
  functions = (exported / 'taxi_notebook_functions.py').read_text()
  assert 'def run_fn(fn_args: FnArgs) -> None:' in functions
  assert 'def _model(hidden_units: int = 32) -> tf.keras.Model:' in functions
  assert 'import tensorflow_transform as tft' in functions
  assert 'cloudpickle' not in functions
  shown = plain(outputs_of(notebook, "pipeline.export('exported')"))
  assert '.train(run_fn, train_args=60, eval_args=10)' in shown
  run = subprocess.run([CLI, 'run', str(exported / 'pipeline.py')],
                       capture_output=True, text=True, cwd=str(folder),
                       timeout=600, stdin=subprocess.DEVNULL)
  assert run.returncode == 0, run.stdout + run.stderr
  states = {}
  for line in run.stdout.splitlines():
    parts = line.split()
    if len(parts) >= 2 and parts[1] in ('COMPLETE', 'CACHED', 'FAILED'):
      states[parts[0]] = parts[1]
  # The same components with the same exec properties: every step up to
  # the trainer is served from the notebook's runs. (The Evaluator runs
  # again: it now has the notebook's blessed model as its baseline.)
  for component in ('PipelineConfigurationGen', 'CsvExampleGen',
                    'StatisticsGen', 'SchemaGen', 'ExampleValidator',
                    'Transform', 'Trainer'):
    assert states.get(component) == 'CACHED', (component, run.stdout)
