"""Loads a SavedModel in this (fresh) process and times real requests.

Run by the local infra validator as
`python -m fluent_pipeline.components.serving_probe '<json request>'`; prints one JSON
line with the measurements. A fresh process is what a model server is: no
TensorFlow state, graph or cache left over from training.
"""

import glob
import json
import os
import sys
import time


def probe(model_path: str, signature_name: str, example_files,
          num_requests: int, batch_size: int) -> dict:
  """Loads, checks the signature, sends requests; never raises."""
  out = {'load_seconds': None, 'signature': signature_name,
         'latencies_ms': [], 'error': None}
  started = time.perf_counter()
  import tensorflow as tf
  out['tf_import_seconds'] = round(time.perf_counter() - started, 3)
  try:
    started = time.perf_counter()
    model = tf.saved_model.load(model_path)
    out['load_seconds'] = round(time.perf_counter() - started, 3)
  except Exception as e:
    out['error'] = f'the model does not load: {type(e).__name__}: {e}'
    return out
  signature = model.signatures.get(signature_name)
  if signature is None:
    out['error'] = (f'the model has no {signature_name!r} signature (it has: '
                    f'{", ".join(sorted(model.signatures)) or "none"})')
    return out
  inputs = signature.structured_input_signature[1]
  string_inputs = [k for k, spec in inputs.items() if spec.dtype == tf.string]
  if len(inputs) != 1 or not string_inputs:
    out['error'] = (f'signature {signature_name!r} takes {sorted(inputs)}; a '
                    'serving signature takes one string tensor of serialized '
                    'tf.Examples')
    return out
  if not example_files or num_requests <= 0:
    return out
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      example_files, compression_type='GZIP').take(
          (num_requests + 1) * batch_size)]
  if not records:
    out['error'] = 'no examples to send'
    return out
  batches = [records[i:i + batch_size]
             for i in range(0, len(records), batch_size)]
  try:
    for i, batch in enumerate(batches[:num_requests + 1]):
      started = time.perf_counter()
      result = signature(**{string_inputs[0]: tf.constant(batch)})
      for value in result.values():
        value.numpy()  # wait for the result
      elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
      if i == 0:
        out['first_request_ms'] = elapsed_ms  # traced once, like a warm-up
      else:
        out['latencies_ms'].append(elapsed_ms)
  except Exception as e:
    out['error'] = (f'request {len(out["latencies_ms"]) + 1} failed: '
                    f'{type(e).__name__}: {str(e).splitlines()[0][:300]}')
  return out


def example_files(examples_uri: str, split: str):
  return sorted(glob.glob(os.path.join(examples_uri, f'Split-{split}', '*')))


def main(argv) -> int:
  request = json.loads(argv[1])
  result = probe(request['model_path'], request['signature_name'],
                 request['example_files'], request['num_requests'],
                 request['batch_size'])
  sys.stdout.write('\nPROBE_RESULT ' + json.dumps(result) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
