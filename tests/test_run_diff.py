"""diff of two runs' configurations: a step one run added is named as a
step, not listed argument by argument with its whole module as a diff."""

import dataclasses
from typing import Any, Optional

from fluent_pipeline.recorded import diff

MODULE = 'def preprocessing_fn(inputs):\n  return inputs\n' * 20


@dataclasses.dataclass
class Run:
  run_id: str
  configuration: Optional[dict[str, Any]]
  metrics: dict[str, float] = dataclasses.field(default_factory=dict)


def config(steps, user_code=None, parameters=None):
  return {'parameters': parameters or {}, 'source': {'kind': 'csv'},
          'steps': steps, 'settings': {}, 'user_code': user_code or {},
          'versions': {}}


def test_an_added_step_is_named_once():
  a = Run('a', config({'generate_statistics': {'exclude_splits': None}}))
  b = Run('b', config(
      {'generate_statistics': {'exclude_splits': None},
       'preprocess': {'preprocessing_fn': {'user_code': 'f00d'},
                      'splits_config': None}},
      user_code={'f00d': {'given_as': 'module_file',
                          'files': {'m.py': MODULE}}}))
  changes = diff.compare(a, b)
  assert changes.added_steps == ['preprocess']
  assert changes.removed_steps == []
  assert changes.arguments == {} and changes.user_code == []
  text = str(changes)
  assert '    added: preprocess' in text
  assert 'def preprocessing_fn' not in text  # no module-long diff
  assert 'splits_config' not in text
  back = diff.compare(b, a)
  assert back.removed_steps == ['preprocess'] and back.added_steps == []
  assert '    removed: preprocess' in str(back)


def test_a_changed_step_still_shows_its_arguments_and_code():
  code = {'c1': {'given_as': 'module_file', 'files': {'m.py': 'x = 1\n'}},
          'c2': {'given_as': 'module_file', 'files': {'m.py': 'x = 2\n'}}}
  a = Run('a', config({'train': {'run_fn': {'user_code': 'c1'},
                                 'train_args': 10}}, user_code=code))
  b = Run('b', config({'train': {'run_fn': {'user_code': 'c2'},
                                 'train_args': 20}}, user_code=code))
  changes = diff.compare(a, b)
  assert changes.added_steps == [] and changes.removed_steps == []
  assert changes.arguments == {'train.train_args': (10, 20)}
  assert [c.where for c in changes.user_code] == ['train.run_fn']
  assert '+x = 2' in str(changes)


def test_a_reused_step_is_compared_as_the_run_that_made_it():
  """A partial run recorded the edited module for a step it reused: diff
  compares the code of the run that made the outputs, and says so."""
  from fluent_pipeline.recorded import results
  code = {'c1': {'given_as': 'module_file', 'files': {'m.py': 'x = 1\n'}},
          'c2': {'given_as': 'module_file', 'files': {'m.py': 'x = 2\n'}}}
  made = results.RunResult('p', 'a', '/root', [], configuration=config(
      {'preprocess': {'preprocessing_fn': {'user_code': 'c1'}}},
      user_code={'c1': code['c1']}))
  given = config({'preprocess': {'preprocessing_fn': {'user_code': 'c2'}}},
                 user_code={'c2': code['c2']})
  given['partial_run'] = {'only': ['train'], 'resume': False,
                          'base_run': 'a', 'ran': ['Trainer'], 'reused': {}}
  partial = results.RunResult('p', 'b', '/root', [results.ComponentRun(
      'Transform', 'REUSED', 0.0, {}, 7, made_by_run='a',
      made_by_execution=5)], configuration=given)
  partial.origins['preprocess'] = results.Origin(
      'Transform', 'REUSED', 'a', 5,
      arguments={'preprocessing_fn': {'user_code': 'c1'}},
      user_code={'c1': code['c1']})
  effective = partial.effective_configuration
  assert effective['steps']['preprocess']['preprocessing_fn'] == {
      'user_code': 'c1'}
  assert set(effective['user_code']) == {'c1'}  # c2 made nothing here
  assert effective['made_by'] == {
      'preprocess': 'reused from run a (execution 5)'}
  assert partial.configuration['user_code'].keys() == {'c2'}  # as given
  changes = diff.compare(made, partial)
  assert changes.user_code == [] and not changes
  text = str(changes)
  assert 'note: run b was a partial run (only=train, base run a)' in text
  assert 'note: preprocess: in run b reused from run a (execution 5)' in text
  # Without the record, the same chain's edit reads as a change.
  assert [c.where for c in diff.compare(
      made, Run('b', given)).user_code] == ['preprocess.preprocessing_fn']


# ------------------------------------------------ a predicate's source
def _recorded(tmp_path, csv_dir, step):
  """The configuration a chain with one dataset step records (the JSON its
  PipelineConfigurationGen is given, as a run writes it)."""
  import json

  from fluent_pipeline import PipelineDef
  built = step(PipelineDef('p', root=str(tmp_path)).from_csv(csv_dir)).build()
  gen = next(c for c in built.components
             if c.id == 'PipelineConfigurationGen')
  return json.loads(gen.exec_properties['configuration_json'])


def _no_source_predicate():
  """A predicate defined where Python keeps no source (exec): pickled."""
  namespace = {}
  exec('def keep_exec(features):\n  return True\n', namespace)
  return namespace['keep_exec']


def test_diff_of_a_predicate_shows_its_source(tmp_path, taxi_csv_dir):
  """A changed predicate or key function is shown as its source, whatever
  each run was given: a function, a dotted path (its definition in the
  recorded module), or a function Python kept no source of (said, beside
  the other side's source)."""
  import dataset_fns

  def run(run_id, step):
    return Run(run_id, _recorded(tmp_path / run_id, taxi_csv_dir, step))

  cash = run('cash', lambda c: c.filter_examples(dataset_fns.keep_cash))
  long_trips = run('long', lambda c: c.filter_examples(
      dataset_fns.keep_long_trips))
  by_path = run('path', lambda c: c.filter_examples(
      'dataset_fns.keep_long_trips'))
  no_source = run('exec', lambda c: c.filter_examples(
      _no_source_predicate()))
  for a, b in ((cash, long_trips), (cash, by_path)):
    changes = diff.compare(a, b)
    assert [c.where for c in changes.user_code] == [
        'filter_examples.predicate']
    text = changes.user_code[0].diff
    assert "-def keep_cash(features):" in text, text
    assert "+def keep_long_trips(features):" in text, text
    assert "+  return (features.get('trip_miles') or [0.0])[0] >= 2.0" in (
        text)
    assert 'no source to compare' not in str(changes)
  assert diff.compare(cash, by_path).user_code[0].diff.splitlines()[:2] == [
      '--- a/keep_cash', '+++ b/dataset_fns.py:keep_long_trips']
  text = diff.compare(no_source, cash).user_code[0].diff
  assert text.startswith('(run a: no source recorded: keep_exec: pickled '
                         'with cloudpickle'), text
  assert "+  return features.get('payment_type') == ['Cash']" in text
  # A stratification key function, the same way.
  by_kind = run('key1', lambda c: c.stratified_sample(
      dataset_fns.payment_kind, samples_per_key=5))
  one = run('key2', lambda c: c.stratified_sample(
      dataset_fns.one_kind, samples_per_key=5))
  changes = diff.compare(by_kind, one)
  assert [c.where for c in changes.user_code] == ['stratified_sample.key']
  assert '+def one_kind(features):' in changes.user_code[0].diff
