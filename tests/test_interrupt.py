"""Runs end: a run stopped by SIGTERM says what it stopped and how to go
on, and its unfinished executions are closed in ML Metadata (CANCELED, with
why), so no run stays 'running' forever. (A SIGKILLed run, which can say
nothing, is test_reliability's killed-trainer test: ABANDONED.)"""

import os
import signal

import pytest
import training_run

from fluent_pipeline import read_run

pytestmark = pytest.mark.e2e


def test_sigterm_says_what_it_stopped_and_closes_the_run(tmp_path,
                                                         taxi_csv_dir):
  with training_run.training(tmp_path, taxi_csv_dir, 'stopped') as (proc, root, output):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
  text = output.read_text()
  assert proc.returncode == 143, text[-3000:]  # 128 + SIGTERM
  lines = [ln for ln in text.splitlines() if ln.startswith('interrupted: ')]
  assert len(lines) == 1, text[-3000:]
  assert lines[0].startswith('interrupted: Trainer of run ')
  assert '--resume' in lines[0] and 'run(resume=True)' in lines[0]

  run = read_run(str(root / 'stopped'))
  assert run.states['Trainer'] == 'CANCELED', run.states
  assert run.component('Trainer').error == (
      'interrupted (SIGTERM) during Trainer')
  assert 'RUNNING' not in run.states.values()
  # the run ended: no owner record is left to read as running or abandoned
  assert not [n for n in os.listdir(root / 'stopped' / 'logs')
              if n.endswith('.owner.json')]
