"""What a TFMA evaluation holds: its metrics per slice (with their
confidence intervals), its thresholds and whether each passed, TFMA's
validation result and its plots.

Read with TFMA's own loaders (its deprecation notices silenced for the
read), so the values are those TFMA's tools show; models.py says which
model's figures are the candidate's. The overall metrics take the fast path
of metrics_file when they can.
"""

import contextlib
import math
from typing import Any, Optional

from fluent_pipeline.artifacts import _reading, metrics_file, models


def _slice_sort_key(item):
  name, _ = item
  if name == 'Overall':
    return (0, 0, '')
  value = name.rpartition(':')[2]
  try:
    return (1, float(value), name)
  except ValueError:
    return (2, 0, name)


def slice_name(metrics) -> str:
  """TFMA's name of a slice ('Overall', 'trip_start_hour:3'); a cross slice
  (a comparison of two slices) as 'A vs B'."""
  from tensorflow_model_analysis.slicer import slicer_lib

  def name(key) -> str:
    return slicer_lib.stringify_slice_key(
        slicer_lib.deserialize_slice_key(key))
  if metrics.HasField('cross_slice_key'):
    cross = metrics.cross_slice_key
    return (f'{name(cross.baseline_slice_key)} vs '
            f'{name(cross.comparison_slice_key)}')
  return name(metrics.slice_key)


@contextlib.contextmanager
def _tf_deprecations_quiet():
  """TF's deprecation notices off while TFMA reads an evaluation: TFMA's
  loaders call tf_record_iterator, whose notice (on stderr) is TFMA's to
  act on, not the user's. Scoped to the read, and TF's warn-once record is
  left untouched, so the user's own call of a deprecated API still warns."""
  from tensorflow.python.util import deprecation
  saved = deprecation._PRINT_DEPRECATION_WARNINGS
  deprecation._PRINT_DEPRECATION_WARNINGS = False
  try:
    yield
  finally:
    deprecation._PRINT_DEPRECATION_WARNINGS = saved


def _metric_values(evaluation_uri: str,
                   roles: Optional[models.Models] = None):
  """(slice name, slice key or None for a cross slice, models.CANDIDATE |
  BASELINE | DIFF, metric name, value) for each double metric of the
  candidate and the baseline (models.py says which model is which)."""
  import tensorflow_model_analysis as tfma
  from tensorflow_model_analysis.slicer import slicer_lib
  if roles is None:
    roles = models.of_evaluation(evaluation_uri)
  with _tf_deprecations_quiet():
    loaded = list(tfma.load_metrics(evaluation_uri))
  for metrics in loaded:
    name = slice_name(metrics)
    key = (None if metrics.HasField('cross_slice_key') else
           slicer_lib.deserialize_slice_key(metrics.slice_key))
    for kv in metrics.metric_keys_and_values:
      role = roles.role(kv.key.model_name, kv.key.is_diff)
      if role is None or not kv.value.HasField('double_value'):
        continue
      yield name, key, role, kv.key.name, kv.value.double_value.value


def slice_metrics(evaluation_uri: str
                  ) -> dict[str, dict[str, dict[str, float]]]:
  """Per slice ('Overall', 'trip_start_hour:3', TFMA's names; 'A vs B' for
  a cross slice): the candidate's metrics, and with a baseline the
  baseline's and the differences, as {'candidate': {...}, 'baseline': {...},
  'diff': {...}}. Overall first, then slices in the order of their values."""
  found: dict[str, dict[str, dict[str, float]]] = {}
  for name, _, role, metric, value in _metric_values(evaluation_uri):
    entry = found.setdefault(name, {models.CANDIDATE: {}, models.BASELINE: {},
                                    models.DIFF: {}})
    entry[role][metric] = value
  return dict(sorted(found.items(), key=_slice_sort_key))


def metric_intervals(evaluation_uri: str
                     ) -> dict[str, dict[str, tuple[float, float]]]:
  """Per slice, the candidate's confidence interval (lower, upper) of each
  metric TFMA computed one for (the eval_config's
  options.compute_confidence_intervals); {} when it computed none."""
  import tensorflow_model_analysis as tfma
  roles = models.of_evaluation(evaluation_uri)
  found: dict[str, dict[str, tuple[float, float]]] = {}
  with _tf_deprecations_quiet():
    loaded = list(tfma.load_metrics(evaluation_uri))
  for metrics in loaded:
    for kv in metrics.metric_keys_and_values:
      if (roles.role(kv.key.model_name, kv.key.is_diff) != models.CANDIDATE
          or not kv.HasField('confidence_interval')):
        continue
      interval = kv.confidence_interval
      low, high = (bound.double_value.value if bound.HasField('double_value')
                   else None for bound in (interval.lower_bound,
                                           interval.upper_bound))
      if low is None or high is None or math.isnan(low) or math.isnan(high):
        continue
      found.setdefault(slice_name(metrics), {})[kv.key.name] = (low, high)
  return found


def plots(evaluation_uri: str) -> dict[str, dict[str, dict[str, list]]]:
  """The binary classification plots TFMA computed, per slice (TFMA's
  names, Overall first) and model (models.CANDIDATE / BASELINE):
  'thresholds', from ConfusionMatrixPlot: per threshold, the counts (tp,
  fp, tn, fn), precision, recall and false positive rate, which make the
  ROC and precision-recall curves and the confusion matrix;
  'calibration', from CalibrationPlot: per prediction bucket, its range,
  example count and summed label and prediction. {} when the evaluation
  has no plots (the eval_config asks for none)."""
  import tensorflow_model_analysis as tfma
  fileio = _reading.fileio(evaluation_uri)
  if not fileio.glob(_reading.join(evaluation_uri, 'plots*')):
    return {}
  roles = models.of_evaluation(evaluation_uri)
  found: dict[str, dict[str, dict[str, list]]] = {}
  with _tf_deprecations_quiet():
    loaded = list(tfma.load_plots(evaluation_uri))
  for plot in loaded:
    if plot.HasField('cross_slice_key'):
      continue
    name = slice_name(plot)
    for kv in plot.plot_keys_and_values:
      role = roles.role(kv.key.model_name)
      if role is None or kv.key.HasField('sub_key'):
        continue  # another model's; a class of a multi-class model
      entry = found.setdefault(name, {}).setdefault(role, {})
      matrices = kv.value.confusion_matrix_at_thresholds.matrices
      if matrices:
        entry['thresholds'] = [{
            'threshold': m.threshold, 'tp': m.true_positives,
            'fp': m.false_positives, 'tn': m.true_negatives,
            'fn': m.false_negatives, 'precision': _reading.number(m.precision),
            'recall': _reading.number(m.recall),
            'fpr': _reading.number(m.false_positive_rate)} for m in matrices]
      buckets = kv.value.calibration_histogram_buckets.buckets
      if buckets:
        entry['calibration'] = [{
            'lower': b.lower_threshold_inclusive,
            'upper': b.upper_threshold_exclusive,
            'count': b.num_weighted_examples.value,
            'label': b.total_weighted_label.value,
            'prediction': b.total_weighted_refined_prediction.value}
            for b in buckets]
  return dict(sorted(found.items(), key=_slice_sort_key))


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
  """The candidate's metrics on the Overall slice: a run's figures, as its
  summary and the run listing show them. Read without TFMA when
  metrics_file can, else from slice_metrics."""
  fast = metrics_file.overall_metrics(evaluation_uri)
  if fast is not None:
    return fast
  overall = slice_metrics(evaluation_uri).get('Overall', {})
  return dict(overall.get(models.CANDIDATE, {}))


def _eval_config(evaluation_uri: str):
  from tensorflow_model_analysis.writers import eval_config_writer
  return eval_config_writer.load_eval_run(evaluation_uri)[0]


def thresholds(evaluation_uri: str) -> list[dict[str, Any]]:
  """Each threshold of the evaluation's EvalConfig on each slice it applies
  to: the metric, the slice, the bound (as text, and `lower` the number of a
  value threshold's lower bound), the value and whether it passed (as TFMA's
  validation result says)."""
  import tensorflow_model_analysis as tfma
  from tensorflow_model_analysis.metrics import metric_specs
  from tensorflow_model_analysis.proto import config_pb2
  from tensorflow_model_analysis.slicer import slicer_lib
  config = _eval_config(evaluation_uri)
  by_key = metric_specs.metric_thresholds_from_metrics_specs(
      config.metrics_specs, eval_config=config)
  validation = validation_result(evaluation_uri)
  if validation is None:
    raise LookupError(f'{evaluation_uri} has no validation result '
                      '(validations*), so no threshold can be told passed')
  failed = set()
  for per_slice in validation.metric_validations_per_slice:
    name = slice_name(per_slice)
    for failure in per_slice.failures:
      failed.add((name, failure.metric_key.name,
                  failure.metric_key.is_diff))
  roles = models.of_evaluation(evaluation_uri)  # read once
  values = {}
  slice_keys = {}
  for name, key, role, metric, value in _metric_values(evaluation_uri,
                                                       roles):
    if key is not None:
      slice_keys[name] = key
    if role != models.BASELINE:
      values[(name, metric, role == models.DIFF)] = value
  rows = []
  for metric_key, pairs in by_key.items():
    if roles.role(metric_key.model_name, metric_key.is_diff) in (
        None, models.BASELINE):
      continue  # the baseline's thresholds (and any other model's)
    for slice_spec, threshold in pairs:
      for name, key in sorted(slice_keys.items(),
                              key=lambda kv: _slice_sort_key((kv[0], 0))):
        if slice_spec is not None and not (
            isinstance(slice_spec, tfma.SlicingSpec) and
            slicer_lib.SingleSliceSpec(spec=slice_spec)
            .is_slice_applicable(key)):
          continue
        value = values.get((name, metric_key.name, metric_key.is_diff))
        lower = None
        if (isinstance(threshold, config_pb2.GenericValueThreshold) and
            threshold.HasField('lower_bound')):
          lower = threshold.lower_bound.value
        rows.append({
            'metric': metric_key.name,
            'change': bool(metric_key.is_diff),
            'slice': name,
            'bound': _bound_text(threshold),
            'lower': lower,
            'value': value,
            'passed': (name, metric_key.name, metric_key.is_diff) not in
                      failed and value is not None})
  return rows


def _bound_text(threshold) -> str:
  """'>= 0.6', '<= 0.3', '>= -1e-10 vs baseline (higher is better)'."""
  from tensorflow_model_analysis.proto import config_pb2
  parts = []
  if isinstance(threshold, config_pb2.GenericValueThreshold):
    if threshold.HasField('lower_bound'):
      parts.append(f'>= {threshold.lower_bound.value:.4g}')
    if threshold.HasField('upper_bound'):
      parts.append(f'<= {threshold.upper_bound.value:.4g}')
  elif isinstance(threshold, config_pb2.GenericChangeThreshold):
    higher = threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    op = '>=' if higher else '<='
    if threshold.HasField('absolute'):
      parts.append(f'change {op} {threshold.absolute.value:.4g}')
    if threshold.HasField('relative'):
      parts.append(f'relative change {op} {threshold.relative.value:.4g}')
  return ' and '.join(parts) or str(threshold).replace('\n', ' ')


def validation_result(evaluation_uri: str):
  """TFMA's ValidationResult of an evaluation; None when it has none (no
  validations* file: an evaluation without one, or none at all). A file
  that cannot be read raises (TFMA's error), as does one without exactly
  one result (ValueError: TFMA's bare assertion says nothing)."""
  import tensorflow_model_analysis as tfma
  if not _reading.fileio(evaluation_uri).glob(
      _reading.join(evaluation_uri, 'validations*')):
    return None
  try:
    with _tf_deprecations_quiet():
      return tfma.load_validation_result(evaluation_uri)
  except AssertionError as e:
    raise ValueError(f'{evaluation_uri}: its validations file does not hold '
                     'exactly one ValidationResult') from e


def validation_ok(evaluation_uri: str) -> Optional[bool]:
  """Whether TFMA's validation passed; None without a validation result."""
  validation = validation_result(evaluation_uri)
  return None if validation is None else bool(validation.validation_ok)

