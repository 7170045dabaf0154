"""One benchmark workload per process, so each starts cold like a user's run.

    python bench/workloads.py KIND ROOT DATA_DIR [ARGS...]

Prints one line `RESULT {json}` with the workload's own timings and the
peak memory of this process and its children. KIND is one of:

- fluent:        the taxi chain of TFX's taxi_pipeline_native_keras, written
                 with fluent_pipeline, on its default runner (LocalDagRunner);
- tfx_local:     TFX's own `_create_pipeline`, on LocalDagRunner, in-process
                 Beam (the fluent default);
- tfx_defaults:  TFX's own `_create_pipeline` with its example's defaults:
                 BeamDagRunner, multi-processing DirectRunner;
- data_stage:    ExampleGen, StatisticsGen, SchemaGen, Transform (fluent).
- dataset_steps: ExampleGen, then the dataset steps FilterExamples
                 (keep_timed_trips) and StratifiedSample (samples_per_key=
                 1000 of each payment_type), cache off (fluent);
- dataset_steps_fraction: the same with fraction=0.1 instead.
The dataset_steps kinds also print `COUNTS {json}`: each step's state and
the examples in and out it recorded.
"""

import json
import os
import resource
import sys
import time

STARTED = time.perf_counter()

from fluent_pipeline import PipelineDef  # noqa: E402  (timed from STARTED)

TRAIN_STEPS, EVAL_STEPS = 1000, 150
TFX_DEFAULT_BEAM_ARGS = ['--direct_running_mode=multi_processing',
                         '--direct_num_workers=0']


def _tfx_example():
  from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras
  return taxi_pipeline_native_keras


def module_file() -> str:
  """TFX's taxi module file, found without importing TFX's example.

  Importing the example would import `tfx.v1` (seconds): a cost of the
  hand-written pipeline, which fluent pipelines do not pay.
  """
  import importlib.util
  spec = importlib.util.find_spec('tfx.examples.chicago_taxi_pipeline')
  return os.path.join(list(spec.submodule_search_locations)[0],
                      'taxi_utils_native_keras.py')


def eval_config():
  """Exactly the eval config of TFX's taxi_pipeline_native_keras."""
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'examples', 'chicago_taxi'))
  import pipeline as taxi_example
  return taxi_example.eval_config(tfx_exact=True)


def fluent_chain(root: str, data_dir: str) -> PipelineDef:
  """The same steps as TFX's _create_pipeline, as one expression."""
  module = module_file()
  return (PipelineDef('taxi', root=root)
          .from_csv(data_dir)
          .generate_statistics()
          .infer_schema(infer_feature_shape=True)
          .validate_input_data()
          .preprocess(module)
          .train(module, train_args=TRAIN_STEPS, eval_args=EVAL_STEPS)
          .evaluate_model(eval_config())
          .push_to('serving_model')
          .cache())


def tfx_pipeline(root: str, data_dir: str, beam_args):
  pipeline_root = os.path.join(root, 'taxi')
  return _tfx_example()._create_pipeline(
      pipeline_name='taxi', pipeline_root=pipeline_root, data_root=data_dir,
      module_file=module_file(),
      serving_model_dir=os.path.join(pipeline_root, 'serving_model'),
      metadata_path=os.path.join(pipeline_root, 'metadata.sqlite'),
      beam_pipeline_args=beam_args)


def data_stage(root: str, data_dir: str) -> PipelineDef:
  return (PipelineDef('data_stage', root=root).from_csv(data_dir)
          .generate_statistics().infer_schema().preprocess(module_file()))


def keep_timed_trips(features):
  """The dataset steps benchmark's filter: trips with a positive duration
  (a missing trip_seconds is dropped too)."""
  return (features.get('trip_seconds') or [0])[0] > 0


SAMPLES_PER_KEY = 1000
SAMPLE_FRACTION = 0.1
DATASET_STEP_KINDS = ('dataset_steps', 'dataset_steps_fraction')


def dataset_steps(root: str, data_dir: str,
                  fraction: bool = False) -> PipelineDef:
  """ExampleGen and the two dataset steps, nothing else, cache off."""
  size = (dict(fraction=SAMPLE_FRACTION) if fraction
          else dict(samples_per_key=SAMPLES_PER_KEY))
  return (PipelineDef('dataset_steps', root=root).from_csv(data_dir)
          .filter_examples(keep_timed_trips)
          .stratified_sample('payment_type', **size)
          .cache(False))


def _example_counts(pdef: PipelineDef, result) -> dict:
  """node id -> the `example_counts` its output Examples records (examples
  in and out per split), found through ML Metadata whatever the output
  key is called."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = pdef.metadata_path
  store = metadata_store.MetadataStore(config)
  counts = {}
  for component in result.components:
    events = store.get_events_by_execution_ids([component.execution_id])
    ids = [e.artifact_id for e in events
           if e.type == metadata_store_pb2.Event.OUTPUT]
    for artifact in store.get_artifacts_by_id(ids):
      if 'example_counts' in artifact.custom_properties:
        counts[component.node_id] = json.loads(
            artifact.custom_properties['example_counts'].string_value)
  return counts


def _component_seconds(pipeline_or_def) -> dict:
  from fluent_pipeline import read_run
  return {c.node_id: round(c.seconds, 2)
          for c in read_run(pipeline_or_def).components}


def main(argv) -> int:
  kind, root, data_dir = argv[1:4]
  imported = time.perf_counter() - STARTED
  started = time.perf_counter()
  if kind in ('fluent', 'data_stage'):
    pdef = (fluent_chain if kind == 'fluent' else data_stage)(root, data_dir)
    pdef.run()
    components = _component_seconds(pdef)
  elif kind in DATASET_STEP_KINDS:
    pdef = dataset_steps(root, data_dir, kind == 'dataset_steps_fraction')
    from fluent_pipeline import read_run
    done = pdef.run() or read_run(pdef)  # the RunResult of this run
    components = {c.node_id: round(c.seconds, 2) for c in done.components}
    print('COUNTS ' + json.dumps({
        'states': {c.node_id: c.state for c in done.components},
        'example_counts': _example_counts(pdef, done)}), flush=True)
  else:
    if kind == 'tfx_local':
      from tfx.orchestration.local.local_dag_runner import LocalDagRunner
      pipeline, runner = tfx_pipeline(root, data_dir, []), LocalDagRunner()
    elif kind == 'tfx_defaults':
      from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
      pipeline = tfx_pipeline(root, data_dir, TFX_DEFAULT_BEAM_ARGS)
      runner = BeamDagRunner()
    else:
      raise SystemExit(f'unknown workload {kind!r}')
    runner.run(pipeline)
    components = _component_seconds(pipeline)
  run_seconds = time.perf_counter() - started
  peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
  print('RESULT ' + json.dumps({
      'kind': kind, 'import_seconds': round(imported, 2),
      'run_seconds': round(run_seconds, 2), 'components': components,
      'peak_rss_mb': round(peak_kb / 1024, 1)}), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
