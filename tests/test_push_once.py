"""Each model evaluated against its baseline once and pushed once, on real
runs sharing one pipeline root (a small train-and-push chain, two variants):

  1. A         trains, evaluates (no baseline), pushes version 1
  2. A again   every step CACHED (the baseline is still none); nothing pushed
  3. B         trains, evaluates against A, pushes version 2
  4. A again   Evaluator re-runs (the baseline is now B) and says so; the
               Pusher finds A in version 1 and does not push it
  5. B again   every step CACHED (B against A, as in 3)
  6. from_run(1).run()         nothing pushed; says how to roll back
  7. `fluent-pipeline rollback <run 1>`   A pushed again as version 3
"""

import hashlib
import os

import fault_pipeline
import pytest

from fluent_pipeline import PipelineDef
from fluent_pipeline.cli import main

A_STEPS, B_STEPS = 20, 21


def _versions(pdef):
  serving = os.path.join(pdef.pipeline_root, 'serving')
  if not os.path.isdir(serving):
    return []
  return sorted(os.listdir(serving), key=int)


def _digest(path):
  digest = hashlib.sha256()
  for folder, _, names in sorted(os.walk(path)):
    for name in sorted(names):
      full = os.path.join(folder, name)
      digest.update(os.path.relpath(full, path).encode())
      with open(full, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()


def _serving(pdef):
  """Version -> digest of its files."""
  serving = os.path.join(pdef.pipeline_root, 'serving')
  return {v: _digest(os.path.join(serving, v)) for v in _versions(pdef)}


@pytest.fixture(scope='module')
def runs(tmp_path_factory, taxi_sample):
  root = str(tmp_path_factory.mktemp('push_once'))
  data = taxi_sample['data']
  a = fault_pipeline.create(root, data, A_STEPS)
  b = fault_pipeline.create(root, data, B_STEPS)
  found = {'pdef': a}
  found['a1'] = a.run()
  found['serving_a1'] = _serving(a)
  found['a2'] = a.run()
  found['serving_a2'] = _serving(a)
  found['b1'] = b.run()
  found['a3'] = a.run()
  found['b2'] = b.run()
  found['serving_b2'] = _serving(a)
  found['replayed'] = PipelineDef.from_run(found['a1'].run_id, a).run()
  found['serving_replayed'] = _serving(a)
  return found


@pytest.mark.e2e
def test_first_run_pushes_version_one(runs):
  first = runs['a1']
  assert first.blessed is True
  [version] = runs['serving_a1']
  assert first.pushed_model == os.path.join(
      first.pipeline_root, 'serving', version)
  assert first.push['pushed'] == 1 and first.push['pushed_version'] == version
  assert f'pushed model: {first.pushed_model}' in str(first)


@pytest.mark.e2e
def test_unchanged_rerun_executes_nothing_and_pushes_nothing(runs):
  again = runs['a2']
  ran = {node: state for node, state in again.states.items()
         if node != 'latest_blessed_model_resolver'}
  assert set(ran.values()) == {'CACHED'}, again.states
  assert {'Evaluator', 'Pusher', 'Trainer'} <= set(ran)
  assert runs['serving_a2'] == runs['serving_a1']
  # The Pusher's result is the first run's, and the summary says so.
  assert again.component('Pusher').outputs == \
      runs['a1'].component('Pusher').outputs
  assert 'pushed model: none in this run (the Pusher is CACHED): this model ' \
      f'was pushed by run {runs["a1"].run_id} as version' in str(again)


@pytest.mark.e2e
def test_alternating_variants_push_each_model_once(runs):
  b1, a3, b2 = runs['b1'], runs['a3'], runs['b2']
  serving = runs['serving_b2']
  assert len(serving) == 2  # one version per distinct model
  version_a, version_b = sorted(serving, key=int)
  assert serving[version_a] == runs['serving_a1'][version_a]
  assert b1.pushed_model.endswith(version_b)
  assert b1.reran == {}  # a new model: evaluated for the first time

  # A again: its Trainer is cached, its Evaluator is not, and says why.
  assert a3.states['Trainer'] == 'CACHED'
  assert a3.states['Evaluator'] == 'COMPLETE'
  why = a3.reran['Evaluator']
  assert 'again: the baseline is now model ' in why, why
  assert f'(run {b1.run_id}); it was none' in why, why
  assert f'  Evaluator: {why}' in str(a3)
  # ... and its Pusher ran, found A as version 1, and pushed nothing,
  # recorded with TFX's meaning of `pushed`.
  assert a3.states['Pusher'] == 'COMPLETE'
  assert a3.pushed_model is None
  assert a3.push == {
      'pushed': 0, 'already_pushed_version': version_a,
      'already_pushed_destination': os.path.join(
          a3.pipeline_root, 'serving', version_a),
      'newest_version': version_b}
  summary = str(a3)
  assert (f'pushed model: not pushed again: version {version_a} already '
          'holds this model') in summary
  assert f'newer version {version_b} serves' in summary
  assert f'fluent-pipeline rollback {a3.run_id}' in summary

  # The run table's PUSHED column says which runs pushed a model.
  from fluent_pipeline.cli import runs_table
  lines = runs_table([runs['a1'], runs['a2'], b1, a3]).splitlines()
  start, end = lines[0].index('PUSHED'), lines[0].index('PARAMETERS')
  pushed = {line.split()[0]: line[start:end].strip() for line in lines[1:]}
  assert pushed == {runs['a1'].run_id: 'yes', runs['a2'].run_id: 'cached',
                    b1.run_id: 'yes', a3.run_id: 'no (held)'}

  # B again: B against A, as in b1: nothing runs, nothing is pushed.
  assert {s for n, s in b2.states.items()
          if n != 'latest_blessed_model_resolver'} == {'CACHED'}, b2.states
  assert 'Evaluator' not in b2.reran
  assert 'pushed model: none in this run (the Pusher is CACHED)' in str(b2)


@pytest.mark.e2e
def test_a_replayed_run_does_not_roll_back_silently(runs):
  replayed = runs['replayed']
  assert runs['serving_replayed'] == runs['serving_b2']
  assert replayed.states['Trainer'] == 'CACHED'
  assert replayed.pushed_model is None
  summary = str(replayed)
  assert 'pushed model: none in this run' in summary, summary
  assert 'already held this model' in summary
  assert 'roll back: `fluent-pipeline rollback' in summary


@pytest.mark.e2e
def test_rollback_pushes_the_old_model_as_the_newest_version(runs, capsys):
  from ml_metadata import metadata_store
  pdef, first = runs['pdef'], runs['a1']
  before = runs['serving_replayed']
  version_a, version_b = sorted(before, key=int)
  assert main(['rollback', first.run_id, '--root', pdef.pipeline_root]) == 0
  out = capsys.readouterr()
  serving = _serving(pdef)
  assert len(serving) == 3
  newest = max(serving, key=int)
  assert int(newest) > int(version_b)
  assert serving[newest] == serving[version_a]  # A, served again
  assert 'note: the Trainer ran again' not in out.err
  assert (f'pushed model: {os.path.join(pdef.pipeline_root, "serving", newest)}'
          f' (rolled back to the model of run {first.run_id}, which version '
          f'{version_a} held: version {newest} now serves it)') in out.out

  # Recorded in ML Metadata: the Pusher's exec property and its artifact.
  store = metadata_store.MetadataStore(pdef.build().metadata_connection_config)
  pushers = store.get_executions_by_type(
      'tfx.components.pusher.component.Pusher')
  latest = max(pushers, key=lambda e: e.id)
  assert latest.custom_properties['rollback'].int_value == 1
  assert all('rollback' not in e.custom_properties for e in pushers
             if e.id != latest.id)


@pytest.mark.e2e
def test_rollback_of_a_chain_without_push_is_refused(tmp_path, taxi_csv_dir,
                                                     capsys):
  path = tmp_path / 'nopush.py'
  path.write_text(
      'from fluent_pipeline import PipelineDef\n'
      'def create_pipeline(root: str):\n'
      f'  return PipelineDef("nopush", root=root).from_csv({taxi_csv_dir!r})'
      '.generate_statistics()\n')
  assert main(['run', str(path), '--set', f'root={tmp_path}',
               '--rollback']) == 2
  err = capsys.readouterr().err
  assert 'has no push_to()' in err and 'drop rollback' in err
  assert not os.path.exists(tmp_path / 'nopush' / 'metadata.sqlite')


# ------------------------------------------------ the parts, without a run
def _artifact(kind, artifact_id, **custom):
  from tfx.types import standard_artifacts
  artifact = getattr(standard_artifacts, kind)()
  artifact.id = artifact_id
  for name, value in custom.items():
    artifact.set_int_custom_property(name, value)
  return artifact


def test_the_baseline_is_the_latest_blessed_model_but_the_candidate():
  from fluent_pipeline.components import baseline
  models = [_artifact('Model', i) for i in (1, 2, 3)]
  blessings = [_artifact('ModelBlessing', 10, current_model_id=1, blessed=1),
               _artifact('ModelBlessing', 11, current_model_id=2, blessed=0),
               _artifact('ModelBlessing', 12, current_model_id=3, blessed=1),
               _artifact('ModelBlessing', 13, current_model_id=1, blessed=1)]

  def resolve(candidate):
    found = baseline.LatestBlessedOtherModelStrategy().resolve_artifacts(
        None, {'model': list(models), 'model_blessing': list(blessings),
               'candidate': [models[candidate - 1]]})
    return ([a.id for a in found['model']],
            [a.id for a in found['model_blessing']],
            [a.id for a in found['candidate']])
  # The candidate is skipped: the latest other blessed model, with its
  # latest blessing; model 2 was never blessed.
  assert resolve(3) == ([1], [13], [3])
  assert resolve(1) == ([3], [12], [1])
  assert resolve(2) == ([3], [12], [2])
  # Only the candidate is blessed: no baseline (as on a first run).
  found = baseline.LatestBlessedOtherModelStrategy().resolve_artifacts(
      None, {'model': models[:1], 'model_blessing': blessings[:1],
             'candidate': models[:1]})
  assert found['model'] == [] and found['model_blessing'] == []


def _tree(root, files):
  for name, content in files.items():
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
      f.write(content)
  return str(root)


def test_a_model_is_the_same_as_a_version_only_byte_for_byte(tmp_path):
  from fluent_pipeline.components import pusher
  files = {'saved_model.pb': b'graph', 'variables/variables.index': b'ix',
           'variables/variables.data-00000-of-00001': b'weights',
           'assets/vocab.txt': b'a\nb\n'}
  model = pusher._Model(_tree(tmp_path / 'model', files))
  assert model.same_as(_tree(tmp_path / 'same', files))
  # saved_model.pb alone tells most models apart; the rest, the others.
  for name, change in [
      ('pb', {'saved_model.pb': b'graph2'}),
      ('weights', {'variables/variables.data-00000-of-00001': b'weighty'}),
      ('extra file', {'assets/extra.txt': b'x'})]:
    assert not model.same_as(_tree(tmp_path / name, {**files, **change})), name
  missing = dict(files)
  del missing['saved_model.pb']  # a version whose copy never finished
  assert not model.same_as(_tree(tmp_path / 'half', missing))


def test_versions_are_the_numbered_folders_newest_first(tmp_path):
  from fluent_pipeline.components import pusher
  for name in ('1700000000', '1800000000', '999', 'tmp', 'notes.txt'):
    os.makedirs(tmp_path / name)
  assert pusher.versions(str(tmp_path)) == ['1800000000', '1700000000', '999']
  assert pusher.versions(str(tmp_path / 'absent')) == []


def test_a_rollback_never_pushes_a_model_no_version_holds(tmp_path):
  """`rollback RUN` replays the run's chain; when its Trainer did not come
  from cache (changed data, gc), the model is a new one: a rollback pushes
  only a model an earlier version holds, and says why it pushed nothing.
  Without rollback the same executor pushes the new model."""
  import json

  from tfx.types import standard_artifacts

  from fluent_pipeline.components import pusher
  files = {'saved_model.pb': b'graph', 'variables/variables.index': b'ix'}
  serving = tmp_path / 'serving'
  _tree(serving / '100', {**files, 'saved_model.pb': b'older'})

  def push(rollback):
    model = standard_artifacts.Model()
    _tree(tmp_path / 'model' / 'Format-Serving', files)  # TFX's layout
    model.uri = str(tmp_path / 'model')
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / 'blessing')
    blessing.set_int_custom_property('blessed', 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f'pushed_{rollback}')
    destination = json.dumps({'filesystem': {'base_directory': str(serving)}})
    pusher.Executor().Do(
        {'model': [model], 'model_blessing': [blessing]},
        {'pushed_model': [pushed]},
        {'push_destination': destination, 'custom_config': 'null',
         'rollback': 1 if rollback else None})
    return pushed

  refused = push(rollback=True)
  assert refused.get_int_custom_property('pushed') == 0
  assert 'nothing was pushed' in refused.get_string_custom_property(
      pusher.ROLLBACK_REFUSED)
  assert sorted(os.listdir(serving)) == ['100']
  pushed = push(rollback=False)  # an ordinary run pushes the new model
  assert pushed.get_int_custom_property('pushed') == 1
  assert len(os.listdir(serving)) == 2
