"""Provenance of every output of a run: a partial run records what it ran
and where each reused output came from, reads REUSED (not CACHED, which is
TFX's cache), and `show`, `runs`, `diff` and the report give the code and
arguments of the run that made the outputs, not the chain as it is now.

Real runs on the taxi sample: from_csv -> statistics -> schema -> preprocess
(a module file) -> train (a run_fn that writes a file: no training). Run 1
is full, run 2 the same again (all CACHED), then preprocessing_fn is edited
and run 3 is `only='train'`: Transform's outputs are reused from run 2,
which took them from run 1's cache, so run 1 made them.
"""

import os

import pytest

from fluent_pipeline import PipelineDef, cli, diff, read_run, runs
from fluent_pipeline.dsl import configuration
from fluent_pipeline.recorded import results

pytestmark = pytest.mark.e2e

PREPROCESSING = '''
import tensorflow as tf


def _dense(x):
  if isinstance(x, tf.SparseTensor):
    return tf.sparse.to_dense(x, default_value=0.0)
  return x


def preprocessing_fn(inputs):
  """Scales the fare{extra}."""
  return {{'fare_xf': _dense(inputs['fare']) * {factor},
           'tips': _dense(inputs['tips'])}}
'''

RUN_FN = '''
import os


def run_fn(fn_args):
  """Writes a file where the model goes: a Trainer without training."""
  os.makedirs(fn_args.serving_model_dir, exist_ok=True)
  with open(os.path.join(fn_args.serving_model_dir, 'done.txt'), 'w') as f:
    f.write('done')
'''


def _chain(root, data, prep, trainer):
  return (PipelineDef('provenance', root=str(root)).cache().from_csv(data)
          .generate_statistics().infer_schema()
          .preprocess(str(prep)).train(str(trainer), train_args=1,
                                       eval_args=1))


@pytest.fixture(scope='module')
def provenance_runs(tmp_path_factory, taxi_sample):
  """(pipeline dir, full run, cached re-run, `only='train'` run after an
  edit of preprocessing_fn), as RunResults."""
  where = tmp_path_factory.mktemp('provenance')
  (where / 'prep').mkdir()
  (where / 'trainer').mkdir()
  prep = where / 'prep' / 'prep_module.py'
  trainer = where / 'trainer' / 'trainer_module.py'
  prep.write_text(PREPROCESSING.format(extra='', factor='2.0'))
  trainer.write_text(RUN_FN)
  root = where / 'runs'
  first = _chain(root, taxi_sample['data'], prep, trainer).run()
  again = _chain(root, taxi_sample['data'], prep, trainer).run()
  prep.write_text(PREPROCESSING.format(extra=' (edited)', factor='3.0'))
  partial = _chain(root, taxi_sample['data'], prep, trainer).run(
      only='train')
  return str(root / 'provenance'), first, again, partial


def test_a_partial_run_records_its_options_and_each_reused_output(
    provenance_runs):
  _, first, again, partial = provenance_runs
  recorded = partial.configuration['partial_run']
  assert recorded['only'] == ['train']
  assert recorded['resume'] is False
  assert recorded['base_run'] == again.run_id
  assert set(recorded['ran']) == {'Trainer', configuration.COMPONENT_ID}
  # Reused from run 2 (the base), made by run 1: run 2 was served by the
  # cache, so the OUTPUT events lead back to the execution that ran.
  assert recorded['reused']['Transform'] == {
      'run_id': first.run_id,
      'execution_id': first.component('Transform').execution_id,
      'base_execution_id': again.component('Transform').execution_id}
  assert set(recorded['reused']) == {'CsvExampleGen', 'StatisticsGen',
                                     'SchemaGen', 'Transform'}
  assert partial.configuration['nodes']['preprocess'] == ['Transform']
  assert first.partial_run is None and again.partial_run is None


def test_reused_and_cached_are_told_apart(provenance_runs):
  _, first, again, partial = provenance_runs
  assert set(first.states.values()) == {'COMPLETE'}, first.states
  assert set(again.states.values()) == {'CACHED'}, again.states
  assert partial.states['Transform'] == results.REUSED
  assert partial.states['CsvExampleGen'] == results.REUSED
  # The Trainer ran in this run, and TFX's cache served it: CACHED.
  assert partial.states['Trainer'] == 'CACHED', partial.states
  transform = partial.component('Transform')
  assert transform.made_by_run == first.run_id
  assert transform.made_by_execution == first.component(
      'Transform').execution_id
  assert transform.origin == (f'reused from run {first.run_id} (execution '
                              f'{transform.made_by_execution})')
  assert again.component('Transform').origin.startswith(
      f'cached from run {first.run_id}')
  text = str(partial)
  assert 'REUSED' in text and f'reused from run {first.run_id}' in text
  assert 'partial run: only=train' in text
  assert f'base run {again.run_id}' in text


def test_show_gives_the_code_that_made_the_reused_outputs(
    provenance_runs, capsys):
  pipeline_dir, first, _, partial = provenance_runs
  old = first.configuration['steps']['preprocess']['preprocessing_fn'][
      'user_code']
  new = partial.configuration['steps']['preprocess']['preprocessing_fn'][
      'user_code']
  assert old != new  # the chain as given to run 3 has the edited module
  read = read_run(pipeline_dir, partial.run_id)
  effective = read.effective_configuration
  assert effective['steps']['preprocess']['preprocessing_fn'][
      'user_code'] == old
  assert new not in effective['user_code']
  assert old in effective['user_code']
  assert read.origins['preprocess'].run_id == first.run_id
  assert effective['made_by']['preprocess'].startswith(
      f'reused from run {first.run_id}')
  assert cli.main(['show', partial.run_id, '--root', pipeline_dir]) == 0
  out = capsys.readouterr().out
  assert old[:12] in out and new[:12] not in out
  assert f'preprocess: (reused from run {first.run_id}' in out
  # The run table marks the partial run and counts its reused steps.
  table = cli.runs_table(runs(pipeline_dir))
  line = next(row for row in table.splitlines()
              if row.startswith(partial.run_id))
  assert '4 reused' in line and 'partial: only=train' in line, table


def test_diff_says_the_step_was_reused_and_claims_no_code_change(
    provenance_runs):
  pipeline_dir, first, again, partial = provenance_runs
  for before in (first, again):
    changes = diff(pipeline_dir, before.run_id, partial.run_id)
    assert [c.where for c in changes.user_code] == [], str(changes)
    text = str(changes)
    assert (f'preprocess: in run {partial.run_id} reused from run '
            f'{first.run_id}') in text, text
    assert f'run {partial.run_id} was a partial run (only=train' in text


def test_the_report_names_reused_steps(provenance_runs, tmp_path):
  pipeline_dir, first, _, partial = provenance_runs
  path = read_run(pipeline_dir, partial.run_id).report(
      str(tmp_path / 'report.html'))
  with open(path, encoding='utf-8') as f:
    html = f.read()
  # A reused step's inputs are those of the execution that made it.
  assert ('SchemaGen', 'Transform') in read_run(
      pipeline_dir, partial.run_id).edges
  assert 'state-reused' in html and '>REUSED<' in html
  assert f'reused from run {first.run_id}' in html
  assert 'id="partial-run"' in html
  assert os.path.isfile(path)
