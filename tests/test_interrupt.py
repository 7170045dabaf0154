"""Runs end: a run stopped by SIGTERM says what it stopped and how to go
on, and its unfinished executions are closed in ML Metadata (CANCELED, with
why), so no run stays 'running' forever. (A SIGKILLed run, which can say
nothing, is test_reliability's killed-trainer test: ABANDONED.)"""

import os
import signal
import subprocess
import sys
import time

import pytest

from fluent_pipeline import read_run

pytestmark = pytest.mark.e2e

CLI = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')

PIPELINE_FILE = '''
import os
import time

from fluent_pipeline import PipelineDef

STARTED = {started!r}


def run_fn(fn_args):
  """Says it started, then trains for as long as it is let."""
  with open(STARTED, 'w') as f:
    f.write(str(os.getpid()))
  deadline = time.monotonic() + 600
  while time.monotonic() < deadline:
    time.sleep(0.1)


def create_pipeline(data: str, root: str):
  return (PipelineDef('stopped', root=root).from_csv(data)
          .train(run_fn, train_args=1, eval_args=1))
'''


def test_sigterm_says_what_it_stopped_and_closes_the_run(tmp_path,
                                                         taxi_csv_dir):
  started = tmp_path / 'started'
  file = tmp_path / 'stopped_pipeline.py'
  file.write_text(PIPELINE_FILE.format(started=str(started)))
  root = tmp_path / 'runs'
  output = tmp_path / 'out.txt'
  with open(output, 'w') as out:
    proc = subprocess.Popen(
        [CLI, 'run', str(file), '--set', f'data={taxi_csv_dir}',
         '--set', f'root={root}'],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 600  # a timeout, not a measurement
    while not started.exists():
      assert proc.poll() is None, output.read_text()[-3000:]
      assert time.monotonic() < deadline, output.read_text()[-3000:]
      time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
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
