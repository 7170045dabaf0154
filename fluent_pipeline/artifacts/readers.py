"""What a run's artifacts hold, read into plain Python values.

Statistics, schema, anomalies, evaluation results, training logs, tuner
trials, serving signatures and bulk predictions are read with the protos and
readers of TFX, TFDV (tensorflow_metadata), TFMA, TensorBoard and TF Serving,
so the values are those the TFX tools show, without their notebook widgets.
Every reader takes an artifact URI (local or remote: TFX's fileio) and
returns dicts, lists, strings and floats.
"""

import contextlib
import glob
import json
import math
import os
import posixpath
from typing import Any, Optional

from fluent_pipeline import _paths
from fluent_pipeline.artifacts import metrics_file, models


class _LocalFiles:
  """The part of TFX's fileio the readers use, for local paths: importing
  TFX (and TensorFlow's filesystems) costs seconds a local report needs not."""
  exists = staticmethod(os.path.exists)
  listdir = staticmethod(os.listdir)
  walk = staticmethod(os.walk)
  glob = staticmethod(glob.glob)
  open = staticmethod(open)


def _fileio(path: str):
  if not _paths.is_uri(path):
    return _LocalFiles
  from tfx.dsl.io import fileio
  return fileio


def _read_bytes(path: str) -> bytes:
  with _fileio(path).open(path, 'rb') as f:
    return f.read()


def _join(uri: str, *parts: str) -> str:
  return _paths.join(uri, *parts)


def splits(uri: str) -> list[str]:
  """The split names of a split artifact (its `Split-<name>` folders)."""
  fileio = _fileio(uri)
  if not fileio.exists(uri):
    return []
  names = [n.rstrip('/') for n in fileio.listdir(uri)]
  return sorted(n[len('Split-'):] for n in names if n.startswith('Split-'))


# ------------------------------------------------------------------ data
def _number(value: float) -> Optional[float]:
  return None if value is None or math.isnan(value) else float(value)


def _whole_split(uri: str, split: str):
  """The DatasetFeatureStatistics of a whole split: with slicing, TFDV
  writes one dataset per slice, and the whole split is the one it names
  'All Examples' (the first)."""
  from tensorflow_metadata.proto.v0 import statistics_pb2
  path = _join(uri, f'Split-{split}', 'FeatureStats.pb')
  if not _fileio(path).exists(path):
    raise LookupError(f'no statistics for split {split!r} under {uri} '
                      f'(splits: {", ".join(splits(uri)) or "none"})')
  stats_list = statistics_pb2.DatasetFeatureStatisticsList.FromString(
      _read_bytes(path))
  datasets = list(stats_list.datasets)
  whole = [d for d in datasets if d.name == 'All Examples'] or datasets[:1]
  return whole[0] if whole else statistics_pb2.DatasetFeatureStatistics()


def statistics(uri: str, split: str) -> dict[str, dict[str, Any]]:
  """Per feature of one split of a StatisticsGen output: its type, count,
  missing, numeric summary (mean, std, min, median, max, zeros) or string
  summary (unique, top values), and its histogram."""
  dataset = _whole_split(uri, split)
  features = {}
  for feature in dataset.features:
    row = _feature_statistics(feature, dataset.num_examples)
    features[row['name']] = row
  return features


# TFDV's drift comparators, by the kind of feature they measure.
L_INFINITY = 'L-infinity distance'  # categorical: the largest change of a
                                    # value's share
JENSEN_SHANNON = 'Jensen-Shannon divergence'  # numeric: of the histograms


def distribution_changes(before: tuple[str, str], after: tuple[str, str]
                         ) -> dict[str, dict[str, Any]]:
  """How each feature's distribution moved from statistics `before` to
  `after`, each (statistics URI, split): TFDV's drift measure, the
  L-infinity distance of a string feature's value shares or the
  Jensen-Shannon divergence of a numeric feature's histograms (0: the
  same, 1: nothing in common), as tfdv.validate_statistics measures it
  with a drift comparator on every feature. {feature: {'measure', 'value'}}
  for the features both hold."""
  import tensorflow_data_validation as tfdv
  from tensorflow_metadata.proto.v0 import (
    anomalies_pb2,
    schema_pb2,
    statistics_pb2,
  )

  def whole(uri, split):
    return statistics_pb2.DatasetFeatureStatisticsList(
        datasets=[_whole_split(uri, split)])
  previous, current = whole(*before), whole(*after)
  schema = tfdv.infer_schema(previous)
  measures = {}
  for feature in schema.feature:
    # A threshold nothing reaches: the values are wanted, not anomalies.
    if feature.type == schema_pb2.BYTES:
      feature.drift_comparator.infinity_norm.threshold = 2.0
      measures[feature.name] = L_INFINITY
    else:
      feature.drift_comparator.jensen_shannon_divergence.threshold = 2.0
      measures[feature.name] = JENSEN_SHANNON
  found = tfdv.validate_statistics(current, schema,
                                   previous_statistics=previous)
  changes = {}
  kinds = {anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFINITY,
           anomalies_pb2.DriftSkewInfo.Measurement
           .JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON}
  for info in found.drift_skew_info:
    name = '.'.join(info.path.step)
    for measurement in info.drift_measurements:
      if measurement.type in kinds:
        changes[name] = {'measure': kinds[measurement.type],
                         'value': float(measurement.value)}
  return {name: changes[name] for name in measures if name in changes}


def _feature_statistics(feature, num_examples: int) -> dict[str, Any]:
  from tensorflow_metadata.proto.v0 import statistics_pb2
  name = feature.path.step and '.'.join(feature.path.step) or feature.name
  kind = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)
  row: dict[str, Any] = {'name': name, 'type': kind,
                         'num_examples': int(num_examples)}
  stats = feature.WhichOneof('stats')
  if stats == 'num_stats':
    num = feature.num_stats
    common = num.common_stats
    row.update(mean=_number(num.mean), std=_number(num.std_dev),
               min=_number(num.min), median=_number(num.median),
               max=_number(num.max), zeros=int(num.num_zeros))
    standard = [h for h in num.histograms
                if h.type == statistics_pb2.Histogram.STANDARD]
    row['histogram'] = [(b.low_value, b.high_value, b.sample_count)
                        for b in (standard[0].buckets if standard else [])]
  elif stats == 'string_stats':
    strings = feature.string_stats
    common = strings.common_stats
    row.update(unique=int(strings.unique), top_values=[
        (v.value, v.frequency) for v in strings.top_values])
    row['histogram'] = [(b.label, b.sample_count)
                        for b in strings.rank_histogram.buckets]
  elif stats == 'bytes_stats':
    common = feature.bytes_stats.common_stats
    row['unique'] = int(feature.bytes_stats.unique)
  elif stats == 'struct_stats':
    common = feature.struct_stats.common_stats
  else:
    common = None
  row.update(count=None, missing=None, missing_fraction=None)
  if common is not None:
    row['count'] = int(common.num_non_missing)
    row['missing'] = int(common.num_missing)
    total = common.num_non_missing + common.num_missing
    row['missing_fraction'] = common.num_missing / total if total else 0.0
  return row


def schema(uri: str) -> list[dict[str, Any]]:
  """Each feature of a Schema artifact (schema.pbtxt): type, presence,
  shape or valency, and domain."""
  from google.protobuf import text_format
  from tensorflow_metadata.proto.v0 import schema_pb2
  path = _join(uri, 'schema.pbtxt')
  proto = text_format.Parse(_read_bytes(path).decode('utf-8'),
                            schema_pb2.Schema())
  domains = {d.name: list(d.value) for d in proto.string_domain}
  rows = []
  for feature in proto.feature:
    row = {'name': feature.name,
           'type': schema_pb2.FeatureType.Name(feature.type),
           'presence': None}
    if feature.HasField('presence'):
      row['presence'] = ('required' if feature.presence.min_fraction >= 1
                         else 'optional')
      row['min_fraction'] = feature.presence.min_fraction
    if feature.HasField('shape'):
      row['shape'] = [d.size for d in feature.shape.dim]
    elif feature.HasField('value_count'):
      row['valency'] = (feature.value_count.min, feature.value_count.max)
    if feature.HasField('int_domain'):
      d = feature.int_domain
      row['domain'] = {'min': d.min if d.HasField('min') else None,
                       'max': d.max if d.HasField('max') else None}
    elif feature.HasField('float_domain'):
      d = feature.float_domain
      row['domain'] = {'min': d.min if d.HasField('min') else None,
                       'max': d.max if d.HasField('max') else None}
    elif feature.domain or feature.HasField('string_domain'):
      values = (domains.get(feature.domain, []) if feature.domain
                else list(feature.string_domain.value))
      row['domain'] = {'values': values}
    rows.append(row)
  return rows


def anomalies(uri: str) -> dict[str, list[dict[str, str]]]:
  """Per split of an ExampleValidator output, each anomaly: the feature,
  its kinds, severity and description (an empty list: none)."""
  from tensorflow_metadata.proto.v0 import anomalies_pb2
  found = {}
  for split in splits(uri):
    path = _join(uri, f'Split-{split}', 'SchemaDiff.pb')
    if not _fileio(path).exists(path):
      continue
    proto = anomalies_pb2.Anomalies.FromString(_read_bytes(path))
    rows = []
    infos = sorted(proto.anomaly_info.items())
    if proto.HasField('dataset_anomaly_info'):
      infos.append(('(dataset)', proto.dataset_anomaly_info))
    for feature, info in infos:
      rows.append({
          'feature': feature,
          'kinds': ', '.join(anomalies_pb2.AnomalyInfo.Type.Name(r.type)
                             for r in info.reason) or 'UNKNOWN',
          'severity': anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
          'short': info.short_description,
          'description': info.description or info.short_description})
    found[split] = rows
  return found


# ------------------------------------------------------------ evaluation
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


def slice_metrics(evaluation_uri: str) -> dict[str, dict[str, dict[str, float]]]:
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
  fileio = _fileio(evaluation_uri)
  if not fileio.glob(_join(evaluation_uri, 'plots*')):
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
            'fn': m.false_negatives, 'precision': _number(m.precision),
            'recall': _number(m.recall),
            'fpr': _number(m.false_positive_rate)} for m in matrices]
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
  if not _fileio(evaluation_uri).glob(_join(evaluation_uri, 'validations*')):
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


# --------------------------------------------------------- configuration
def function_source(code: dict[str, Any]) -> tuple[str, Optional[str]]:
  """(name, source) of the function a user-code record of the run's
  configuration holds (a predicate, a key, a run_fn): the source recorded
  with a function object, else its definition in the recorded files (a
  dotted path's module, a generated module, a module file's slice); the
  source is None when neither holds it (a function pickled because Python
  kept no source of it)."""
  location = str(code.get('location') or '')
  name = ((code.get('sliced') or {}).get('for') or
          location.rpartition('.')[2])
  if code.get('source'):
    return location or name or 'source', code['source']
  for file_name, text in sorted((code.get('files') or {}).items()):
    found = _definition(text, name)
    if found is not None:
      return f'{file_name}:{name}', found
  return location or name or 'function', None


def _definition(text: str, name: str) -> Optional[str]:
  """The source of top-level function or class `name` in module `text`."""
  import ast
  if not name:
    return None
  try:
    tree = ast.parse(text)
  except SyntaxError:
    return None
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)) and node.name == name:
      lines = text.splitlines(keepends=True)
      start = min([node.lineno] + [d.lineno for d in node.decorator_list])
      return ''.join(lines[start - 1:node.end_lineno])
  return None


def code_source(code: dict[str, Any]) -> dict[str, Optional[str]]:
  """What a step's user code was, as text to read: {'title', 'text',
  'why'}. A function's source; a module file's packaged text (the slice
  cut for the step when it was cut); a dotted path's function. `why`
  says why there is no text."""
  given = code.get('given_as')
  module = code.get('module_file') or ''
  files = code.get('files') or {}
  if given == 'module_file' and files:
    base = posixpath.basename(module.replace('\\', '/'))
    text = files.get(base)
    if text is None and len(files) == 1:
      base, text = next(iter(files.items()))
    if text is not None:
      cut = code.get('sliced')
      title = (f'{base}, cut to {cut["for"]} and what it uses' if cut
               else base)
      return {'title': title, 'text': text, 'why': None}
  name, text = function_source(code)
  if text is not None:
    return {'title': name, 'text': text, 'why': None}
  if code.get('written_as') == 'cloudpickle':
    why = ('pickled with cloudpickle: it was defined where Python keeps no '
           'source (exec, an interactive prompt)')
  elif module and not files:
    why = f'read where it runs ({module}); its text is not recorded'
  else:
    why = 'no source recorded'
  return {'title': name, 'text': None, 'why': why}


# -------------------------------------------------------------- training
def training_curves(model_run_uri: str
                    ) -> dict[str, dict[str, list[tuple[int, float]]]]:
  """The scalars the Trainer's TensorBoard callback logged under its
  model_run artifact: {tag: {'train'|'validation'|...: [(step, value)]}}."""
  import tensorflow as tf
  from tensorboard.backend.event_processing import event_file_loader
  fileio = _fileio(model_run_uri)
  curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
  if not fileio.exists(model_run_uri):
    return curves
  for directory, _, files in fileio.walk(model_run_uri):
    directory = directory.decode() if isinstance(directory, bytes) else directory
    run = posixpath.relpath(directory.replace('\\', '/'),
                            model_run_uri.replace('\\', '/'))
    run = '' if run == '.' else run
    for name in sorted(files):
      name = name.decode() if isinstance(name, bytes) else name
      if 'tfevents' not in name:
        continue
      loader = event_file_loader.EventFileLoader(_join(directory, name))
      for event in loader.Load():
        for value in event.summary.value:
          if value.HasField('simple_value'):
            number = value.simple_value
          elif value.HasField('tensor') and value.metadata.plugin_data \
              .plugin_name == 'scalars':
            number = float(tf.make_ndarray(value.tensor))
          else:
            continue
          curves.setdefault(value.tag, {}).setdefault(run, []).append(
              (int(event.step), number))
  for runs in curves.values():
    for points in runs.values():
      points.sort()
  return curves


def tuner_trials(tuner_results_uri: str) -> list[dict[str, Any]]:
  """The Tuner's trials as TFX wrote them (tuner_results.json): each
  trial's hyperparameters and score, best first."""
  path = _join(tuner_results_uri, 'tuner_results.json')
  if not _fileio(path).exists(path):
    return []
  return json.loads(_read_bytes(path).decode('utf-8'))


def hyperparameters(uri: str) -> dict[str, Any]:
  """The values of a HyperParameters artifact (KerasTuner's config)."""
  fileio = _fileio(uri)
  for name in ('best_hyperparameters.txt',):
    path = _join(uri, name)
    if fileio.exists(path):
      config = json.loads(_read_bytes(path).decode('utf-8'))
      return dict(config.get('values', config))
  return {}


# --------------------------------------------------------------- serving
def serving_signatures(saved_model_dir: str
                       ) -> dict[str, dict[str, dict[str, str]]]:
  """Each signature of a SavedModel: {'inputs': {name: 'dtype shape'},
  'outputs': {...}}, read from saved_model.pb without loading the model."""
  from tensorflow.core.framework import types_pb2
  from tensorflow.core.protobuf import saved_model_pb2
  proto = saved_model_pb2.SavedModel.FromString(
      _read_bytes(_join(saved_model_dir, 'saved_model.pb')))

  def describe(tensor) -> str:
    dtype = types_pb2.DataType.Name(tensor.dtype).replace('DT_', '').lower()
    if tensor.tensor_shape.unknown_rank:
      return f'{dtype} (any shape)'
    dims = ['None' if d.size < 0 else str(d.size)
            for d in tensor.tensor_shape.dim]
    return f'{dtype} [{", ".join(dims)}]'

  found = {}
  for meta_graph in proto.meta_graphs:
    for name, signature in sorted(meta_graph.signature_def.items()):
      if name.startswith('__'):
        continue
      found[name] = {
          'inputs': {k: describe(v) for k, v in
                     sorted(signature.inputs.items())},
          'outputs': {k: describe(v) for k, v in
                      sorted(signature.outputs.items())}}
  return found


def predictions(inference_uri: str, limit: int = 20) -> list[dict[str, Any]]:
  """Up to `limit` of BulkInferrer's predictions as rows: the input
  example's features, then each output (prefixed 'prediction: ').

  `inference_uri` is its inference_result (PredictionLogs) or, when it was
  given an output_example_spec, its output_examples (Examples that carry the
  predictions as features).
  """
  import tensorflow as tf
  fileio = _fileio(inference_uri)
  if not fileio.exists(inference_uri):
    return []
  split_names = splits(inference_uri)
  if split_names:  # output_examples: Split-<name>/*.gz of tf.Examples
    files = sorted(fileio.glob(_join(inference_uri, f'Split-{split_names[0]}',
                                     '*')))
  else:
    files = sorted(f for f in fileio.glob(_join(inference_uri, '*'))
                   if 'prediction_logs' in posixpath.basename(str(f)))
  rows = []
  for path in files:
    compression = 'GZIP' if str(path).endswith('.gz') else ''
    for record in tf.data.TFRecordDataset(str(path),
                                          compression_type=compression):
      if split_names:
        rows.append(_example_values(tf.train.Example.FromString(
            record.numpy())))
      else:
        from tensorflow_serving.apis import prediction_log_pb2
        rows.extend(_prediction_rows(
            prediction_log_pb2.PredictionLog.FromString(record.numpy())))
      if len(rows) >= limit:
        return rows[:limit]
  return rows


def _classes(classifications) -> dict[str, float]:
  """One classification's scores by label ('class 0', ... when the model
  gives no labels)."""
  return {f'prediction: {c.label or f"class {i}"}': c.score
          for i, c in enumerate(classifications.classes)}


def _prediction_rows(log) -> list[dict[str, Any]]:
  import tensorflow as tf
  kind = log.WhichOneof('log_type')
  if kind == 'predict_log':
    request, response = log.predict_log.request, log.predict_log.response
    examples = []
    for tensor in request.inputs.values():
      if tensor.dtype == tf.string.as_datatype_enum:
        examples = [tf.train.Example.FromString(s) for s in tensor.string_val]
        break
    outputs = {name: tf.make_ndarray(t).reshape(len(examples) or 1, -1)
               for name, t in response.outputs.items()}
    rows = []
    for i, example in enumerate(examples or [None]):
      row = _example_values(example) if example is not None else {}
      for name, values in sorted(outputs.items()):
        flat = values[i].tolist()
        row[f'prediction: {name}'] = flat[0] if len(flat) == 1 else flat
      rows.append(row)
    return rows
  if kind in ('classify_log', 'regress_log'):
    entry = getattr(log, kind)
    examples = list(entry.request.input.example_list.examples)
    if kind == 'regress_log':
      outputs = [{'prediction: value': r.value}
                 for r in entry.response.result.regressions]
    else:
      outputs = [_classes(c)
                 for c in entry.response.result.classifications]
    return [dict(_example_values(e), **o) for e, o in zip(examples, outputs)]
  if kind == 'multi_inference_log':
    entry = log.multi_inference_log
    examples = list(entry.request.input.example_list.examples)
    rows = [_example_values(e) for e in examples]
    for result in entry.response.results:
      signature = result.model_spec.signature_name or 'serving_default'
      if result.HasField('classification_result'):
        outputs = [{f'{k} ({signature})': v for k, v in _classes(c).items()}
                   for c in result.classification_result.classifications]
      else:
        outputs = [{f'prediction: value ({signature})': r.value}
                   for r in result.regression_result.regressions]
      for row, values in zip(rows, outputs):
        row.update(values)
    return rows
  return []


def _example_values(example) -> dict[str, Any]:
  row = {}
  for name, feature in sorted(example.features.feature.items()):
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value) if kind else []
    values = [v.decode('utf-8', 'replace') if isinstance(v, bytes) else v
              for v in values]
    row[name] = values[0] if len(values) == 1 else (values or None)
  return row
