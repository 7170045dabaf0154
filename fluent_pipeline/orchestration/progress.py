"""Progress of a run: one line per component, from the DagRunners' logs.

LocalDagRunner and BeamDagRunner log "Component X is running/finished"; a
quiet run (logs) shows each as a short line on the terminal, and in a
notebook (notebook_logs) as one display output updated in place. A
component TFX's cache served (its launcher logs "A cached execution N is
used." in between) says `cached`, as the run's summary says CACHED.
"""

import logging
import time
from typing import Optional, TextIO

# TFX's launcher (portable/launcher.py), when the cache serves a component.
_CACHED = 'A cached execution %d is used.'


class ProgressHandler(logging.Handler):
  """Turns the DagRunners' component start/finish records into lines."""

  def __init__(self, stream: Optional[TextIO]):
    super().__init__(level=logging.INFO)
    self.stream = stream
    self.started: dict[str, float] = {}
    self.running: Optional[str] = None
    self.cached: set[str] = set()
    # The component each thread runs: the launcher's cache record does not
    # name it (BeamDagRunner may run components side by side).
    self._by_thread: dict[Optional[int], str] = {}

  def emit(self, record: logging.LogRecord) -> None:
    if record.msg == _CACHED:
      node_id = self._by_thread.get(record.thread, self.running)
      if node_id:
        self.cached.add(node_id)
      return
    # LocalDagRunner says 'Component %s is ...', BeamDagRunner 'node %s is'.
    if not isinstance(record.msg, str) or not record.msg.startswith(
        ('Component %s is ', 'node %s is ')):
      return
    node_id = str(record.args[0]) if record.args else '?'
    if record.msg.endswith('running.'):
      self.started[node_id] = time.monotonic()
      self.running = node_id
      self._by_thread[record.thread] = node_id
      self.cached.discard(node_id)
      self._line(node_id, f'  ... {node_id}')
    elif record.msg.endswith('finished.'):
      seconds = time.monotonic() - self.started.pop(node_id, time.monotonic())
      self.running = None
      self._by_thread.pop(record.thread, None)
      how = 'cached' if node_id in self.cached else f'{seconds:.1f} s'
      self._line(node_id, f'  ok  {node_id} ({how})')

  def failed(self) -> None:
    """Marks the running component, if any, as failed."""
    if self.running:  # else nothing ran: the error says it all
      self._line(self.running, f'  FAILED {self.running}')

  def _line(self, node_id: str, line: str) -> None:
    del node_id  # a terminal only appends
    if self.stream is not None:
      self.stream.write(line + '\n')
      self.stream.flush()
