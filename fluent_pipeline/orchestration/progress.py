"""Progress of a run: one line per component, from the DagRunners' logs.

LocalDagRunner and BeamDagRunner log "Component X is running/finished"; a
quiet run (logs) shows each as a short line on the terminal, and in a
notebook (notebook_logs) as one display output updated in place.
"""

import logging
import time
from typing import Optional, TextIO


class ProgressHandler(logging.Handler):
  """Turns the DagRunners' component start/finish records into lines."""

  def __init__(self, stream: Optional[TextIO]):
    super().__init__(level=logging.INFO)
    self.stream = stream
    self.started: dict[str, float] = {}
    self.running: Optional[str] = None

  def emit(self, record: logging.LogRecord) -> None:
    # LocalDagRunner says 'Component %s is ...', BeamDagRunner 'node %s is'.
    if not isinstance(record.msg, str) or not record.msg.startswith(
        ('Component %s is ', 'node %s is ')):
      return
    node_id = str(record.args[0]) if record.args else '?'
    if record.msg.endswith('running.'):
      self.started[node_id] = time.monotonic()
      self.running = node_id
      self._line(node_id, f'  ... {node_id}')
    elif record.msg.endswith('finished.'):
      seconds = time.monotonic() - self.started.pop(node_id, time.monotonic())
      self.running = None
      self._line(node_id, f'  ok  {node_id} ({seconds:.1f} s)')

  def failed(self) -> None:
    """Marks the running component, if any, as failed."""
    if self.running:  # else nothing ran: the error says it all
      self._line(self.running, f'  FAILED {self.running}')

  def _line(self, node_id: str, line: str) -> None:
    del node_id  # a terminal only appends
    if self.stream is not None:
      self.stream.write(line + '\n')
      self.stream.flush()
