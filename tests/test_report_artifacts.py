"""The report on artifacts the taxi runs do not make: sliced statistics,
bytes and struct features, a schema without presence, labels with '$' and
'<', several slicing columns, a failed step. The artifacts are real
TFDV/TFMA protos written here in TFX's layout; the page is rendered and
opened in headless Chromium as a reviewer would."""

import os

import browser
import pytest

from fluent_pipeline.artifacts import readers as _artifacts
from fluent_pipeline.recorded.results import ComponentRun, RunResult
from fluent_pipeline.report import charts as _charts
from fluent_pipeline.report import page as _report
from fluent_pipeline.report import sections as _sections


def _statistics(folder):
  from tensorflow_metadata.proto.v0 import statistics_pb2
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  whole = stats.datasets.add(name='All Examples', num_examples=100)
  fare = whole.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
  fare.path.step.append('fare $ <usd>')
  fare.num_stats.mean = 12.5
  fare.num_stats.common_stats.num_non_missing = 90
  fare.num_stats.common_stats.num_missing = 10
  bucket = fare.num_stats.histograms.add().buckets.add()
  bucket.low_value, bucket.high_value, bucket.sample_count = 0, 25, 90
  image = whole.features.add(type=statistics_pb2.FeatureNameStatistics.BYTES)
  image.path.step.append('image')
  image.bytes_stats.unique = 7
  image.bytes_stats.common_stats.num_non_missing = 100
  nested = whole.features.add(
      type=statistics_pb2.FeatureNameStatistics.STRUCT)
  nested.path.step.append('trip')
  nested.struct_stats.common_stats.num_non_missing = 60
  nested.struct_stats.common_stats.num_missing = 40
  # A slice TFDV adds with slicing: not the split's numbers.
  part = stats.datasets.add(name='company_X', num_examples=5)
  sliced = part.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
  sliced.path.step.append('fare $ <usd>')
  sliced.num_stats.mean = 99.0
  split = os.path.join(folder, 'Split-train')
  os.makedirs(split)
  with open(os.path.join(split, 'FeatureStats.pb'), 'wb') as f:
    f.write(stats.SerializeToString())


def _schema(folder):
  os.makedirs(folder)
  with open(os.path.join(folder, 'schema.pbtxt'), 'w') as f:
    f.write('feature { name: "image" type: BYTES }\n'
            'feature { name: "fare $ <usd>" type: FLOAT '
            'presence { min_fraction: 1.0 } }\n')


@pytest.fixture(scope='module')
def odd_run(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('odd'))
  stats, schema = os.path.join(root, 'stats'), os.path.join(root, 'schema')
  _statistics(stats)
  _schema(schema)
  components = [
      ComponentRun('StatisticsGen', 'COMPLETE', 1.0,
                   {'statistics': [stats]}, 1),
      ComponentRun('SchemaGen', 'COMPLETE', 1.0, {'schema': [schema]}, 2),
      ComponentRun('Transform', 'FAILED', 3.0, {}, 3,
                   error='Transform failed in your preprocessing_fn: '
                   'KeyError: <fare>'),
  ]
  configuration = {'steps': {'generate_statistics': {}, 'infer_schema': {},
                             'preprocess': {}, 'train': {}},
                   'settings': {'extra_components': [
                       {'id': 'FeatureReport',
                        'type': 'feature_report.FeatureReport'}]}}
  return RunResult('odd', 'r1', root, components,
                   configuration=configuration,
                   edges=[('StatisticsGen', 'SchemaGen')])


def test_statistics_are_the_whole_split_with_every_feature_kind(odd_run):
  features = _artifacts.statistics(odd_run.components[0].outputs[
      'statistics'][0], 'train')
  assert features['fare $ <usd>']['mean'] == 12.5  # not the slice's 99
  assert features['fare $ <usd>']['missing_fraction'] == 0.1
  assert features['image']['count'] == 100 and features['image']['unique'] == 7
  assert features['trip']['missing'] == 40
  assert [f['presence'] for f in odd_run.schema] == [None, 'required']


@pytest.mark.e2e  # headless Chromium
def test_odd_artifacts_and_a_failure_render(odd_run, tmp_path):
  path = _report.write(odd_run, str(tmp_path / 'odd.html'))
  with browser.open_page(path) as page:
    assert page.console == [] and page.page_errors == []
    assert page.dom.locator('[data-error]').count() == 0
    assert page.text('#failure h3') == 'Transform failed'
    assert page.text('#failure pre') == (
        'Transform failed in your preprocessing_fn: KeyError: <fare>')
    rows = ('#statistics tr[data-feature="{}"] td[data-split="train"] '
            '[data-stat="{}"]')
    assert page.text(rows.format('fare $ <usd>', 'mean')) == '12.5'
    assert page.text(rows.format('image', 'count')) == '100'
    assert page.text(rows.format('image', 'unique')) == '7 unique'
    assert page.text(rows.format('trip', 'missing')) == '40'
    assert page.text('#statistics tr[data-feature="trip"] '
                     'td[data-split="train"][data-col="count"]') == (
        '60 (40, 40.0%)')
    # One split: nothing to set beside it, no distance column.
    assert page.dom.locator('#statistics td[data-change]').count() == 0
    # The chain's steps: its four calls and the component it added.
    assert page.text('#step-count') == '5'
    # Steps that are in the chain but did not run, and one that is not.
    assert 'no training logs: the run failed at Transform' in page.text(
        '#training')
    assert 'add .evaluate_model(eval_config) to the chain' in page.text(
        '#evaluation')
    assert ('this run recorded no configuration' not in
            page.text('#pipeline'))


def test_a_run_without_configuration_says_why():
  failed = RunResult('p', 'r', '/nowhere', [ComponentRun(
      'CsvExampleGen', 'FAILED', 1.0, {}, 1)])
  assert 'it failed before the configuration was written' in _report.render(
      failed)
  assert 'no statistics: the run failed at CsvExampleGen' in _report.render(
      failed)


def test_each_slicing_column_gets_its_own_chart():
  slices = {'Overall': {'candidate': {'auc': 0.8}, 'baseline': {},
                        'diff': {}}}
  for column, values in (('hour', ('1', '2')), ('company', ('$5 <cab>',))):
    for value in values:
      slices[f'{column}:{value}'] = {'candidate': {'auc': 0.7},
                                     'baseline': {}, 'diff': {}}
  slices['hour:1 vs hour:2'] = {'candidate': {'auc': 0.1}, 'baseline': {},
                                'diff': {}}
  columns = _sections._slice_columns(slices)
  assert columns == ['hour', 'company']
  hour, company = (_charts.slice_bars(slices, 'auc', 0.75, c)
                   for c in columns)
  assert (hour['column'], company['column']) == ('hour', 'company')
  assert hour['svg'].count('>2<') == 1 and '>2<' not in company['svg']
  # '$' is a label, not TeX; '<' is escaped in the SVG text.
  assert '$5 &lt;cab&gt;' in company['svg']
  assert 'aria-label="auc per company, axis from' in company['svg']


def test_slice_charts_are_scaled_to_the_values():
  """0.66 against 0.68 must show: the axis spans the values (with the
  overall line, a threshold and the baseline), not 0 to 1; a confidence
  interval wider than that is cut at the axis, not widening it."""
  slices = {'Overall': {'candidate': {'auc': 0.67}, 'baseline': {},
                        'diff': {}}}
  for hour, value in (('1', 0.66), ('2', 0.68)):
    slices[f'hour:{hour}'] = {'candidate': {'auc': value},
                              'baseline': {'auc': value - 0.005}, 'diff': {}}
  intervals = {'hour:1': {'auc': (-0.4, 1.7)}}
  chart = _charts.slice_bars(slices, 'auc', None, 'hour', intervals)
  assert 0.64 < chart['low'] < 0.655 and 0.68 < chart['high'] < 0.69
  assert chart['high'] - chart['low'] < 0.05  # 0.02 is half the axis
  assert f'axis from {chart["low"]:.4g} to {chart["high"]:.4g}' in chart[
      'svg']
  # A threshold below the values widens the axis to show it.
  low = _charts.slice_bars(slices, 'auc', 0.5, 'hour')['low']
  assert 0.47 < low < 0.5
  assert _charts.value_range([0.7, 0.7]) == pytest.approx((0.693, 0.707))
  assert _charts.value_range([]) == (0.0, 1.0)


# ------------------------------------------------------------- comparison
def _tfdv_statistics(folder, frames):
  """Statistics as StatisticsGen writes them, made by TFDV from `frames`
  (split -> pandas DataFrame)."""
  import tensorflow_data_validation as tfdv
  for split, frame in frames.items():
    os.makedirs(os.path.join(folder, f'Split-{split}'))
    stats = tfdv.generate_statistics_from_dataframe(frame)
    with open(os.path.join(folder, f'Split-{split}', 'FeatureStats.pb'),
              'wb') as f:
      f.write(stats.SerializeToString())


def _tfma_evaluation(folder, accuracy_by_slice):
  """A TFMA evaluation in the Evaluator's layout: metrics per slice
  ('Overall', 'hour:3'), its EvalConfig and a passed validation."""
  import tensorflow as tf
  import tensorflow_model_analysis as tfma
  from google.protobuf import json_format
  from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb
  os.makedirs(folder)
  with tf.io.TFRecordWriter(os.path.join(
      folder, 'metrics-00000-of-00001.tfrecord')) as writer:
    for name, value in accuracy_by_slice.items():
      key = pb.SliceKey()
      if name != 'Overall':
        column, _, number = name.partition(':')
        key.single_slice_keys.add(column=column, int64_value=int(number))
      record = pb.MetricsForSlice(slice_key=key)
      entry = record.metric_keys_and_values.add()
      entry.key.name = 'binary_accuracy'
      entry.value.double_value.value = value
      writer.write(record.SerializeToString())
  with tf.io.TFRecordWriter(os.path.join(folder,
                                         'validations.tfrecord')) as writer:
    writer.write(validation_result_pb2.ValidationResult(
        validation_ok=True).SerializeToString())
  config = config_pb2.EvalConfig(
      model_specs=[config_pb2.ModelSpec(label_key='tips')],
      slicing_specs=[config_pb2.SlicingSpec(),
                     config_pb2.SlicingSpec(feature_keys=['hour'])],
      metrics_specs=[config_pb2.MetricsSpec(metrics=[
          config_pb2.MetricConfig(class_name='BinaryAccuracy')])])
  with open(os.path.join(folder, 'eval_config.json'), 'w') as f:
    f.write(json_format.MessageToJson(config_pb2.EvalRun(
        eval_config=config, version=tfma.__version__, data_location='/d',
        file_format='tfrecords', model_locations={'': '/model'})))


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
  """Two runs whose data moved (payment shares, fares, a new column) and
  whose evaluations have different slices: real TFDV statistics and TFMA
  metrics in TFX's layout."""
  import pandas as pd
  root = str(tmp_path_factory.mktemp('moved'))
  before = pd.DataFrame({'payment_type': ['Cash'] * 6 + ['Card'] * 4,
                         'fare': [5.0 + i for i in range(10)]})
  after = pd.DataFrame({'payment_type': ['Cash'] * 3 + ['Card'] * 7,
                        'fare': [30.0 + i for i in range(10)],
                        'tolls': [1.0] * 10})
  made = []
  for run_id, frame, slices in (
      ('a', before, {'Overall': 0.7, 'hour:1': 0.6, 'hour:2': 0.8}),
      ('b', after, {'Overall': 0.72, 'hour:1': 0.66, 'hour:3': 0.68})):
    stats = os.path.join(root, run_id, 'stats')
    evaluation = os.path.join(root, run_id, 'evaluation')
    _tfdv_statistics(stats, {'train': frame, 'eval': frame})
    _tfma_evaluation(evaluation, slices)
    made.append(RunResult('moved', run_id, root, [
        ComponentRun('StatisticsGen', 'COMPLETE', 1.0,
                     {'statistics': [stats]}, 1),
        ComponentRun('Evaluator', 'COMPLETE', 1.0,
                     {'evaluation': [evaluation]}, 2)],
        configuration={'steps': {'generate_statistics': {},
                                 'evaluate_model': {}}},
        edges=[('StatisticsGen', 'Evaluator')]))
  return made


def test_distribution_changes_are_tfdv_s_drift_measures(two_runs):
  a, b = two_runs
  stats = [r.components[0].outputs['statistics'][0] for r in (a, b)]
  moved = _artifacts.distribution_changes((stats[0], 'train'),
                                          (stats[1], 'train'))
  # L-infinity: the largest change of a value's share, by hand: Cash went
  # from 6 in 10 to 3 in 10.
  assert moved['payment_type'] == {'measure': _artifacts.L_INFINITY,
                                   'value': pytest.approx(0.3)}
  assert moved['fare']['measure'] == _artifacts.JENSEN_SHANNON
  assert moved['fare']['value'] > 0.9  # fares with no range in common
  assert 'tolls' not in moved  # only in b: said by the report, not measured
  same = _artifacts.distribution_changes((stats[0], 'train'),
                                         (stats[0], 'eval'))
  assert same['payment_type']['value'] == pytest.approx(0.0, abs=1e-9)
  assert same['fare']['value'] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.e2e  # headless Chromium
def test_compare_shows_distribution_changes_and_one_sided_slices(
    two_runs, tmp_path):
  from fluent_pipeline.recorded import diff
  a, b = two_runs
  path = _report.write(b, str(tmp_path / 'moved.html'), compare=a,
                       changes=lambda: str(diff.compare(a, b)))
  with browser.open_page(path) as page:
    assert page.console == [] and page.page_errors == []
    assert page.dom.locator('#comparison [data-error]').count() == 0
    page.dom.add_style_tag(content='header { position: static }')
    page.dom.locator('#comparison').screenshot(path=path + '.png')
    rows = page.dom.locator('#compare-distributions tbody tr')
    train = [r for r in rows.all() if r.get_attribute('data-split') ==
             'train']
    # A column one run lacks first, then the largest changes.
    assert [r.get_attribute('data-feature') for r in train] == [
        'tolls', 'fare', 'payment_type']
    assert train[0].get_attribute('data-only-in') == 'this'
    assert 'only in this run' in train[0].inner_text()
    cells = train[2].locator('td').all_inner_texts()
    assert cells[2:4] == ['L-infinity distance', '0.3']
    assert cells[4] == 'Cash 60%, Card 40%' and cells[5] == (
        'Card 70%, Cash 30%')
    assert train[1].locator('td').all_inner_texts()[2] == (
        'Jensen-Shannon divergence')
    assert train[2].locator('td.spark svg').count() == 1
    # Slices: hour:2 only in run a, hour:3 only in b, both marked.
    metrics = '#compare-metrics tr[data-slice="{}"]'
    assert page.dom.locator(metrics.format('hour:1')).get_attribute(
        'data-only-in') is None
    assert page.dom.locator(metrics.format('hour:3')).get_attribute(
        'data-only-in') == 'this'
    assert page.text(metrics.format('hour:2') + ' [data-only]') == (
        'only in run a')
    assert page.text('#compare-slices-note').startswith(
        '1 slice only in this run, 1 only in run a')
  assert os.path.getsize(path + '.png') > 20_000


def test_the_fast_metrics_reader_leaves_tfma_s_plots_picklable():
  """A run's summary reads its metrics without TFMA when it can. In a
  process where TFMA was loaded (an Evaluator ran there), loading TFMA's
  proto module a second time made every parsed sub-message a class pickle
  cannot find, and the next Evaluator with a ConfusionMatrixPlot failed
  (PicklingError): the reader takes TFMA's module when it is loaded."""
  import pickle

  from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb

  from fluent_pipeline.artifacts import metrics_file
  assert metrics_file._metrics_for_slice() is pb  # as a run's summary reads
  value = pb.MetricValue()
  value.confusion_matrix_at_thresholds.matrices.add(threshold=0.5)
  parsed = pb.MetricValue.FromString(value.SerializeToString())
  pickle.loads(pickle.dumps(parsed.confusion_matrix_at_thresholds))  # Beam
