"""A run recorded by fluent_pipeline before its modules moved into layers
(commit 25438bb, tests/data/recorded_before_layers/make_old_run.py) still
reads back: runs, show, report and from_run, its generated user-code module
included."""

import json
import os
import shutil
import sqlite3

import pytest

from fluent_pipeline import PipelineDef, PipelineDefinitionError, read_run, runs
from fluent_pipeline.cli import main

RECORDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data',
                        'recorded_before_layers')
RECORDED_AT = '/tmp/fluent_pipeline_recorded'  # where it was made


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
  return _relocated(str(tmp_path_factory.mktemp('recorded')))


def _relocated(where: str) -> str:
  """The recorded tree, moved to `where`: its paths (artifact URIs, exec
  properties, the configuration) are rewritten to the new place, as moving
  a pipeline root would. Returns the pipeline's directory."""
  shutil.copytree(RECORDED, where, dirs_exist_ok=True)
  store = os.path.join(where, 'runs', 'recorded', 'metadata.sqlite')
  with sqlite3.connect(store) as db:
    db.execute('UPDATE Artifact SET uri = REPLACE(uri, ?, ?)',
               (RECORDED_AT, where))
    db.execute('UPDATE ExecutionProperty SET string_value = '
               'REPLACE(string_value, ?, ?) WHERE string_value IS NOT NULL',
               (RECORDED_AT, where))
  for folder, _, files in os.walk(where):
    for name in files:
      if name == 'configuration.json':
        path = os.path.join(folder, name)
        with open(path, encoding='utf-8') as f:
          text = f.read()
        with open(path, 'w', encoding='utf-8') as f:
          f.write(text.replace(RECORDED_AT, where))
  return os.path.join(where, 'runs', 'recorded')


def test_runs_lists_the_recorded_run(recorded):
  listed = runs(recorded)
  assert len(listed) == 1
  run = listed[0]
  assert run.run_id == '20261202-063430.441481'
  assert [c.node_id for c in run.components] == [
      'CsvExampleGen', 'PipelineConfigurationGen', 'FilterExamples',
      'StatisticsGen', 'SchemaGen']
  assert {c.state for c in run.components} == {'COMPLETE'}
  assert run.configuration['parameters'] == {'rows': 60}


def test_read_run_and_show_give_its_configuration_and_counts(recorded,
                                                             capsys):
  run = read_run(recorded, 'latest')
  steps = run.configuration['steps']
  assert list(steps) == ['filter_examples', 'generate_statistics',
                         'infer_schema']
  sha = steps['filter_examples']['predicate']['user_code']
  code = run.configuration['user_code'][sha]
  assert code['location'] == 'keep_cash'
  assert 'def keep_cash(features):' in code['files']['predicate_fn_module.py']
  assert main(['show', 'latest', '--root', recorded]) == 0
  out = capsys.readouterr().out
  assert '20261202-063430.441481' in out
  assert 'FilterExamples: eval 21 -> 18, train 39 -> 34' in out
  assert 'keep_cash' in out


def test_report_of_the_recorded_run(recorded, tmp_path):
  path = read_run(recorded, 'latest').report(str(tmp_path / 'report.html'))
  with open(path, encoding='utf-8') as f:
    html = f.read()
  assert '20261202-063430.441481' in html
  for feature in ('payment_type', 'trip_miles', 'fare'):
    assert feature in html  # statistics and schema read from the artifacts


def test_from_run_rebuilds_the_chain_with_its_user_code(recorded):
  rebuilt = PipelineDef.from_run('latest', recorded)
  assert isinstance(rebuilt, PipelineDef)
  assert rebuilt.steps == ['from_source', 'filter_examples',
                           'generate_statistics', 'infer_schema']
  assert rebuilt._plan.parameters == {'rows': 60}
  run = read_run(recorded, 'latest')
  assert [c.id for c in rebuilt.build().components] == [
      c.node_id for c in run.components]
  recorded_config = run.configuration
  config = json.loads(next(
      c for c in rebuilt.build().components
      if c.id == 'PipelineConfigurationGen').exec_properties[
          'configuration_json'])
  # the same chain, arguments and user code as recorded
  assert config['steps'] == recorded_config['steps']
  assert config['user_code'].keys() == recorded_config['user_code'].keys()
  assert config['source'] == recorded_config['source']


def test_an_unreadable_configuration_is_named_not_fatal(tmp_path):
  """One run whose configuration file is damaged still lists, says why it
  has no configuration, and from_run refuses it naming the reason."""
  root = _relocated(str(tmp_path))
  path = os.path.join(root, 'PipelineConfigurationGen', 'configuration', '2',
                      'configuration.json')
  with open(path, 'w', encoding='utf-8') as f:
    f.write('{"format": 1, "pipeline": ')  # cut short
  with pytest.warns(UserWarning, match='configuration'):
    [run] = runs(root)
  assert run.configuration is None
  assert run.unreadable['configuration'].startswith('JSONDecodeError: ')
  assert '  configuration: unavailable: JSONDecodeError: ' in str(run)
  with pytest.raises(PipelineDefinitionError,
                     match='the configuration of run 20261202-063430.441481 '
                     'cannot be read: JSONDecodeError'):
    PipelineDef.from_run('latest', root)
