"""The run report, checked as a reviewer sees it: written for real taxi runs
(one blessed against a baseline, one that failed its threshold), opened in
headless Chromium, and its numbers compared with what ML Metadata, TFDV and
TFMA hold for those runs, read here independently.
"""

import math
import os
import re
import subprocess
import sys

import browser
import pipeline as taxi_pipeline  # examples/chicago_taxi/pipeline.py
import pytest
from conftest import taxi_chain

pytestmark = pytest.mark.e2e

SECTIONS = ('pipeline', 'data', 'training', 'evaluation', 'serving',
            'inference')


@pytest.fixture(scope='module')
def strict_run(taxi_runs):
  """The taxi run again with an accuracy threshold no model meets: the
  Evaluator and what follows re-run, the rest comes from cache."""
  pdef, _, _ = taxi_runs
  strict = taxi_pipeline.eval_config()
  for spec in strict.metrics_specs:
    for metric in spec.metrics:
      for per_slice in metric.per_slice_thresholds:
        per_slice.threshold.value_threshold.lower_bound.value = 0.999
  return pdef.evaluate_model(strict).run()


@pytest.fixture(scope='module')
def baseline_run(taxi_runs, taxi_sample):
  """Another model of the taxi pipeline (more training steps), blessed
  against the model the first run blessed: its baseline. (The second run,
  nothing changed, is wholly served from cache: it has no baseline.)"""
  pdef, _, _ = taxi_runs
  run = taxi_chain(pdef._plan.root, taxi_sample, train_steps=120).run()
  assert run.states['Trainer'] == 'COMPLETE' and run.blessed, run
  return run


@pytest.fixture(scope='module')
def blessed_page(baseline_run, tmp_path_factory):
  second = baseline_run
  path = second.report(str(tmp_path_factory.mktemp('report') / 'taxi.html'))
  with browser.open_page(path) as page:
    page.dom.screenshot(path=path + '.png', full_page=True)
    yield path, page


@pytest.fixture(scope='module')
def strict_page(taxi_runs, strict_run, tmp_path_factory):
  """The failed run's report compared with the blessed one, made by the
  command line."""
  pdef, _, second = taxi_runs
  path = str(tmp_path_factory.mktemp('report') / 'strict.html')
  done = subprocess.run(
      [sys.executable, '-m', 'fluent_pipeline.cli', 'report',
       strict_run.run_id, '--root', pdef.pipeline_root, '--compare',
       second.run_id, '-o', path], capture_output=True, text=True,
      check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.strip().splitlines()[-1] == path
  with browser.open_page(path) as page:
    page.dom.screenshot(path=path + '.png', full_page=True)
    yield path, page


def _number(text: str) -> float:
  return float(text.replace(',', '').split()[0])


def _close(shown: str, value: float) -> bool:
  """A figure as the report prints it (4 significant digits) is `value`."""
  return math.isclose(_number(shown), value, rel_tol=6e-4, abs_tol=1e-9)


def _tfma_slices(evaluation_uri):
  import tensorflow_model_analysis as tfma
  from tensorflow_model_analysis.slicer import slicer_lib
  found = {}
  for metrics in tfma.load_metrics(evaluation_uri):
    name = slicer_lib.stringify_slice_key(
        slicer_lib.deserialize_slice_key(metrics.slice_key))
    found[name] = {kv.key.name: kv.value.double_value.value
                   for kv in metrics.metric_keys_and_values
                   if not kv.key.is_diff and
                   kv.key.model_name in ('', 'candidate')}
  return found


def _mlmd_states(metadata_path, run_id):
  """Node id -> state of each execution of the run, read from the store."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  store = metadata_store.MetadataStore(config)
  run = store.get_context_by_type_and_name('pipeline_run', run_id)
  states = {}
  for execution in store.get_executions_by_context(run.id):
    for context in store.get_contexts_by_execution(execution.id):
      if context.type == 'node':
        node = context.name.split('.', 1)[1]
        states[node] = metadata_store_pb2.Execution.State.Name(
            execution.last_known_state)
  return states


def test_the_page_loads_nothing_and_logs_no_error(blessed_page):
  path, page = blessed_page
  assert page.console == [] and page.page_errors == []
  assert page.requests == ['file://' + path]
  with open(path, encoding='utf-8') as f:
    text = f.read()
  assert not re.search(r'(src|href)="(https?:)?//', text)
  assert os.path.getsize(path + '.png') > 50_000  # the screenshot


def test_every_section_is_there_and_read(blessed_page):
  _, page = blessed_page
  for section in SECTIONS:
    assert page.dom.locator(f'section#{section} h2').count() == 1, section
  assert page.dom.locator('[data-error]').count() == 0, page.texts(
      '[data-error]')
  assert page.text('#verdict') == 'model blessed'
  assert page.text('#anomalies-none').startswith('none')
  assert page.dom.locator('#training figure svg').count() >= 2  # curves
  assert page.dom.locator('#evaluation figure svg').count() >= 1


def test_graph_and_states_are_those_of_ml_metadata(taxi_runs, baseline_run, blessed_page):
  pdef, _, _ = taxi_runs
  second = baseline_run
  _, page = blessed_page
  states = _mlmd_states(pdef.metadata_path, second.run_id)
  assert len(states) >= 12
  graph = page.dom.locator('#pipeline figure.graph svg').inner_html()
  for node, state in states.items():
    shown = page.text(f'#components tr[data-node="{node}"] .badge')
    assert shown == state, node
    assert node in graph


def test_metrics_per_slice_are_tfma_s(taxi_runs, baseline_run, blessed_page):
  second = baseline_run
  _, page = blessed_page
  expected = _tfma_slices(second.component('Evaluator')
                          .outputs['evaluation'][0])
  assert 'Overall' in expected and 'trip_start_hour:12' in expected
  assert second.metrics_by_slice == expected
  for name, metrics in expected.items():
    for metric, value in metrics.items():
      cell = page.text(f'#slice-metrics tr[data-slice="{name}"] '
                       f'td[data-metric="{metric}"]')
      assert _close(cell, value), (name, metric, cell, value)
  # This model is evaluated against the first run's blessed model.
  assert page.dom.locator('#baseline tr[data-metric="binary_accuracy"]'
                          ).count() == 1
  row = page.texts('#thresholds tr[data-slice="Overall"][data-change="no"] td')
  assert row[0] == 'binary_accuracy' and row[2] == '>= 0.6'
  assert _close(row[3], expected['Overall']['binary_accuracy'])
  assert row[4] == 'passed'


def test_statistics_and_schema_are_tfdv_s(taxi_runs, baseline_run, blessed_page):
  import tensorflow_data_validation as tfdv
  second = baseline_run
  _, page = blessed_page
  uri = second.component('StatisticsGen').outputs['statistics'][0]
  stats = tfdv.load_stats_binary(os.path.join(uri, 'Split-train',
                                              'FeatureStats.pb'))
  table = '.stats[data-split="train"]'
  numeric = 0
  for feature in stats.datasets[0].features:
    name = feature.path.step[0]
    row = f'{table} tr[data-feature="{name}"]'
    if feature.HasField('num_stats'):
      numeric += 1
      num = feature.num_stats
      assert _close(page.text(f'{row} td[data-stat="mean"]'), num.mean)
      assert _close(page.text(f'{row} td[data-stat="max"]'), num.max)
      assert _number(page.text(f'{row} td[data-stat="count"]')) == \
          num.common_stats.num_non_missing
      assert second.statistics('train')[name]['mean'] == pytest.approx(
          num.mean)
    else:
      assert page.text(f'{row} td[data-stat="unique"]').startswith(
          f'{feature.string_stats.unique:,d} unique')
  assert numeric >= 10
  schema = tfdv.load_schema_text(os.path.join(
      second.component('SchemaGen').outputs['schema'][0], 'schema.pbtxt'))
  assert [f['name'] for f in second.schema] == [f.name for f in
                                                schema.feature]
  assert page.dom.locator('#schema tr[data-feature]').count() == len(
      schema.feature)
  assert second.anomalies == {'eval': [], 'train': []}


def test_serving_and_predictions_are_shown(taxi_runs, baseline_run, blessed_page):
  second = baseline_run
  _, page = blessed_page
  assert _close(page.text('#serving-check td[data-value="p95_ms"]'),
                second.serving['p95_ms'])
  assert page.text('#pushed-model') == second.pushed_model
  signature = page.text('table[data-signature="serving_default"]')
  assert 'examples' in signature and 'string' in signature
  header = page.texts('#predictions thead th')
  assert header[0] == 'prediction: outputs' and 'fare' in header
  assert page.dom.locator('#predictions tbody tr').count() == 20


def test_a_run_that_failed_its_threshold(strict_run, strict_page):
  _, page = strict_page
  assert page.console == [] and page.page_errors == []
  assert strict_run.blessed is False
  # The summary names the slice once and says bulk inference was skipped.
  summary = str(strict_run)
  failed = [ln for ln in summary.splitlines() if ln.strip().startswith(
      'failed:')]
  assert len(failed) == 1, summary
  assert 'binary_accuracy on Overall' in failed[0] and '>= 0.999' in failed[0]
  assert 'bulk inference: skipped (the model was not blessed)' in summary
  assert page.text('#verdict') == 'model NOT blessed'
  row = page.texts('#thresholds tr.fail[data-slice="Overall"][data-change="no"] td')
  assert row[2] == '>= 0.999' and row[4] == 'FAILED'
  assert _close(row[3], strict_run.metrics['binary_accuracy'])
  assert 'not blessed' in page.text('#inference')
  assert page.dom.locator('[data-error]').count() == 0


def test_compare_shows_deltas_and_what_changed(taxi_runs, strict_run,
                                               strict_page):
  _, _, second = taxi_runs
  _, page = strict_page
  assert page.text('#comparison h2') == f'Compared with run {second.run_id}'
  cells = page.texts('#compare-metrics tr[data-slice="Overall"] '
                     'td[data-metric="binary_accuracy"]')
  assert _close(cells[0], second.metrics['binary_accuracy'])
  assert _close(cells[1], strict_run.metrics['binary_accuracy'])
  assert cells[2] == '0'  # the same model, evaluated on the same data
  assert page.text('#compare-statistics-none').startswith('none')
  diff = page.text('#comparison pre.diff')
  assert 'lower_bound' in diff and '0.999' in diff


def test_report_refuses_to_overwrite_other_files(taxi_runs, tmp_path):
  from fluent_pipeline.errors import PipelineDefinitionError
  _, first, _ = taxi_runs
  precious = tmp_path / 'notes.html'
  precious.write_text('<p>mine</p>')
  with pytest.raises(PipelineDefinitionError, match='not a run report'):
    first.report(str(precious))
  assert precious.read_text() == '<p>mine</p>'


def test_notebook_summary_links_the_written_report(taxi_runs):
  _, first, _ = taxi_runs
  html = first._repr_html_()
  assert '<svg' in html and 'binary_accuracy' in html
  link = re.search(r'class="fluent-report-link">([^<]+)<', html).group(1)
  assert os.path.isfile(link) and link.endswith(f'{first.run_id}.html')
  with browser.open_page(html=html) as page:
    assert page.console == [] and page.page_errors == []
    assert 'blessed' in page.text('.fluent-summary')


def test_a_short_pipeline_says_what_it_lacks(tmp_path, taxi_csv_dir):
  from fluent_pipeline import PipelineDef
  result = (PipelineDef('short', root=str(tmp_path))
            .from_csv(taxi_csv_dir).generate_statistics().run())
  path = result.report()
  assert path == os.path.join(result.pipeline_root, 'reports',
                              f'report-{result.run_id}.html')
  with browser.open_page(path) as page:
    assert page.console == [] and page.page_errors == []
    assert page.dom.locator('[data-error]').count() == 0
    assert page.dom.locator('.stats[data-split="train"] tr[data-feature]'
                            ).count() == 18
    for section, step in (('training', '.train()'),
                          ('evaluation', '.evaluate_model(eval_config)'),
                          ('inference', '.bulk_infer(...)')):
      assert f'add {step} to the chain' in page.text(f'#{section}'), section
    assert page.text('#verdict') == 'complete'
