"""`fluent-pipeline run` in a subprocess, on a pipeline file whose run_fn
trains until it is stopped: the run test_interrupt signals and test_gc
kills while its Trainer is running."""

import contextlib
import os
import subprocess
import sys
import time

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
  return (PipelineDef({name!r}, root=root).from_csv(data)
          .train(run_fn, train_args=1, eval_args=1))
'''


@contextlib.contextmanager
def training(tmp_path, data: str, name: str):
  """Runs pipeline `name` on `data` under `tmp_path / 'runs'` and yields
  (the process, that root, the file of its output) once its run_fn trains;
  a process the block leaves running is killed."""
  started = tmp_path / 'started'
  file = tmp_path / f'{name}_pipeline.py'
  file.write_text(PIPELINE_FILE.format(started=str(started), name=name))
  root = tmp_path / 'runs'
  output = tmp_path / 'out.txt'
  with open(output, 'w') as out:
    proc = subprocess.Popen(
        [CLI, 'run', str(file), '--set', f'data={data}',
         '--set', f'root={root}'],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 600  # a timeout, not a measurement
    while not started.exists():
      assert proc.poll() is None, output.read_text()[-3000:]
      assert time.monotonic() < deadline, output.read_text()[-3000:]
      time.sleep(0.1)
    yield proc, root, output
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
