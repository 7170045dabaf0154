"""Quiet runs: one line per component on the terminal, everything in a file.

A run of the taxi pipeline prints thousands of lines: absl INFO from TFX,
Beam and TF warnings, TF's C++ log, pip and setup.py output of TFX's user
code packaging, Keras progress. During a quiet run the process's stdout and
stderr file descriptors point at a log file (so subprocesses and C++ code
are caught too) and the DagRunners' "Component X is running/finished"
records become a short progress line each on the real terminal.

In a Jupyter notebook, notebook_logs adds what a kernel needs; the progress
lines are progress.ProgressHandler's.
"""

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from fluent_pipeline.orchestration import notebook_logs
from fluent_pipeline.orchestration.progress import ProgressHandler


class _Redact(logging.Filter):
  """Masks secret values (the MLMD password, ...) in every log record; TFX
  logs the metadata connection config, password included, at every run."""

  def __init__(self, secrets: Iterable[str]):
    super().__init__()
    self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

  def filter(self, record: logging.LogRecord) -> bool:
    if self.secrets:
      text = record.getMessage()
      masked = text
      for secret in self.secrets:
        masked = masked.replace(secret, '***')
      if masked != text:
        record.msg, record.args = masked, ()
    return True


@contextlib.contextmanager
def quiet_run(log_path: Optional[str], verbose: bool = False,
              secrets: Iterable[str] = ()) -> Iterator['ProgressHandler']:
  """Sends all output of the run to `log_path`, unless verbose, with
  `secrets` masked in TFX's log records.

  Yields the progress tracker; its `running` names the component that was
  running when the block raised.
  """
  absl_logger = logging.getLogger('absl')
  redact = _Redact(secrets)
  absl_logger.addFilter(redact)
  shell = notebook_logs.ipython_shell()
  try:
    with notebook_logs.no_beam_notebook_display(shell), \
        _quiet_run(log_path, verbose, absl_logger,
                   notebook_logs.notebook_shell(shell)) as progress:
      yield progress
  finally:
    absl_logger.removeFilter(redact)


@contextlib.contextmanager
def _quiet_run(log_path: Optional[str], verbose: bool, absl_logger,
               notebook: Any = None) -> Iterator['ProgressHandler']:
  from absl import logging as absl_logging
  # Through absl's verbosity flag, not Logger.setLevel: TensorFlow's SavedModel
  # export saves and restores that flag, which would undo a bare setLevel.
  saved_verbosity = absl_logging.get_verbosity()
  quiet = bool(log_path) and not verbose
  if not quiet:
    progress = ProgressHandler(None)
    absl_logger.addHandler(progress)
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
      yield progress
    finally:
      absl_logger.removeHandler(progress)
      absl_logging.set_verbosity(saved_verbosity)
    return
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  sys.stdout.flush()
  sys.stderr.flush()
  saved_fds = {fd: os.dup(fd) for fd in (1, 2)}
  if notebook is not None:
    # fd 1 is the kernel's capture pipe: the progress is a display instead.
    console = None
    progress = notebook_logs.NotebookProgress()
  else:
    console = os.fdopen(os.dup(saved_fds[1]), 'w', buffering=1)
    progress = ProgressHandler(console)
  with open(log_path, 'ab', buffering=0) as log:
    for fd in (1, 2):
      os.dup2(log.fileno(), fd)
    # TFX logs through absl. Its records go to the file directly, not through
    # whatever handlers the root logger has (a test runner may capture them).
    to_file = logging.StreamHandler(
        os.fdopen(os.dup(log.fileno()), 'w', buffering=1))
    to_file.setFormatter(logging.Formatter('%(levelname)s:%(name)s:%(message)s'))
    saved_propagate = absl_logger.propagate
    absl_logger.propagate = False
    absl_logger.addHandler(to_file)
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.addHandler(progress)
    try:
      with (notebook_logs.kernel_output_to(log.fileno(), notebook,
                                              progress)
            if notebook is not None else contextlib.nullcontext()):
        yield progress
    except BaseException:
      log.write(traceback.format_exc().encode('utf-8', 'replace'))
      progress.failed()
      raise
    finally:
      absl_logger.removeHandler(progress)
      absl_logger.removeHandler(to_file)
      absl_logger.propagate = saved_propagate
      to_file.stream.close()
      absl_logging.set_verbosity(saved_verbosity)
      sys.stdout.flush()
      sys.stderr.flush()
      for fd, saved in saved_fds.items():
        os.dup2(saved, fd)
        os.close(saved)
      if console is not None:
        console.close()
