"""One rule for which model's metrics are a run's: the candidate's.

With a baseline, TFMA writes every metric for the candidate, the baseline
and their difference, keyed by the model names of the EvalConfig, which the
user may choose. Here real TFMA protos (MetricsForSlice, EvalRun,
ValidationResult) are written in TFX's layout under a real ML Metadata store,
with the two models named otherwise than TFX's defaults (even the baseline
named 'candidate'), and every reader is asked: the run listing
(`runs()` and the `fluent-pipeline runs` table), `RunResult.metrics` (fast
path and TFMA), `metrics_by_slice`, the thresholds, and the report's
evaluation and comparison sections and page. All give the candidate's
figures. No pipeline runs: the artifacts are written, so the test is fast.
"""

import json
import os
import re

import pytest

from fluent_pipeline import read_run, runs
from fluent_pipeline.artifacts import evaluation as _evaluation
from fluent_pipeline.artifacts import metrics_file
from fluent_pipeline.report import page as _page
from fluent_pipeline.report import sections as _sections

PIPELINE = 'models'
ACCURACY = 'binary_accuracy'
HOUR = 'trip_start_hour'

# Per slice: (candidate, baseline) accuracy.
FIGURES = {'Overall': (0.8125, 0.75), f'{HOUR}:3': (0.625, 0.5)}
CROSS = f'Overall vs {HOUR}:3'  # a cross slice: the candidate's gap
CROSS_GAP = 0.1875


def _write_tfrecords(path, messages):
  import tensorflow as tf
  with tf.io.TFRecordWriter(path) as writer:
    for message in messages:
      writer.write(message.SerializeToString())


def _key(model_name, is_diff=False):
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb
  return pb.MetricKey(name=ACCURACY, model_name=model_name, is_diff=is_diff)


def _entry(model_name, value, is_diff=False):
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb
  kv = pb.MetricsForSlice.MetricKeyAndValue(key=_key(model_name, is_diff))
  kv.value.double_value.value = value
  return kv


def write_evaluation(folder, candidate, baseline, eval_config=True):
  """A ModelEvaluation as TFX's Evaluator writes it, for models named
  `candidate` and `baseline` (None: no baseline)."""
  import tensorflow_model_analysis as tfma
  from google.protobuf import json_format
  from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb
  os.makedirs(folder)
  hour = pb.SliceKey(single_slice_keys=[
      pb.SingleSliceKey(column=HOUR, int64_value=3)])
  records = [pb.MetricsForSlice(  # first, and its slice_key is empty too
      cross_slice_key=pb.CrossSliceKey(baseline_slice_key=pb.SliceKey(),
                                       comparison_slice_key=hour),
      metric_keys_and_values=[_entry(candidate, CROSS_GAP)])]
  for name, key in (('Overall', pb.SliceKey()), (f'{HOUR}:3', hour)):
    ours, theirs = FIGURES[name]
    entries = [_entry(candidate, ours)]
    if baseline is not None:  # after the candidate's: a wrong rule overwrites
      entries += [_entry(baseline, theirs), _entry(candidate, ours - theirs,
                                                   is_diff=True)]
    records.append(pb.MetricsForSlice(slice_key=key,
                                      metric_keys_and_values=entries))
  _write_tfrecords(os.path.join(folder, 'metrics-00000-of-00001.tfrecord'),
                   records)
  _write_tfrecords(os.path.join(folder, 'validations.tfrecord'),
                   [validation_result_pb2.ValidationResult(
                       validation_ok=True)])
  if not eval_config:
    return
  threshold = config_pb2.MetricThreshold(
      value_threshold=config_pb2.GenericValueThreshold(
          lower_bound={'value': 0.6}))
  specs = [config_pb2.ModelSpec(name=candidate, label_key='tips')]
  if baseline is not None:
    threshold.change_threshold.CopyFrom(config_pb2.GenericChangeThreshold(
        direction=config_pb2.MetricDirection.HIGHER_IS_BETTER,
        absolute={'value': -1e-10}))
    specs.append(config_pb2.ModelSpec(name=baseline, label_key='tips',
                                      is_baseline=True))
  config = config_pb2.EvalConfig(
      model_specs=specs,
      slicing_specs=[config_pb2.SlicingSpec(),
                     config_pb2.SlicingSpec(feature_keys=[HOUR])],
      metrics_specs=[config_pb2.MetricsSpec(
          model_names=[s.name for s in specs],
          metrics=[config_pb2.MetricConfig(class_name='BinaryAccuracy',
                                           threshold=threshold)])])
  # As TFMA's eval_config_writer writes it.
  with open(os.path.join(folder, 'eval_config.json'), 'w') as f:
    f.write(json_format.MessageToJson(config_pb2.EvalRun(
        eval_config=config, version=tfma.__version__,
        data_location='/data', file_format='tfrecords',
        model_locations={s.name: '/model' for s in specs})))


def write_run(pipeline_dir, evaluation):
  """An ML Metadata store in TFX's layout with one run whose Evaluator
  output `evaluation` and a blessing."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2 as mlmd
  os.makedirs(pipeline_dir, exist_ok=True)
  config = mlmd.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(pipeline_dir, 'metadata.sqlite')
  config.sqlite.connection_mode = (
      mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  store = metadata_store.MetadataStore(config)
  types = {name: store.put_context_type(mlmd.ContextType(name=name))
           for name in ('pipeline', 'pipeline_run', 'node')}
  pipeline, run, node = (mlmd.Context(type_id=types[kind], name=name)
                         for kind, name in (
                             ('pipeline', PIPELINE),
                             ('pipeline_run', 'run-1'),
                             ('node', f'{PIPELINE}.Evaluator')))
  pipeline.id, run.id, node.id = store.put_contexts([pipeline, run, node])
  store.put_parent_contexts([mlmd.ParentContext(child_id=run.id,
                                                parent_id=pipeline.id)])
  blessing = os.path.join(pipeline_dir, 'Evaluator', 'blessing', '2')
  os.makedirs(blessing)
  open(os.path.join(blessing, 'BLESSED'), 'w').close()
  outputs = []
  for key, type_name, uri in (('evaluation', 'ModelEvaluation', evaluation),
                              ('blessing', 'ModelBlessing', blessing)):
    artifact = mlmd.Artifact(
        type_id=store.put_artifact_type(mlmd.ArtifactType(name=type_name)),
        uri=uri, state=mlmd.Artifact.LIVE)
    event = mlmd.Event(type=mlmd.Event.OUTPUT)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    outputs.append((artifact, event))
  execution = mlmd.Execution(
      type_id=store.put_execution_type(mlmd.ExecutionType(
          name='tfx.components.evaluator.component.Evaluator')),
      last_known_state=mlmd.Execution.COMPLETE)
  store.put_execution(execution, outputs, [pipeline, run, node])


NAMINGS = {
    'named by the user': ('this_week', 'last_week'),
    'the baseline named candidate': ('challenger', 'candidate'),
    "TFX's defaults": ('candidate', 'baseline'),
    'a single model': ('', None),
}


@pytest.fixture(params=list(NAMINGS), ids=list(NAMINGS))
def evaluated(request, tmp_path):
  candidate, baseline = NAMINGS[request.param]
  pipeline_dir = str(tmp_path / PIPELINE)
  evaluation = os.path.join(pipeline_dir, 'Evaluator', 'evaluation', '2')
  write_evaluation(evaluation, candidate, baseline)
  write_run(pipeline_dir, evaluation)
  return pipeline_dir, evaluation, baseline is not None


def _ours(name):
  return {ACCURACY: FIGURES[name][0]}


def test_every_reader_gives_the_candidates_metrics(evaluated, monkeypatch):
  pipeline_dir, evaluation, with_baseline = evaluated
  overall = _ours('Overall')

  # The artifacts layer: the fast path, TFMA's, and per slice.
  assert metrics_file.overall_metrics(evaluation) == overall
  slices = _evaluation.slice_metrics(evaluation)
  assert set(slices) == {'Overall', f'{HOUR}:3', CROSS}
  for name, (ours, theirs) in FIGURES.items():
    assert slices[name]['candidate'] == {ACCURACY: ours}
    assert slices[name]['baseline'] == ({ACCURACY: theirs} if with_baseline
                                        else {})
    assert slices[name]['diff'] == ({ACCURACY: ours - theirs}
                                    if with_baseline else {})
  assert slices[CROSS]['candidate'] == {ACCURACY: CROSS_GAP}
  rows = _evaluation.thresholds(evaluation)
  assert {(r['slice'], r['change']) for r in rows} == {
      (name, change) for name in FIGURES
      for change in ((False, True) if with_baseline else (False,))}
  for row in rows:
    ours, theirs = FIGURES[row['slice']]
    assert row['value'] == (ours - theirs if row['change'] else ours), row

  # The run listing and RunResult, read back from ML Metadata.
  listed = runs(pipeline_dir)
  assert [r.metrics for r in listed] == [overall]
  from fluent_pipeline import cli
  table = cli.runs_table(listed)
  assert f'{ACCURACY}={FIGURES["Overall"][0]:.4g} ' in table, table
  run = read_run(pipeline_dir)
  assert run.blessed is True and run.metrics == overall
  assert run.metrics_by_slice == {name: slices[name]['candidate']
                                  for name in slices}

  # The report: evaluation, comparison, and the rendered page.
  section = _sections.evaluation(run)
  assert section['slices'].values == slices
  assert section['baseline'] == ([{
      'metric': ACCURACY, 'candidate': FIGURES['Overall'][0],
      'baseline': FIGURES['Overall'][1],
      'diff': FIGURES['Overall'][0] - FIGURES['Overall'][1]}]
      if with_baseline else [])
  compared = _sections.comparison(run, run, lambda: '').get('metrics')
  assert compared.ok, compared.error
  assert {row['slice']: row['cells'][ACCURACY]['this']
          for row in compared.values['rows']} == {
      name: entry['candidate'][ACCURACY] for name, entry in slices.items()}
  html = _page.render(run)
  cell = re.search(r'<tr data-slice="Overall"[^>]*>.*?<td data-metric="'
                   + ACCURACY + r'">([^<]*)</td>', html, re.S)
  assert cell and cell.group(1) == f'{FIGURES["Overall"][0]:.4g}'

  # TFMA's path, when the fast one cannot read the file, agrees.
  monkeypatch.setattr(metrics_file, 'overall_metrics', lambda uri: None)
  assert _evaluation.overall_metrics(evaluation) == overall


def test_without_an_eval_config_tfmas_default_names_apply(tmp_path):
  evaluation = str(tmp_path / 'evaluation')
  write_evaluation(evaluation, 'candidate', 'baseline', eval_config=False)
  overall = _ours('Overall')
  assert metrics_file.overall_metrics(evaluation) == overall
  slices = _evaluation.slice_metrics(evaluation)
  assert slices['Overall']['candidate'] == overall
  assert slices['Overall']['baseline'] == {ACCURACY: FIGURES['Overall'][1]}


def test_the_rule_reads_the_eval_config_as_tfma_writes_it(tmp_path):
  from fluent_pipeline.artifacts import models
  camel = {'evalConfig': {'modelSpecs': [
      {'name': 'old', 'isBaseline': True}, {'name': 'new'}]}}
  snake = {'eval_config': {'model_specs': [
      {'name': 'new'}, {'name': 'old', 'is_baseline': True}]}}
  for run in (camel, snake):
    roles = models.of_eval_run_json(json.dumps(run))
    assert roles == models.Models(frozenset({'new'}), frozenset({'old'}))
    assert roles.role('new') == models.CANDIDATE
    assert roles.role('new', is_diff=True) == models.DIFF
    assert roles.role('old') == models.BASELINE
    assert roles.role('') is None and roles.role('candidate') is None
  single = models.of_eval_run_json('{"evalConfig": {"modelSpecs": [{}]}}')
  assert single.role('') == models.CANDIDATE
  assert models.of_evaluation(str(tmp_path)) == models.DEFAULT  # no file
  (tmp_path / 'eval_config.json').write_text('{not json')
  assert models.of_evaluation(str(tmp_path)) == models.DEFAULT
