"""The eval_config checked at build: metric class names, threshold names,
slicing and label keys against the CSV columns (dsl/eval_checks.py)."""

import sys

import pytest
from conftest import TAXI_MODULE

from fluent_pipeline import PipelineDef
from fluent_pipeline.dsl import wiring
from fluent_pipeline.errors import PipelineDefinitionError


@pytest.fixture
def base(tmp_path, taxi_csv_dir):
  return (PipelineDef('eval_checks', root=str(tmp_path))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .train(TAXI_MODULE))


def config(*metrics, label_key='tips', slicing_specs=None, **spec_fields):
  """A raw-label eval_config with `metrics` (class names or dicts)."""
  return {'model_specs': [{'label_key': label_key}],
          'slicing_specs': slicing_specs or [{}],
          'metrics_specs': [dict(metrics=[
              {'class_name': m} if isinstance(m, str) else m
              for m in metrics], **spec_fields)]}


def build_error(chain, eval_config) -> str:
  with pytest.raises(PipelineDefinitionError) as e:
    chain.evaluate_model(eval_config).build()
  return str(e.value)


def test_a_valid_config_builds(base):
  base.evaluate_model(config(
      'ExampleCount', 'AUCPrecisionRecall', 'BinaryAccuracy',
      {'class_name': 'AUC', 'config': '"num_thresholds": 100'},
      thresholds={'binary_accuracy': {'value_threshold': {
          'lower_bound': 0.5}}},
      per_slice_thresholds={'auc': {'thresholds': [{
          'slicing_specs': [{'feature_keys': ['payment_type']}],
          'threshold': {'value_threshold': {'lower_bound': 0.5}}}]}}),
  ).build()


@pytest.mark.parametrize('typo,suggested,problem', [
    ('AUCPrecisionRecal', 'AUCPrecisionRecall',
     "no TFMA or Keras metric is called 'AUCPrecisionRecal'"),  # TFMA's
    ('BinaryAcuracy', 'BinaryAccuracy',
     "no TFMA or Keras metric is called 'BinaryAcuracy'"),  # Keras's
    ('binary_accuracy', 'BinaryAccuracy',
     "'binary_accuracy' is a Keras metric function, and TFMA takes metric "
     'classes'),
])
def test_unknown_metric_class_suggests_the_closest(base, typo, suggested,
                                                   problem):
  message = build_error(base, config('ExampleCount', typo))
  assert f'metrics_specs[0].metrics[1]: {problem}' in message
  assert f"did you mean {suggested!r}?" in message


def test_a_bad_metric_config_is_named(base):
  message = build_error(base, config(
      {'class_name': 'AUC', 'config': '"num_threshold": 100'}))
  assert 'TFMA cannot make AUC from config' in message
  assert "unexpected keyword argument 'num_threshold'" in message
  assert "did you mean 'num_thresholds'?" in message
  assert '(num_thresholds, curve, ' in message  # AUC's arguments


@pytest.fixture
def metrics_module(tmp_path, monkeypatch):
  """A custom metric module on sys.path that must not be imported at build
  (importing it would raise)."""
  folder = tmp_path / 'custom'
  (folder / 'my_pkg').mkdir(parents=True)
  (folder / 'my_pkg' / '__init__.py').write_text(
      "raise RuntimeError('package imported at build')\n")
  (folder / 'my_pkg' / 'my_metrics.py').write_text(
      'import tf_keras\n'
      "raise RuntimeError('module imported at build')\n"
      'class PositiveRate(tf_keras.metrics.Mean):\n'
      '  pass\n')
  monkeypatch.syspath_prepend(str(folder))
  yield 'my_pkg.my_metrics'
  assert 'my_pkg' not in sys.modules and 'my_pkg.my_metrics' not in \
      sys.modules


def test_a_custom_metric_is_read_not_imported(base, metrics_module):
  base.evaluate_model(config(
      {'class_name': 'PositiveRate', 'module': metrics_module})).build()
  message = build_error(base, config(
      {'class_name': 'PositivRate', 'module': metrics_module}))
  assert "module 'my_pkg.my_metrics'" in message
  assert "defines no 'PositivRate' (its classes: PositiveRate)" in message
  assert "did you mean 'PositiveRate'?" in message


def test_a_custom_metric_module_must_be_found(base, tmp_path):
  eval_config = config({'class_name': 'Rate', 'module': 'no_such_mod_xq'})
  message = build_error(base, eval_config)
  assert "module 'no_such_mod_xq' of metric 'Rate' cannot be imported" \
      in message
  # Kubeflow V2 / Vertex run the Evaluator in an image that may hold it.
  wiring.build(base.evaluate_model(eval_config)._plan, 'KubeflowV2DagRunner')


@pytest.mark.parametrize('field', ['thresholds', 'per_slice_thresholds',
                                   'cross_slice_thresholds'])
def test_a_threshold_must_name_a_computed_metric(base, field):
  value = {'value_threshold': {'lower_bound': 0.5}}
  threshold = {
      'thresholds': value,
      'per_slice_thresholds': {'thresholds': [
          {'slicing_specs': [{}], 'threshold': value}]},
      'cross_slice_thresholds': {'thresholds': [
          {'cross_slicing_specs': [{'baseline_spec': {}}],
           'threshold': value}]},
  }[field]
  message = build_error(base, config(
      'ExampleCount', 'BinaryAccuracy',
      **{field: {'binary_acuracy': threshold}}))
  assert (f"metrics_specs[0].{field} has a threshold on 'binary_acuracy', "
          'which no metric of the eval_config computes (computed: '
          'binary_accuracy, example_count)') in message
  assert "did you mean 'binary_accuracy'?" in message


def test_a_metric_renamed_by_its_config_is_found(base):
  base.evaluate_model(config(
      {'class_name': 'BinaryAccuracy', 'config': '"name": "acc"'},
      thresholds={'acc': {'value_threshold': {'lower_bound': 0.5}}}),
  ).build()


def test_slicing_keys_must_be_columns(base):
  message = build_error(base, config(
      'ExampleCount', slicing_specs=[{}, {'feature_keys': ['paymnt_type']}]))
  assert "slicing_specs[1] slices on 'paymnt_type', which is not a column " \
      "of" in message
  assert 'trip_start_hour' in message  # the columns are listed
  assert "did you mean 'payment_type'?" in message


def test_per_slice_threshold_slices_are_checked(base):
  message = build_error(base, config({
      'class_name': 'BinaryAccuracy', 'per_slice_thresholds': [{
          'slicing_specs': [{'feature_values': {'compnay': 'X'}}],
          'threshold': {'value_threshold': {'lower_bound': 0.5}}}]}))
  assert ("metrics_specs[0].metrics[0].per_slice_thresholds[0]"
          ".slicing_specs[0] slices on 'compnay'") in message
  assert "did you mean 'company'?" in message


def test_the_label_key_must_be_a_column(base):
  message = build_error(base, config('ExampleCount', label_key='tip'))
  assert "model_specs[0].label_key 'tip' is not a column of" in message
  assert "did you mean 'tips'?" in message


def test_transformed_features_are_not_checked_against_the_columns(base):
  eval_config = config('ExampleCount', label_key='tips_xf',
                       slicing_specs=[{'feature_keys': ['hour_xf']}])
  eval_config['model_specs'][0]['preprocessing_function_names'] = [
      'transform_features']
  base.evaluate_model(eval_config).build()


def test_an_unknown_metric_at_run_time_is_one_line():
  """What TFMA raises in the Evaluator for a class name the build could not
  check (TFMA's own call, as the Evaluator makes it), explained as the
  eval_config's mistake instead of Keras's custom_object_scope advice."""
  from tensorflow_model_analysis.metrics import metric_specs
  from tensorflow_model_analysis.proto import config_pb2

  from fluent_pipeline.orchestration import diagnose
  try:
    try:
      metric_specs.metric_instance(
          config_pb2.MetricConfig(class_name='AUCPrecisionRecal'))
    except ValueError as e:  # as TFX's launcher wraps an executor's error
      raise RuntimeError('Evaluator failed') from e
  except RuntimeError as e:
    reason = diagnose.explain(e, 'Evaluator', {})
  assert reason == (
      "the eval_config names metric class 'AUCPrecisionRecal', which neither "
      "TFMA nor Keras defines (a metric of your own also needs "
      "MetricConfig(module='your.module')); did you mean "
      "'AUCPrecisionRecall'?")
  assert 'custom_object_scope' not in reason
