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


def plotted_eval_config():
  """The taxi eval_config with what TFMA users look for besides: AUC, the
  plots (ConfusionMatrixPlot: ROC and precision-recall curves, confusion
  matrix; CalibrationPlot) and confidence intervals. 100 thresholds and 20
  buckets: with intervals (20 jackknife samples), TFMA's defaults (10,000
  thresholds for AUC, 1,000 for the plot) took the Evaluator 170 s here
  instead of 17 s (9 s without intervals)."""
  config = taxi_pipeline.eval_config()
  metrics = config.metrics_specs[0].metrics
  metrics.add(class_name='AUC', config='"num_thresholds": 100')
  metrics.add(class_name='ConfusionMatrixPlot', config='"num_thresholds": 100')
  metrics.add(class_name='CalibrationPlot', config='"num_buckets": 20')
  config.options.compute_confidence_intervals.value = True
  return config


@pytest.fixture(scope='module')
def baseline_run(taxi_runs, taxi_sample):
  """Another model of the taxi pipeline (more training steps), blessed
  against the model the first run blessed: its baseline. (The second run,
  nothing changed, is wholly served from cache: it has no baseline.) Its
  evaluation computes plots and confidence intervals, in the process that
  made and read the first runs (where reading a run's metrics once broke
  the pickling of TFMA's plots)."""
  pdef, _, _ = taxi_runs
  run = (taxi_chain(pdef._plan.root, taxi_sample, train_steps=120)
         .evaluate_model(plotted_eval_config()).run())
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
  numeric = 0
  for split in ('train', 'eval'):
    stats = tfdv.load_stats_binary(os.path.join(uri, f'Split-{split}',
                                                'FeatureStats.pb'))
    for feature in stats.datasets[0].features:
      name = feature.path.step[0]
      cell = f'#statistics tr[data-feature="{name}"] td[data-split="{split}"]'
      if feature.HasField('num_stats'):
        numeric += 1
        num = feature.num_stats
        assert _close(page.text(f'{cell} [data-stat="mean"]'), num.mean)
        assert _close(page.text(f'{cell} [data-stat="max"]'), num.max)
        assert _number(page.text(f'{cell} [data-stat="count"]')) == \
            num.common_stats.num_non_missing
        assert second.statistics(split)[name]['mean'] == pytest.approx(
            num.mean)
      else:
        assert page.text(f'{cell} [data-stat="unique"]').startswith(
            f'{feature.string_stats.unique:,d} unique')
  assert numeric >= 20  # train and eval, side by side
  schema = tfdv.load_schema_text(os.path.join(
      second.component('SchemaGen').outputs['schema'][0], 'schema.pbtxt'))
  assert [f['name'] for f in second.schema] == [f.name for f in
                                                schema.feature]
  assert page.dom.locator('#schema tr[data-feature]').count() == len(
      schema.feature)
  assert second.anomalies == {'eval': [], 'train': []}


def _open(page, details: str) -> None:
  """Opens a <details> as a reader does (a click), unless it is open."""
  if page.dom.locator(details).get_attribute('open') is None:
    page.dom.locator(f'{details} > summary').click()


def _tfma_plots(evaluation_uri):
  """Slice -> model name -> TFMA's PlotData, read here with TFMA."""
  import tensorflow_model_analysis as tfma
  from tensorflow_model_analysis.slicer import slicer_lib
  found = {}
  for plots in tfma.load_plots(evaluation_uri):
    name = slicer_lib.stringify_slice_key(
        slicer_lib.deserialize_slice_key(plots.slice_key))
    for kv in plots.plot_keys_and_values:
      found.setdefault(name, {})[kv.key.model_name] = kv.value
  return found


def test_tfma_plots_per_slice(baseline_run, blessed_page):
  _, page = blessed_page
  uri = baseline_run.component('Evaluator').outputs['evaluation'][0]
  plots = _tfma_plots(uri)
  assert len(plots) == 25  # Overall and 24 hours
  assert page.dom.locator('details.plots').count() == len(plots)
  auc = baseline_run.metrics_by_slice
  for name in ('Overall', 'trip_start_hour:12'):
    shown = f'details.plots[data-slice="{name}"]'
    _open(page, shown)
    charts = page.dom.locator(f'{shown} svg.chart')
    assert [c.get_attribute('aria-label') for c in charts.all()] == [
        f'ROC curve, {name}', f'precision-recall curve, {name}',
        f'calibration, {name}']
    # The confusion matrix at the threshold nearest 0.5, TFMA's counts.
    matrices = plots[name]['candidate'].confusion_matrix_at_thresholds
    nearest = min(matrices.matrices, key=lambda m: abs(m.threshold - 0.5))
    table = f'{shown} table.matrix[data-model="candidate"]'
    for cell, value in (('tp', nearest.true_positives),
                        ('fp', nearest.false_positives),
                        ('tn', nearest.true_negatives),
                        ('fn', nearest.false_negatives)):
      assert _number(page.text(f'{table} td[data-cell="{cell}"]')) == value
    assert page.dom.locator(f'{shown} table.matrix[data-model="baseline"]'
                            ).count() == 1
    # The ROC curve's area is TFMA's AUC (its curve has 100 thresholds).
    legend = re.search(r'candidate AUC ([0-9.]+)', charts.first.inner_html())
    assert float(legend.group(1)) == pytest.approx(auc[name]['auc'],
                                                   abs=0.02)
    assert 'baseline AUC' in charts.first.inner_html()


def test_confidence_intervals_are_beside_the_metrics(baseline_run,
                                                     blessed_page):
  import tensorflow_model_analysis as tfma
  _, page = blessed_page
  uri = baseline_run.component('Evaluator').outputs['evaluation'][0]
  overall = next(m for m in tfma.load_metrics(uri)
                 if not m.slice_key.single_slice_keys)
  shown = 0
  for kv in overall.metric_keys_and_values:
    if kv.key.model_name != 'candidate' or kv.key.is_diff or \
        not kv.HasField('confidence_interval'):
      continue
    interval = kv.confidence_interval
    text = page.text(f'#slice-metrics tr[data-slice="Overall"] '
                     f'td[data-metric="{kv.key.name}"] [data-ci]')
    low, high = text.strip(' []').split(', ')
    assert _close(low, interval.lower_bound.double_value.value), text
    assert _close(high, interval.upper_bound.double_value.value), text
    shown += 1
  assert shown >= 2  # binary_accuracy and auc
  assert 'confidence interval' in page.text('#intervals-note')


def test_slice_charts_are_scaled_to_their_values(baseline_run, blessed_page):
  _, page = blessed_page
  hours = [m['binary_accuracy'] for name, m in
           baseline_run.metrics_by_slice.items()
           if name.startswith('trip_start_hour:')]
  shown = hours + [0.6, baseline_run.metrics['binary_accuracy']]
  caption = page.text('#evaluation figure[data-metric="binary_accuracy"]'
                      '[data-column="trip_start_hour"] figcaption')
  low, high = map(float, re.search(r'axis from ([-0-9.e]+) to ([-0-9.e]+)',
                                   caption).groups())
  assert 0 < low <= min(shown) and max(shown) <= high
  spread = max(shown) - min(shown)
  assert high - low <= 1.25 * spread + 0.02  # not 0 to 1
  assert 'not from 0' in caption


def test_train_and_eval_side_by_side_with_their_distance(baseline_run,
                                                         blessed_page):
  """The eval split beside train, with TFDV's drift measure between them;
  the L-infinity distance of payment_type computed here by hand."""
  _, page = blessed_page
  train, evaluation = (baseline_run.statistics(s) for s in ('train', 'eval'))

  def shares(feature):
    return {v: n / feature['count'] for v, n in feature['top_values']}
  a, b = shares(train['payment_type']), shares(evaluation['payment_type'])
  by_hand = max(abs(a.get(v, 0) - b.get(v, 0)) for v in set(a) | set(b))
  cell = '#statistics tr[data-feature="{}"] td[data-change="eval"]'
  assert _close(page.text(cell.format('payment_type') + ' [data-value]'),
                by_hand)
  assert page.dom.locator(cell.format('payment_type')).get_attribute(
      'title') == 'L-infinity distance'
  for name, feature in train.items():
    if 'mean' in feature and feature['count']:
      value = _number(page.text(cell.format(name) + ' [data-value]'))
      assert 0 <= value <= 1, name
      assert page.dom.locator(cell.format(name)).get_attribute(
          'title') == 'Jensen-Shannon divergence'
  assert page.text('#split-sizes').startswith(
      f'split train: {train["fare"]["num_examples"]:,} examples · split '
      f'eval: {evaluation["fare"]["num_examples"]:,} examples')
  assert page.dom.locator('#statistics td.spark svg').count() >= 16


def test_user_code_steps_and_graph_are_shown(baseline_run, blessed_page):
  """Each step's code as it ran (the module file cut for the step), every
  step counted, and the resolver drawn with its edges."""
  from fluent_pipeline.dsl import wiring
  from fluent_pipeline.report import sections
  _, page = blessed_page
  config = baseline_run.configuration
  for sha, entry in config['user_code'].items():
    shown = f'details.code[data-code="{sha[:12]}"]'
    _open(page, shown)
    assert page.dom.locator(f'{shown} pre.source').text_content() == entry[
        'files']['taxi_utils.py']
    assert f'def {entry["sliced"]["for"]}(' in page.text(f'{shown} pre')
  run_fn = config['steps']['train']['run_fn']['user_code']
  assert page.text(f'details.code[data-code="{run_fn[:12]}"] > summary'
                   ).startswith('train.run_fn: module_file ')
  assert page.text('#step-count') == str(len(config['steps']))
  # ML Metadata's events give the resolver no edge: the report draws them.
  resolver = wiring.MODEL_RESOLVER_ID
  assert not [e for e in baseline_run.edges if resolver in e]
  assert set(sections.resolver_edges(baseline_run)) == {
      (resolver, 'Evaluator'), ('Trainer', resolver)}
  graph = page.dom.locator('#pipeline figure.graph svg').inner_html()

  def x(node):
    return float(re.search(r'<text[^>]*\bx="([0-9.]+)"[^>]*>' + node + '<',
                           graph).group(1))
  assert x('Trainer') < x(resolver) < x('Evaluator')


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
    assert page.dom.locator('#statistics tr[data-feature]').count() == 18
    for section, step in (('training', '.train()'),
                          ('evaluation', '.evaluate_model(eval_config)'),
                          ('inference', '.bulk_infer(...)')):
      assert f'add {step} to the chain' in page.text(f'#{section}'), section
    assert page.text('#verdict') == 'complete'
