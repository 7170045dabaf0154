"""Resume is the same run, continued: `fluent-pipeline run FILE --resume`
restores the parameters the resumed run used, and a value given now that
differs (CLI or Python) is refused before anything runs, unless overridden.

One small pipeline file (a parameter that reaches train_args), failed on
purpose in run_fn while a marker file exists, then resumed.
"""

import os
import re

import pytest

from fluent_pipeline import PipelineDefinitionError, cli, read_run
from fluent_pipeline.project import pipeline_file

pytestmark = pytest.mark.e2e

PIPELINE_FILE = '''
import os

from fluent_pipeline import PipelineDef

MARKER = {marker!r}


def run_fn(fn_args):
  """Fails while MARKER exists; else writes the steps it was given."""
  if os.path.exists(MARKER):
    raise RuntimeError('planned failure in run_fn')
  os.makedirs(fn_args.serving_model_dir, exist_ok=True)
  with open(os.path.join(fn_args.serving_model_dir, 'steps.txt'), 'w') as f:
    f.write(str(fn_args.train_steps))


def create_pipeline(data: str, root: str, epochs: int = 2):
  return (PipelineDef('resumed', root=root).from_csv(data)
          .train(run_fn, train_args=epochs, eval_args=1))
'''


def test_resume_restores_the_parameters_of_the_run_it_continues(
    tmp_path, taxi_csv_dir, capsys):
  marker = tmp_path / 'fail_now'
  file = tmp_path / 'resume_pipeline.py'
  file.write_text(PIPELINE_FILE.format(marker=str(marker)))
  root = tmp_path / 'runs'
  base = ['run', str(file), '--set', f'data={taxi_csv_dir}',
          '--set', f'root={root}']
  marker.write_text('')
  assert cli.main(base + ['--set', 'epochs=7']) == 1
  failed = capsys.readouterr().err
  assert 'planned failure in run_fn' in failed, failed
  failed_id = re.search(r'run (\S+); resume it', failed).group(1)
  marker.unlink()

  # Another value now is refused before anything runs, naming it.
  assert cli.main(base + ['--resume', '--set', 'epochs=3']) == 2
  refused = capsys.readouterr().err
  assert 'epochs: the run being resumed used 7, you gave 3' in refused
  assert '--override' in refused
  # From Python, the chain itself is compared with the run's configuration.
  loaded = pipeline_file.load(str(file))
  chain = loaded.factory(data=taxi_csv_dir, root=str(root), epochs=3)
  with pytest.raises(PipelineDefinitionError) as differs:
    chain.run(resume=True)
  assert 'train.train_args: the run being resumed used 7, this chain has 3' \
      in str(differs.value)
  assert 'override=True' in str(differs.value)
  assert read_run(str(root / 'resumed')).run_id == failed_id  # none ran

  # --resume alone continues that run with epochs=7 (the same value given
  # again is fine).
  assert cli.main(base + ['--resume', '--set', 'epochs=7']) == 0
  out = capsys.readouterr()
  assert f'resuming run {failed_id} with the parameters it used' in out.err
  assert 'epochs=7' in out.err
  resumed = read_run(str(root / 'resumed'),
                     re.search(r"run (\S+)$", out.out, re.M).group(1))
  assert resumed.run_id != failed_id
  assert resumed.states['Trainer'] == 'COMPLETE', resumed.states
  # Taken from the failed run, which made it: REUSED, and recorded so.
  assert resumed.states['CsvExampleGen'] == 'REUSED', resumed.states
  assert resumed.component('CsvExampleGen').made_by_run == failed_id
  record = resumed.configuration['partial_run']
  assert record['resume'] is True and record['base_run'] == failed_id
  assert record['reused']['CsvExampleGen']['run_id'] == failed_id
  assert 'Trainer' in record['ran'] and 'Trainer' not in record['reused']
  assert resumed.parameters['epochs'] == 7
  assert resumed.configuration['steps']['train']['train_args'] == 7
  from ml_metadata import metadata_store

  from fluent_pipeline.dsl import wiring
  store = metadata_store.MetadataStore(wiring.sqlite_config(
      str(root / 'resumed' / 'metadata.sqlite')))
  [trainer] = store.get_executions_by_id(
      [resumed.component('Trainer').execution_id])
  train_args = trainer.custom_properties['train_args'].string_value
  assert re.search(r'"?num_steps"?: ?7\b', train_args), train_args
  model = resumed.component('Trainer').outputs['model'][0]
  with open(os.path.join(model, 'Format-Serving', 'steps.txt')) as f:
    assert f.read() == '7'
