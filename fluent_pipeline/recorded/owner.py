"""The process that runs a run, recorded beside its log: a run whose process
died reads as ABANDONED, known, never guessed from the run's age.

The runner writes `run-<id>.owner.json` in the run's log folder (the pid,
the host, and the process's start time, so a reused pid is not taken for
it) when the run starts, and removes it when the run ends, however it ends:
an error, SIGTERM or Ctrl-C included. A file left behind names a process
that was killed (SIGKILL, a lost machine) or is still running. On this host
which of the two is known; on another host it is not, and the run keeps the
states ML Metadata holds.
"""

import json
import os
import socket
import tempfile
from typing import Optional

from fluent_pipeline import _paths

ABANDONED = 'ABANDONED'
# The message recorded on an execution closed because its run's process
# died (the execution result TFX reads and `show` prints) starts so.
ABANDONED_PREFIX = 'abandoned: '


def logs_folder(pipeline_root: str, pipeline_name: str) -> str:
  """<pipeline root>/logs; for a remote root, a local folder (the log is
  written while the run goes, line by line)."""
  if _paths.is_uri(pipeline_root):
    return os.path.join(tempfile.gettempdir(), 'fluent_pipeline_logs',
                        pipeline_name)
  return os.path.join(pipeline_root, 'logs')


def _path(folder: str, run_id: str) -> str:
  return os.path.join(folder, f'run-{run_id}.owner.json')


def _started(pid: int) -> Optional[float]:
  import psutil
  try:
    process = psutil.Process(pid)
    if process.status() == psutil.STATUS_ZOMBIE:
      return None  # ended; its parent has not reaped it yet
    return process.create_time()
  except psutil.NoSuchProcess:
    return None


def claim(folder: str, run_id: str) -> str:
  """Records this process as the one running `run_id`; returns the file."""
  os.makedirs(folder, exist_ok=True)
  path = _path(folder, run_id)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump({'run_id': run_id, 'pid': os.getpid(),
               'host': socket.gethostname(),
               'started': _started(os.getpid())}, f)
  return path


def release(path: str) -> None:
  """The run ended (however): nothing is left running."""
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


def abandoned(folder: str, run_id: str) -> Optional[str]:
  """Why run `run_id` is abandoned: its recorded process on this host has
  ended without ending the run; None when it runs, when the run ended, or
  when it cannot be known (another host, no record)."""
  try:
    with open(_path(folder, run_id), encoding='utf-8') as f:
      owner = json.load(f)
  except FileNotFoundError:
    return None
  except ValueError:  # a half-written record: the writer died at once
    return (f'{ABANDONED_PREFIX}the process that ran it died before it '
            'recorded itself')
  if owner.get('host') != socket.gethostname():
    return None  # another machine's process: not knowable here
  started = _started(int(owner['pid']))
  recorded = owner.get('started')
  if started is not None and (recorded is None or
                              abs(started - recorded) < 1.0):
    return None  # that very process still runs
  return (f'{ABANDONED_PREFIX}its process ({owner["pid"]} on '
          f'{owner["host"]}) ended without finishing the run')


def forget(folder: str, run_id: str) -> None:
  """Drops the record of an abandoned run once its executions are closed."""
  release(_path(folder, run_id))
