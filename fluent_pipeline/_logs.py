"""Quiet runs: one line per component instead of TFX/Beam/absl chatter.

TFX logs through absl at INFO, Beam and TF through Python logging; a run of
the taxi pipeline prints thousands of lines. During a quiet run the absl
handler and the noisy loggers only pass errors, and the runner's own
"Component X is running/finished" records become a short progress line each.
"""

import contextlib
import logging
import sys
import time
from typing import Dict, Iterator, TextIO

_NOISY_LOGGERS = ('apache_beam', 'tensorflow', 'tfx', 'tensorflow_transform',
                  'tensorflow_data_validation', 'tensorflow_model_analysis')


class _ProgressHandler(logging.Handler):
  """Turns the DagRunners' component start/finish records into lines."""

  def __init__(self, stream: TextIO):
    super().__init__(level=logging.INFO)
    self.stream = stream
    self.started: Dict[str, float] = {}

  def emit(self, record: logging.LogRecord) -> None:
    if not isinstance(record.msg, str) or not record.msg.startswith(
        'Component %s is '):
      return
    node_id = str(record.args[0]) if record.args else '?'
    if record.msg.endswith('running.'):
      self.started[node_id] = time.monotonic()
      self.stream.write(f'  ... {node_id}\n')
    elif record.msg.endswith('finished.'):
      seconds = time.monotonic() - self.started.pop(node_id, time.monotonic())
      self.stream.write(f'  ok  {node_id} ({seconds:.1f} s)\n')
    self.stream.flush()


@contextlib.contextmanager
def quiet_run(verbose: bool = False, stream: TextIO = None) -> Iterator[None]:
  """Silences library logs for the duration of a run, unless verbose."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  stream = stream or sys.stdout
  absl_logger = logging.getLogger('absl')
  progress = _ProgressHandler(stream)
  saved_levels = {}
  absl_handler = absl_logging.get_absl_handler()
  saved_handler_level = absl_handler.level
  saved_absl_level = absl_logger.level
  if not verbose:
    absl_handler.setLevel(logging.ERROR)
    for name in _NOISY_LOGGERS:
      logger = logging.getLogger(name)
      saved_levels[name] = logger.level
      logger.setLevel(logging.ERROR)
    # The progress records are INFO records of the absl logger.
    absl_logger.setLevel(logging.INFO)
    absl_logger.addHandler(progress)
  try:
    yield
  finally:
    if not verbose:
      absl_logger.removeHandler(progress)
      absl_logger.setLevel(saved_absl_level)
      absl_handler.setLevel(saved_handler_level)
      for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)
