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
- dataset_forms: ExampleGen alone, then each form of the dataset steps'
                 functions run by the step's executor on its output, in
                 this process, one after the other, twice (`dataset_forms`):
                 prints `FORMS {json}`, the seconds and CPU seconds of each
                 round, examples in and out and a digest of the kept records
                 of each.
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


def keep_timed_trips_all(features):
  """keep_timed_trips, reading the features through a helper: the step
  cannot tell which it reads, so it converts all of them for every example
  (what every predicate cost before the steps read only the features
  used)."""
  return keep_timed_trips(features)


def keep_timed_trips_batch(df):
  """keep_timed_trips, batch form: a missing trip_seconds is <NA>, dropped."""
  return df.trip_seconds > 0


def payment_key(features):
  return (features.get('payment_type') or [''])[0]


def payment_key_all(features):
  """payment_key through a helper: all features converted (see above)."""
  return payment_key(features)


def payment_key_batch(df):
  return df.payment_type.fillna('')


# name -> (component, exec properties): the forms bench/dataset_steps.py
# compares, in the order they run; a form ending in _all is the per-record
# cost before the steps read only the features used.
DATASET_FORMS = {
    'filter_all': ('FilterExamples', {
        'predicate_fn': 'workloads.keep_timed_trips_all'}),
    'filter': ('FilterExamples', {
        'predicate_fn': 'workloads.keep_timed_trips'}),
    'filter_batch': ('FilterExamples', {
        'batch_predicate_fn': 'workloads.keep_timed_trips_batch'}),
    'sample_all': ('StratifiedSample', {
        'key_fn': 'workloads.payment_key_all'}),
    'sample': ('StratifiedSample', {'key_fn': 'workloads.payment_key'}),
    'sample_batch': ('StratifiedSample', {
        'batch_key_fn': 'workloads.payment_key_batch'}),
    'sample_key_feature': ('StratifiedSample', {
        'key_feature': 'payment_type'}),
}


def dataset_forms(root: str, data_dir: str, rounds: int = 2) -> dict:
  """ExampleGen's output, then every DATASET_FORMS entry run by its step's
  executor on it (in this process, the chain's Beam settings), `rounds`
  times, every other round in reverse order: name -> the seconds and CPU
  seconds of each round, examples in and out, and a sha256 of the kept
  records (sorted), equal where two forms keep the same examples."""
  import glob

  from tfx.types import standard_artifacts

  from fluent_pipeline import read_run
  pdef = (PipelineDef('dataset_forms', root=root).from_csv(data_dir)
          .cache(False))
  started = time.perf_counter()
  pdef.run()
  example_gen_seconds = time.perf_counter() - started
  uri = read_run(pdef).component('CsvExampleGen').outputs['examples'][0]
  source = standard_artifacts.Examples()
  source.uri = uri
  source.split_names = json.dumps(sorted(
      os.path.basename(d)[len('Split-'):]
      for d in glob.glob(os.path.join(uri, 'Split-*'))))
  out = {'example_gen_seconds': round(example_gen_seconds, 2), 'forms': {}}
  order = list(DATASET_FORMS)
  for i in range(rounds):
    for name in order if i % 2 == 0 else order[::-1]:
      form = _run_form(os.path.join(root, f'{name}_{i}'), name, source,
                       list(pdef._plan.beam_pipeline_args))
      print(f'  {name}: {form}', flush=True)
      if name not in out['forms']:
        out['forms'][name] = form
        continue
      seen = out['forms'][name]
      if seen['kept_sha256'] != form['kept_sha256']:
        raise SystemExit(f'{name} kept other examples in round {i + 1}')
      for key in ('seconds', 'cpu_seconds'):
        seen[key] += form[key]
  return out


def _run_form(folder: str, name: str, source, beam_args: list) -> dict:
  """One DATASET_FORMS entry, run once by its step's executor."""
  import glob
  import hashlib

  import tensorflow as tf
  from tfx.dsl.components.base import base_beam_executor
  from tfx.types import standard_artifacts

  from fluent_pipeline.components import filter_examples, stratified_sample
  component, props = DATASET_FORMS[name]
  props = dict(props, code_sha256='')
  executor = filter_examples.Executor
  if component == 'StratifiedSample':
    props.update(samples_per_key=SAMPLES_PER_KEY, seed=0)
    executor = stratified_sample.Executor
  output = standard_artifacts.Examples()
  output.uri = os.path.join(folder, 'output')
  run = executor(base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=beam_args, tmp_dir=os.path.join(folder, 'tmp'),
      unique_id=name))
  started, cpu = time.perf_counter(), time.process_time()
  run.Do({'examples': [source]}, {'reshaped_examples': [output]}, props)
  seconds = time.perf_counter() - started
  cpu = time.process_time() - cpu
  counts = json.loads(output.get_string_custom_property('example_counts'))
  files = sorted(glob.glob(os.path.join(output.uri, 'Split-*', '*')))
  kept = sorted(bytes(r) for r in tf.data.TFRecordDataset(
      files, compression_type='GZIP').as_numpy_iterator())
  return {
      'component': component, 'seconds': [round(seconds, 2)],
      'cpu_seconds': [round(cpu, 2)],
      'in': sum(c['in'] for c in counts.values()),
      'out': sum(c['out'] for c in counts.values()),
      'kept_sha256': hashlib.sha256(b''.join(kept)).hexdigest()}


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
  elif kind == 'dataset_forms':
    print('FORMS ' + json.dumps(dataset_forms(root, data_dir)), flush=True)
    components = {}
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
