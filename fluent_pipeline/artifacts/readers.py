"""What the data's artifacts hold: the splits, statistics and schema, the
anomalies, and how a feature's distribution moved between two statistics.

Read with the protos of TFDV (tensorflow_metadata) and TFDV's own drift
measure, so the values are those the TFX tools show, without their notebook
widgets. Every reader takes an artifact URI (local or remote: TFX's fileio)
and returns dicts, lists, strings and floats.
"""

from typing import Any

from fluent_pipeline.artifacts import _reading


def splits(uri: str) -> list[str]:
  """The split names of a split artifact (its `Split-<name>` folders)."""
  fileio = _reading.fileio(uri)
  if not fileio.exists(uri):
    return []
  names = [n.rstrip('/') for n in fileio.listdir(uri)]
  return sorted(n[len('Split-'):] for n in names if n.startswith('Split-'))



def _whole_split(uri: str, split: str):
  """The DatasetFeatureStatistics of a whole split: with slicing, TFDV
  writes one dataset per slice, and the whole split is the one it names
  'All Examples' (the first)."""
  from tensorflow_metadata.proto.v0 import statistics_pb2
  path = _reading.join(uri, f'Split-{split}', 'FeatureStats.pb')
  if not _reading.fileio(path).exists(path):
    raise LookupError(f'no statistics for split {split!r} under {uri} '
                      f'(splits: {", ".join(splits(uri)) or "none"})')
  stats_list = statistics_pb2.DatasetFeatureStatisticsList.FromString(
      _reading.read_bytes(path))
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
    number = _reading.number
    row.update(mean=number(num.mean), std=number(num.std_dev),
               min=number(num.min), median=number(num.median),
               max=number(num.max), zeros=int(num.num_zeros))
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
  path = _reading.join(uri, 'schema.pbtxt')
  proto = text_format.Parse(_reading.read_bytes(path).decode('utf-8'),
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
    path = _reading.join(uri, f'Split-{split}', 'SchemaDiff.pb')
    if not _reading.fileio(path).exists(path):
      continue
    proto = anomalies_pb2.Anomalies.FromString(_reading.read_bytes(path))
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

