"""The command line: show and run a pipeline defined in a file."""

import os
import subprocess
import sys

from fluent_pipeline import cli
from conftest import TAXI_DIR


def test_show_prints_every_component_and_its_wiring(capsys):
  assert cli.main(['show', os.path.join(TAXI_DIR, 'pipeline.py')]) == 0
  out = capsys.readouterr().out
  assert ('Trainer: Trainer (examples<-Transform.transformed_examples, '
          'transform_graph<-Transform.transform_graph, '
          'schema<-SchemaGen.schema, '
          'hyperparameters<-Tuner.best_hyperparameters)') in out
  assert 'Pusher: Pusher (model<-Trainer.model, ' \
      'model_blessing<-Evaluator.blessing, ' \
      'infra_blessing<-LocalInfraValidator.blessing)' in out
  assert 'model<-MLMD query (Model)' in out
  assert len(out.strip().splitlines()) == 13


def test_file_without_a_pipeline_is_a_clear_error(tmp_path):
  empty = tmp_path / 'nothing.py'
  empty.write_text('x = 1\n')
  try:
    cli.main(['show', str(empty)])
  except SystemExit as e:
    assert 'defines 0 PipelineDefs' in str(e) and '--name' in str(e)
  else:
    raise AssertionError('expected SystemExit')


def test_help_answers_without_importing_tfx():
  out = subprocess.run(
      [sys.executable, '-c', 'import sys; from fluent_pipeline import cli\n'
       'try:\n  cli.main(["--help"])\nexcept SystemExit:\n  pass\n'
       'print("tfx" in sys.modules, "tensorflow" in sys.modules)'],
      capture_output=True, text=True, check=True).stdout
  assert 'usage: fluent-pipeline' in out
  assert out.strip().endswith('False False')
