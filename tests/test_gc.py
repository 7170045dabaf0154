"""`fluent-pipeline gc` on real runs: the outputs of old runs go, what kept
runs, the latest blessed model, pushed models and running steps need stays,
removed artifacts are DELETED in ML Metadata (so TFX's cache never serves
them), and the half-written folders of a killed run go once it is dead."""

import os
import signal

import pytest
import taxi_data  # examples/chicago_taxi, on the path (conftest.py)
import training_run
from ml_metadata import metadata_store

from fluent_pipeline import (
  PipelineDef,
  PipelineDefinitionError,
  cli,
  gc,
  read_run,
)
from fluent_pipeline.dsl import wiring
from fluent_pipeline.recorded import gc as gc_module
from fluent_pipeline.recorded import history, mlmd

# A "model" that needs no training: it doubles the fare (tests/serving_models).
MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'serving_models.py')
# Every model is blessed: it saw at least one example.
EVAL_CONFIG = {'model_specs': [{'label_key': 'tips'}],
               'metrics_specs': [{'metrics': [{
                   'class_name': 'ExampleCount',
                   'threshold': {'value_threshold': {'lower_bound': 1}}}]}]}


def chain(root, data, model=None, push=False):
  """Data, statistics, schema; with `model`, a model (named by it, so each
  name is a new Trainer execution) evaluated and, with `push`, pushed."""
  pdef = (PipelineDef('gc_runs', root=root).from_csv(data)
          .generate_statistics().infer_schema())
  if model:
    pdef = pdef.train(MODULE, train_args=1, eval_args=1,
                      custom_config={'mode': 'good', 'name': model}
                      ).evaluate_model(EVAL_CONFIG)
    if push:
      pdef = pdef.push_to('serving')
  return pdef.cache()


def files(folder):
  """Every file and folder under `folder`: relative path -> size (a
  folder's path ends with a separator, its size is 0)."""
  found = {}
  for parent, folders, names in os.walk(folder):
    for name in folders:
      found[os.path.relpath(os.path.join(parent, name), folder) + os.sep] = 0
    for name in names:
      path = os.path.join(parent, name)
      found[os.path.relpath(path, folder)] = os.lstat(path).st_size
  return found


def size(folder):
  return sum(files(folder).values())


def folders(root, paths):
  """The output folders (<root>/<node>/<key>/<id>) holding `paths`."""
  return {os.path.join(root, *p.split(os.sep)[:3]) for p in paths
          if len(p.rstrip(os.sep).split(os.sep)) >= 3}


def artifacts(pipeline_root):
  store = metadata_store.MetadataStore(wiring.sqlite_config(
      os.path.join(pipeline_root, 'metadata.sqlite')))
  return {a.uri: a for a in store.get_artifacts()}


@pytest.fixture(scope='module')
def scenario(tmp_path_factory, taxi_csv_dir):
  """Four runs, then gc --keep 1 (first dry), then the first run's data
  steps again:
  1. data A, model 'a', pushed;
  2. data A (CACHED from 1), model 'b', blessed, not pushed: the latest
     blessed model;
  3. data B;
  4. data B, all CACHED from 3 but its configuration (a parameter): the
     one run kept."""
  base = tmp_path_factory.mktemp('gc')
  data_b = taxi_data.write_data(str(base / 'b'), rows=100,
                                unlabelled_rows=1)['data']
  root = str(base / 'runs')
  runs = {'pushed': chain(root, taxi_csv_dir, 'a', push=True).run(),
          'blessed': chain(root, taxi_csv_dir, 'b').run(),
          'made': chain(root, data_b).run(),
          'kept': chain(root, data_b).with_parameters(note='kept').run()}
  pipeline_root = runs['kept'].pipeline_root
  found = {'runs': runs, 'root': pipeline_root, 'before': files(pipeline_root),
           'sizes': {}}
  for run in runs.values():
    for component in run.components:
      for uris in component.outputs.values():
        found['sizes'].update((uri, size(uri)) for uri in uris)
  found['dry'] = gc(pipeline_root, keep=1, dry_run=True)
  found['after_dry'] = files(pipeline_root)
  found['states_after_dry'] = {u: a.state
                               for u, a in artifacts(pipeline_root).items()}
  found['done'] = gc(pipeline_root, keep=1)
  found['after'] = files(pipeline_root)
  found['artifacts'] = artifacts(pipeline_root)
  # Were the files all TFX's cache looked at, an empty folder where run 1's
  # examples were would let it serve them: ML Metadata's DELETED does not.
  os.makedirs(runs['pushed'].component('CsvExampleGen').outputs['examples'][0])
  found['again'] = chain(root, taxi_csv_dir).run()
  return found


def expected_removed(runs):
  """What gc --keep 1 must remove: every output of runs 1 and 2 but the
  pushed model (and its push record), the two latest blessed models and
  their blessings; nothing of run 3, whose outputs run 4 uses (and whose
  configuration says how they were made)."""
  first = runs['pushed'].component
  second = runs['blessed'].component
  return {first('CsvExampleGen').outputs['examples'][0],
          first('PipelineConfigurationGen').outputs['configuration'][0],
          first('StatisticsGen').outputs['statistics'][0],
          first('SchemaGen').outputs['schema'][0],
          first('Trainer').outputs['model_run'][0],
          first('Evaluator').outputs['evaluation'][0],
          second('PipelineConfigurationGen').outputs['configuration'][0],
          second('Trainer').outputs['model_run'][0],
          second('Evaluator').outputs['evaluation'][0]}


@pytest.mark.e2e
def test_the_runs_are_what_the_scenario_says(scenario):
  runs = scenario['runs']
  assert runs['pushed'].pushed_model and runs['pushed'].blessed
  assert runs['blessed'].blessed and runs['blessed'].pushed_model is None
  assert runs['blessed'].states['CsvExampleGen'] == 'CACHED'
  assert runs['blessed'].states['Trainer'] == 'COMPLETE'
  assert runs['kept'].states['PipelineConfigurationGen'] == 'COMPLETE'
  for node in ('CsvExampleGen', 'StatisticsGen', 'SchemaGen'):
    assert runs['kept'].states[node] == 'CACHED'


@pytest.mark.e2e
def test_a_dry_run_says_what_would_go_and_removes_nothing(scenario):
  dry = scenario['dry']
  assert scenario['after_dry'] == scenario['before']
  assert set(scenario['states_after_dry'].values()) == {2}  # all LIVE
  assert {r.path for r in dry.removed} == expected_removed(scenario['runs'])
  assert dry.freed_bytes == sum(scenario['sizes'][p]
                                for p in expected_removed(scenario['runs']))
  assert str(dry).splitlines()[-1] == (
      f'would free {gc_module._size(dry.freed_bytes)} '
      f'({dry.freed_bytes:,} bytes)')
  assert '-- dry run, nothing removed' in str(dry)


@pytest.mark.e2e
def test_gc_removes_exactly_the_old_outputs_nothing_needs(scenario):
  runs, done, root = scenario['runs'], scenario['done'], scenario['root']
  removed = expected_removed(runs)
  assert done.kept_runs == [runs['kept'].run_id]
  assert done.old_runs == [runs[k].run_id for k in ('made', 'blessed',
                                                    'pushed')]
  assert {r.path for r in done.removed} == removed
  assert not done.failed
  gone = set(scenario['before']) - set(scenario['after'])
  assert folders(root, gone) == removed
  assert not set(scenario['after']) - set(scenario['before'])
  for path in removed:  # (the scenario's later run made the first again)
    assert os.path.relpath(path, root) + os.sep not in scenario['after']
  # The bytes printed are the bytes of the files removed.
  freed = sum(scenario['sizes'][p] for p in removed)
  assert freed == sum(size for p, size in scenario['before'].items()
                      if p not in scenario['after']) > 0
  assert done.freed_bytes == freed
  assert str(done).splitlines()[-1] == (
      f'freed {gc_module._size(freed)} ({freed:,} bytes)')
  # Each removal is named under the run that made it.
  text = str(done)
  for key in ('pushed', 'blessed'):
    assert f'run {runs[key].run_id}: removed ' in text
  assert f'run {runs["made"].run_id}: removed' not in text
  first = runs['pushed'].component('StatisticsGen').outputs['statistics'][0]
  assert f'  {os.path.relpath(first, root)}  ExampleStatistics, ' in text
  # ML Metadata says so: DELETED, and by what.
  for path in removed:
    artifact = scenario['artifacts'][path]
    assert artifact.state == artifact.DELETED, path
    assert artifact.custom_properties[mlmd.REMOVED_PROPERTY].string_value \
        .startswith('removed by fluent-pipeline gc on ')
  assert all(a.state == a.LIVE for uri, a in scenario['artifacts'].items()
             if uri not in removed)


@pytest.mark.e2e
def test_the_pushed_and_the_latest_blessed_models_stay(scenario):
  runs, done = scenario['runs'], scenario['done']
  pushed = runs['pushed'].component('Trainer').outputs['model'][0]
  pushed_blessing = runs['pushed'].component('Evaluator').outputs[
      'blessing'][0]
  blessed = runs['blessed'].component('Trainer').outputs['model'][0]
  blessing = runs['blessed'].component('Evaluator').outputs['blessing'][0]
  push_record = runs['pushed'].component('Pusher').outputs['pushed_model'][0]
  why = {k.path: k.why for k in done.kept}
  # The model pushed first is also the blessed model before the latest: the
  # baseline the latest is compared with when it is evaluated again.
  assert why[pushed] == (
      f'a pushed model (to {runs["pushed"].pushed_model}); the blessed model '
      'before the latest (the baseline of the latest when it is evaluated '
      'again)')
  assert why[pushed_blessing] == (
      'the blessing of the blessed model before the latest')
  assert why[push_record] == (
      f'the record of a push (to {runs["pushed"].pushed_model})')
  assert why[blessed] == 'the latest blessed model (the next baseline)'
  assert why[blessing] == 'the blessing of the latest blessed model'
  for path in (pushed, pushed_blessing, blessed, blessing, push_record):
    assert os.path.isdir(path)
  # The serving directory (under the pipeline root here), the store, the
  # logs and the wheels TFX built: untouched.
  for prefix in ('serving', 'metadata.sqlite', 'logs', '_wheels'):
    kept = {p: s for p, s in scenario['before'].items()
            if p.startswith(prefix)}
    assert kept and all(scenario['after'].get(p) == s
                        for p, s in kept.items()), prefix


@pytest.mark.e2e
def test_kept_runs_read_back_and_report(scenario, tmp_path):
  runs, done = scenario['runs'], scenario['done']
  root = scenario['root']
  made = runs['made']
  why = {k.path: k.why for k in done.kept}
  for node, key in (('CsvExampleGen', 'examples'),
                    ('StatisticsGen', 'statistics'), ('SchemaGen', 'schema')):
    assert why[made.component(node).outputs[key][0]] == (
        f'kept run {runs["kept"].run_id} uses it')
  config = made.component('PipelineConfigurationGen').outputs[
      'configuration'][0]
  assert why[config] == (f'the configuration of run {made.run_id}, which '
                         'made outputs a kept run uses')
  kept = read_run(root, runs['kept'].run_id)
  assert kept.configuration['parameters'] == {'note': 'kept'}
  assert kept.statistics('train')['fare']['count'] > 0
  assert {f['name'] for f in kept.schema} >= {'fare', 'tips'}
  report = kept.report(str(tmp_path / 'kept.html'))
  assert os.path.getsize(report) > 10_000
  # The old run whose outputs the kept run took reads back whole.
  assert read_run(root, made.run_id).configuration is not None
  # An old run whose outputs went still reads (its record is in ML
  # Metadata), and its report still renders.
  old = read_run(root, runs['pushed'].run_id)
  assert old.pushed_model == runs['pushed'].pushed_model
  assert f'run {old.run_id}' in str(old)
  assert os.path.isfile(old.report(str(tmp_path / 'old.html')))
  # ... and says which of its outputs gc removed, and when.
  assert set(old.removed) == {
      'CsvExampleGen.examples', 'PipelineConfigurationGen.configuration',
      'StatisticsGen.statistics', 'SchemaGen.schema', 'Trainer.model_run',
      'Evaluator.evaluation'}
  assert all(why.startswith('removed by fluent-pipeline gc on ')
             for why in old.removed.values())
  assert '  removed: 6 outputs (CsvExampleGen.examples, ' in str(old)
  with pytest.raises(LookupError, match=f'run {old.run_id} has no statistics '
                     'any more: removed by fluent-pipeline gc on '):
    old.statistics()
  assert old.metrics == {} and 'metrics' not in old.unreadable


@pytest.mark.e2e
def test_the_cache_never_serves_what_gc_removed(scenario):
  """Run 1's data steps again: their cache entries point at removed
  artifacts, so they execute (TFX's cache serves LIVE artifacts only), even
  where a folder of the same name is back (see `scenario`)."""
  again, first = scenario['again'], scenario['runs']['pushed']
  for node in ('CsvExampleGen', 'StatisticsGen', 'SchemaGen'):
    assert again.states[node] == 'COMPLETE', again.states
  examples = again.component('CsvExampleGen').outputs['examples'][0]
  assert examples != first.component('CsvExampleGen').outputs['examples'][0]
  assert again.statistics('train')['fare']['count'] > 0


# ------------------------------------------------------- a killed run
@pytest.mark.e2e
def test_a_running_run_is_kept_and_its_orphans_go_once_it_is_killed(
    tmp_path, taxi_csv_dir, capsys):
  data_b = taxi_data.write_data(str(tmp_path / 'b'), rows=60,
                                unlabelled_rows=1)['data']
  with training_run.training(tmp_path, taxi_csv_dir, 'killed') as (proc, root, _):
    pipeline_root = str(root / 'killed')
    # A newer run finishes while the first still trains: the first is the
    # older one, yet kept, and its Trainer's folders too.
    newer = PipelineDef('killed', root=str(root)).from_csv(data_b).run()
    live = gc(pipeline_root, keep=1)
    [running] = [r for r in live.kept_runs if r != newer.run_id]
    assert live.kept_runs == [newer.run_id, running]
    assert live.why_kept[running].startswith(
        f'run {running}: it has executions still running')
    assert f'  also keeping run {running}: it has executions' in str(live)
    assert live.removed == []
    trainer = {os.path.join(pipeline_root, 'Trainer', key, n)
               for key in ('model', 'model_run')
               for n in os.listdir(os.path.join(pipeline_root, 'Trainer', key))}
    assert len(trainer) == 2
    why = {k.path: k.why for k in live.kept}
    for folder in trainer:
      assert 'is RUNNING' in why[folder] and 'process is alive' in why[folder]
      assert os.path.isdir(folder)
    proc.kill()  # SIGKILL: the run can record nothing
    proc.wait()
  assert proc.returncode == -signal.SIGKILL

  killed = read_run(pipeline_root, running)
  assert killed.states['Trainer'] == 'ABANDONED'
  old = {killed.component(node).outputs[key][0]
         for node, key in (('CsvExampleGen', 'examples'),
                           ('PipelineConfigurationGen', 'configuration'))}
  before = files(pipeline_root)
  assert cli.main(['gc', pipeline_root, '--keep', '1', '--dry-run']) == 0
  dry = capsys.readouterr().out
  assert files(pipeline_root) == before
  for folder in trainer | old:
    assert os.path.relpath(folder, pipeline_root) in dry

  sizes = {folder: size(folder) for folder in trainer | old}
  assert cli.main(['gc', pipeline_root, '--keep', '1']) == 0
  printed = capsys.readouterr().out
  for folder in trainer | old:
    assert not os.path.exists(folder)
  after = files(pipeline_root)
  assert folders(pipeline_root, set(before) - set(after)) == trainer | old
  orphans = printed.split('orphaned folders (no ML Metadata artifact points '
                          'at them): removed 2 folders, ')[1]
  for folder in sorted(trainer):
    execution = os.path.basename(folder)
    assert (f'  {os.path.relpath(folder, pipeline_root)}  execution '
            f'{execution} of Trainer (RUNNING; abandoned: its process '
            f'({proc.pid} on ') in orphans
  assert f'run {running}: removed 2 folders, ' in printed
  freed = sum(sizes.values())
  assert printed.rstrip().splitlines()[-1] == (
      f'freed {gc_module._size(freed)} ({freed:,} bytes)')
  # The newest run, and the code and wheels runs are built from, stay.
  assert read_run(pipeline_root).run_id == newer.run_id
  for name in ('_fluent_user_code', '_wheels', 'metadata.sqlite'):
    assert os.path.exists(os.path.join(pipeline_root, name)), name
  assert os.path.isdir(newer.component('CsvExampleGen').outputs[
      'examples'][0])


# ------------------------------------------------------------ bad input
def test_keep_must_leave_the_newest_run(tmp_path, capsys):
  with pytest.raises(PipelineDefinitionError,
                     match=r'gc\(\): keep=0: gc keeps at least the newest '
                     r'run[^\n]*\n  fix: keep=1 or more'):
    gc(str(tmp_path), keep=0)
  assert cli.main(['gc', str(tmp_path), '--keep', '0']) == 2
  assert 'keep=0: gc keeps at least the newest run' in capsys.readouterr().err


def test_the_command_line_default_is_the_function_default(capsys):
  args = cli._parser().parse_args(['gc'])
  assert args.keep == gc_module.KEEP and not args.dry_run
  with pytest.raises(SystemExit):
    cli.main(['gc', '--help'])
  assert f'(default {gc_module.KEEP};' in ' '.join(
      capsys.readouterr().out.split())


@pytest.mark.e2e
def test_what_a_run_started_during_gc_was_served_stays(tmp_path,
                                                       taxi_csv_dir):
  """A run that starts between gc's reading of the store and its removal,
  and is served an old run's outputs by TFX's cache: they stay, LIVE."""
  data_b = taxi_data.write_data(str(tmp_path / 'b'), rows=60,
                                unlabelled_rows=1)['data']
  root = str(tmp_path / 'runs')
  first = chain(root, taxi_csv_dir).run()
  chain(root, data_b).run()
  store, name, pipeline_root = history.open_pipeline(first.pipeline_root)
  planned, old = gc_module._plan(store, name, pipeline_root, 1, False)
  examples = first.component('CsvExampleGen').outputs['examples'][0]
  assert examples in {r.path for r in planned.removed}
  during = chain(root, taxi_csv_dir).run()  # served run 1's outputs
  assert during.states['CsvExampleGen'] == 'CACHED'
  gc_module._remove(store, planned, old)
  assert planned.removed == []
  assert {k.path for k in planned.kept if 'started during gc' in k.why} == {
      first.component(node).outputs[key][0]
      for node, key in (('CsvExampleGen', 'examples'),
                        ('PipelineConfigurationGen', 'configuration'),
                        ('StatisticsGen', 'statistics'),
                        ('SchemaGen', 'schema'))}
  assert os.path.isdir(examples)
  live = artifacts(first.pipeline_root)
  assert live[examples].state == live[examples].LIVE
  assert mlmd.REMOVED_PROPERTY not in live[examples].custom_properties
