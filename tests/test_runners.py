"""The same built pipeline on other TFX DagRunners."""

import json
import os
import re

import pytest

from fluent_pipeline import PipelineDef, read_run


@pytest.mark.e2e
def test_beam_dag_runner_runs_a_short_chain(tmp_path, taxi_csv_dir):
  from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
  pdef = (PipelineDef('on_beam', root=str(tmp_path)).from_csv(taxi_csv_dir)
          .generate_statistics().infer_schema().validate_input_data())
  result = pdef.run(BeamDagRunner())
  assert result.states == {
      'CsvExampleGen': 'COMPLETE', 'StatisticsGen': 'COMPLETE',
      'SchemaGen': 'COMPLETE', 'ExampleValidator': 'COMPLETE',
      'PipelineConfigurationGen': 'COMPLETE'}
  # One run-id format on every runner, and the configuration names it.
  assert re.fullmatch(r'\d{8}-\d{6}\.\d{6}', result.run_id)
  assert result.configuration['settings']['runner'] == 'BeamDagRunner'
  schema_dir = result.component('SchemaGen').outputs['schema'][0]
  assert os.path.isfile(os.path.join(schema_dir, 'schema.pbtxt'))
  # The run can be read back later by its id.
  again = read_run(pdef, result.run_id)
  assert again.run_id == result.run_id and again.states == result.states


def test_kubeflow_v2_runner_compiles_a_pipeline_spec(tmp_path, taxi_sample):
  import pipeline as taxi_pipeline  # examples/chicago_taxi/pipeline.py
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2
  pdef = taxi_pipeline.create_pipeline(
      root=str(tmp_path / 'root'), data_dir=taxi_sample['data'],
      unlabelled_dir=taxi_sample['data_unlabelled'], name='taxi-v2')
  runner = kfv2.KubeflowV2DagRunner(
      config=kfv2.KubeflowV2DagRunnerConfig(
          default_image='gcr.io/tfx-oss-public/tfx:1.16.0'),
      output_dir=str(tmp_path), output_filename='pipeline.json')
  pdef.run(runner)
  with open(tmp_path / 'pipeline.json') as f:
    job = json.load(f)
  spec = json_format.ParseDict(job['pipelineSpec'],
                               pipeline_spec_pb2.PipelineSpec(),
                               ignore_unknown_fields=True)
  tasks = set(spec.root.dag.tasks)
  assert {'CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator',
          'Transform', 'Tuner', 'Trainer', 'Evaluator', 'Pusher',
          'BulkInferrer', 'bulk_infer_example_gen',
          'LocalInfraValidator'} <= tasks
  # Vertex has no Resolver node: the V2 compiler turns it into two tasks.
  assert {t for t in tasks if t.startswith('latest_blessed_model_resolver')}
  assert 'baseline_model' in spec.root.dag.tasks['Evaluator'].inputs.artifacts
  assert spec.pipeline_info.name == 'taxi-v2'
  trainer = spec.root.dag.tasks['Trainer']
  assert set(trainer.inputs.artifacts) >= {'examples', 'transform_graph',
                                           'schema', 'hyperparameters'}
  assert job['runtimeConfig']['gcsOutputDirectory'] == pdef.pipeline_root
