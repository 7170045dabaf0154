"""What a model serves: its SavedModel's signatures and BulkInferrer's
predictions as rows.

Read from saved_model.pb and TF Serving's PredictionLogs (or Examples that
carry the predictions), without loading the model.
"""

import posixpath
from typing import Any

from fluent_pipeline.artifacts import _reading, readers


def serving_signatures(saved_model_dir: str
                       ) -> dict[str, dict[str, dict[str, str]]]:
  """Each signature of a SavedModel: {'inputs': {name: 'dtype shape'},
  'outputs': {...}}, read from saved_model.pb without loading the model."""
  from tensorflow.core.framework import types_pb2
  from tensorflow.core.protobuf import saved_model_pb2
  proto = saved_model_pb2.SavedModel.FromString(
      _reading.read_bytes(_reading.join(saved_model_dir, 'saved_model.pb')))

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
  fileio = _reading.fileio(inference_uri)
  if not fileio.exists(inference_uri):
    return []
  split_names = readers.splits(inference_uri)
  if split_names:  # output_examples: Split-<name>/*.gz of tf.Examples
    files = sorted(fileio.glob(_reading.join(
        inference_uri, f'Split-{split_names[0]}', '*')))
  else:
    files = sorted(f for f in fileio.glob(_reading.join(inference_uri, '*'))
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
