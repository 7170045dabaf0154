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
                             'preprocess': {}, 'train': {}}}
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
    rows = '.stats[data-split="train"] tr[data-feature="{}"] td[data-stat="{}"]'
    assert page.text(rows.format('fare $ <usd>', 'mean')) == '12.5'
    assert page.text(rows.format('image', 'count')) == '100'
    assert page.text(rows.format('image', 'unique')) == '7 unique'
    assert page.text(rows.format('trip', 'missing')) == '40 (40.0%)'
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
  assert hour.count('<g id="patch') - company.count('<g id="patch') == 1
  # '$' is a label, not TeX; '<' is escaped in the SVG text.
  assert '$5 &lt;cab&gt;' in company
  assert 'aria-label="auc per company"' in company
