"""The taxi demo chain, run for real on LocalDagRunner with a small sample.

One run of every component (Tuner and Trainer with few steps), then a second
run of the same pipeline that must come from cache. Everything is read back
from the real MLMD store and the files the components wrote.
"""

import glob
import os

import pytest
from conftest import SERVING_LIMITS

pytestmark = pytest.mark.e2e

UPSTREAM = ('CsvExampleGen', 'bulk_infer_example_gen', 'StatisticsGen',
            'SchemaGen', 'ExampleValidator', 'Transform', 'Tuner', 'Trainer',
            'PipelineConfigurationGen')


@pytest.fixture(scope='module')
def runs(taxi_runs):
  return taxi_runs


def test_every_component_ran_and_recorded_its_artifacts(runs):
  pdef, first, _ = runs
  expected = set(UPSTREAM) | {'latest_blessed_model_resolver', 'Evaluator',
                              'LocalInfraValidator', 'Pusher', 'BulkInferrer',
                              'PipelineConfigurationGen'}
  assert set(first.states) == expected
  assert set(first.states.values()) == {'COMPLETE'}, first.states
  for component in first.components:
    if component.node_id == 'latest_blessed_model_resolver':
      continue  # nothing blessed before the first run: empty output
    assert component.outputs, f'{component.node_id} recorded no outputs'
    for key, uris in component.outputs.items():
      for uri in uris:
        assert uri.startswith(pdef.pipeline_root), (component.node_id, uri)
        assert os.path.exists(uri), (component.node_id, key, uri)
  with open(first.log_path) as f:
    log = f.read()
  assert 'Component Trainer is finished.' in log  # chatter went to the log


def test_model_is_evaluated_blessed_and_pushed(runs):
  _, first, _ = runs
  assert first.metrics['example_count'] > 0
  assert 0.6 <= first.metrics['binary_accuracy'] <= 1.0
  assert first.blessed is True
  assert first.pushed_model.startswith(
      os.path.join(first.pipeline_root, 'serving'))
  assert 'binary_accuracy=' in str(first)
  assert f'pushed model: {first.pushed_model}' in str(first)


def test_local_serving_check_blessed_the_model(runs):
  pdef, first, _ = runs
  validator = next(c for c in pdef.build().components
                   if c.id == 'LocalInfraValidator')
  for limit, value in SERVING_LIMITS.items():
    assert validator.exec_properties[limit] == value, limit
  assert first.infra_blessed is True
  serving = first.serving
  assert serving['signature'] == 'serving_default'
  # Measured, and within the limits the fixture gave (not the machine's
  # speed: SERVING_LIMITS are far above it).
  assert 0 < serving['load_seconds'] <= SERVING_LIMITS['max_load_seconds']
  assert len(serving['latencies_ms']) == 20
  assert 0 < serving['p50_ms'] <= serving['p95_ms'] <= \
      SERVING_LIMITS['max_latency_ms']
  assert 'serving check: blessed (load ' in str(first)
  blessing = first.component('LocalInfraValidator').outputs['blessing'][0]
  assert os.path.exists(os.path.join(blessing, 'INFRA_BLESSED'))


def test_pushed_model_serves_serialized_examples(runs):
  import tensorflow as tf
  _, first, _ = runs
  examples_uri = first.component('CsvExampleGen').outputs['examples'][0]
  files = glob.glob(os.path.join(examples_uri, 'Split-eval', '*.gz'))
  serialized = [r.numpy() for r in tf.data.TFRecordDataset(
      files, compression_type='GZIP').take(8)]
  model = tf.saved_model.load(first.pushed_model)
  outputs = model.signatures['serving_default'](
      examples=tf.constant(serialized))['outputs'].numpy()
  assert outputs.shape == (8, 1)
  assert ((outputs >= 0) & (outputs <= 1)).all()


def test_bulk_inference_predicted_every_unlabelled_row(runs, taxi_sample):
  import tensorflow as tf
  from tensorflow_serving.apis import prediction_log_pb2
  _, first, _ = runs
  files = glob.glob(os.path.join(first.inference_result, '*.gz'))
  logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
  with open(os.path.join(taxi_sample['data_unlabelled'], 'data.csv')) as f:
    rows = sum(1 for _ in f) - 1
  assert len(logs) == rows
  assert logs[0].WhichOneof('log_type') == 'predict_log'


def test_second_run_is_served_from_cache(runs):
  from ml_metadata import metadata_store
  pdef, first, second = runs
  assert second.run_id != first.run_id
  for node_id in UPSTREAM:
    assert second.states[node_id] == 'CACHED', second.states
  # Counted in MLMD itself, not through RunResult.
  store = metadata_store.MetadataStore(pdef.build().metadata_connection_config)
  run = store.get_context_by_type_and_name('pipeline_run', second.run_id)
  cached = [e for e in store.get_executions_by_context(run.id)
            if e.last_known_state == e.CACHED]
  assert len(cached) >= len(UPSTREAM)
  # Unchanged module files are not packaged again: the wheels are reused.
  with open(first.log_path) as f:
    assert 'bdist_wheel' in f.read()
  with open(second.log_path) as f:
    assert 'bdist_wheel' not in f.read()
  # Cached outputs are the first run's artifacts, not copies.
  assert second.component('Trainer').outputs == \
      first.component('Trainer').outputs
