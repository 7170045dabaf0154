"""The local serving check: real SavedModels, real requests, real blessings."""

import os

import pytest
from conftest import SERVING_LIMITS
from ml_metadata import metadata_store

from fluent_pipeline import PipelineDef, PipelineDefinitionError

MODULE = os.path.join(os.path.dirname(__file__), 'serving_models.py')


def chain(root, data, mode, **check):
  return (PipelineDef('serving_check', root=root).from_csv(data)
          .train(MODULE, train_args=1, eval_args=1,
                 custom_config={'mode': mode})
          .infra_validate(num_requests=5, **check)
          .push_to('serving')
          .cache())


def blessed_property(pdef, result):
  store = metadata_store.MetadataStore(pdef.build().metadata_connection_config)
  uri = result.component('LocalInfraValidator').outputs['blessing'][0]
  [artifact] = store.get_artifacts_by_uri(uri)
  return artifact.custom_properties['blessed'].int_value


@pytest.mark.e2e
@pytest.mark.parametrize('mode,check,reason', [
    ('wrong_signature', {}, "the model has no 'serving_default' signature "
     "(it has: predict)"),
    ('bad_request', {}, 'request 1 failed: InvalidArgumentError'),
    # (loading is checked first: its limit must not be what fails)
    ('good', {'max_latency_ms': 0.001,
              'max_load_seconds': SERVING_LIMITS['max_load_seconds']},
     'p95 latency '),
    ('good', {'max_load_seconds': 0.0001}, 'loading took '),
])
def test_a_model_that_does_not_serve_is_not_pushed(
    tmp_path_factory, taxi_csv_dir, mode, check, reason):
  root = str(tmp_path_factory.getbasetemp() / 'serving_check')
  pdef = chain(root, taxi_csv_dir, mode, **check)
  result = pdef.run()
  assert result.infra_blessed is False
  assert result.serving['reason'].startswith(reason)
  assert result.pushed_model is None
  assert result.states['Pusher'] == 'COMPLETE'
  assert f'serving check: NOT blessed: {reason}' in str(result)
  assert blessed_property(pdef, result) == 0
  serving_dir = os.path.join(pdef.pipeline_root, 'serving')
  assert not os.path.exists(serving_dir) or not os.listdir(serving_dir)


@pytest.mark.e2e
def test_a_good_model_is_blessed_with_measurements(tmp_path, taxi_csv_dir):
  pdef = chain(str(tmp_path), taxi_csv_dir, 'good', **SERVING_LIMITS)
  result = pdef.run()
  assert result.infra_blessed is True
  assert blessed_property(pdef, result) == 1
  assert result.serving['reason'] is None
  assert len(result.serving['latencies_ms']) == 5
  assert result.serving['p95_ms'] >= result.serving['p50_ms'] > 0
  assert result.serving['load_seconds'] > 0
  assert result.pushed_model and os.path.isfile(
      os.path.join(result.pushed_model, 'saved_model.pb'))


def test_arguments_are_checked(tmp_path):
  base = PipelineDef('p', root=str(tmp_path))
  with pytest.raises(PipelineDefinitionError,
                     match='max_latency_ms must be a positive number'):
    base.infra_validate(max_latency_ms=0)
  with pytest.raises(PipelineDefinitionError,
                     match='num_requests must be a positive int'):
    base.infra_validate(num_requests=2.5)
  with pytest.raises(PipelineDefinitionError,
                     match='local=False needs a serving_spec'):
    base.infra_validate(local=False)
  with pytest.raises(PipelineDefinitionError, match='two different checks'):
    base.infra_validate(local=True, serving_spec={'local_docker': {}})
