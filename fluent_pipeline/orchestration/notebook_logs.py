"""Quiet runs in a Jupyter notebook (an ipykernel): what logs adds there.

File descriptors are not enough in a kernel: its sys.stdout / sys.stderr are
ipykernel OutStreams that send to the notebook directly, and logging handlers
created in the kernel (the root logger's, TensorFlow's) hold such an
OutStream, so TF's INFO lines showed twice. A quiet run there also points
those at the log file, keeps other display outputs out of the cell, and
shows the progress as one display output updated in place. Apache Beam's
Interactive Beam (which loads jQuery from a CDN) is kept from starting.
"""

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from fluent_pipeline.orchestration.progress import ProgressHandler


class NotebookProgress(ProgressHandler):
  """The same lines as one notebook display output, updated in place: a
  component's 'ok' line replaces its '...' line. Plain text only, so the
  output loads nothing."""

  def __init__(self):
    super().__init__(None)
    from IPython.display import DisplayHandle
    self.display_handle = DisplayHandle()
    self.lines: dict[str, str] = {}

  def _line(self, node_id: str, line: str) -> None:
    first = not self.lines
    self.lines[node_id] = line  # an existing key keeps its place
    bundle = {'text/plain': '\n'.join(self.lines.values())}
    if first:  # created on the first component: no empty output otherwise
      self.display_handle.display(bundle, raw=True)
    else:
      self.display_handle.update(bundle, raw=True)


def ipython_shell() -> Any:
  """The running IPython shell, or None. Never imports IPython itself."""
  ipython = sys.modules.get('IPython')
  get_ipython = getattr(ipython, 'get_ipython', None)
  try:
    return get_ipython() if get_ipython else None
  except Exception:
    return None


def notebook_shell(shell: Any) -> Any:
  """`shell` if it is an ipykernel shell (a notebook, Jupyter console), else
  None: a terminal IPython writes to the process's fds like a script."""
  zmqshell = sys.modules.get('ipykernel.zmqshell')
  if shell is not None and zmqshell is not None and isinstance(
      shell, zmqshell.ZMQInteractiveShell):
    return shell
  return None


@contextlib.contextmanager
def no_beam_notebook_display(shell: Any) -> Iterator[None]:
  """Keeps Apache Beam from setting up Interactive Beam during the run.

  Under IPython, Beam's Pipeline.apply calls
  apache_beam.utils.interactive_utils.alter_label_if_ipython on every
  top-level transform; its first call creates Interactive Beam's environment
  (apache_beam.runners.interactive.interactive_environment), which in a
  notebook displays a Javascript output that loads jQuery and DataTables from
  code.jquery.com / cdn.datatables.net, installs an IPythonLogHandler that
  renders its logs as HTML linking a bootstrap CDN stylesheet, and logs a
  'pip install apache-beam[interactive]' warning. Beam 2.x has no option or
  environment flag to turn this off, so for the run its name in
  apache_beam.pipeline is a no-op (TFX's pipelines are not Interactive Beam's
  anyway, and their transform labels stay those of a terminal run).
  """
  beam_pipeline = None
  if shell is not None:
    try:
      import apache_beam.pipeline as beam_pipeline
    except ImportError:
      beam_pipeline = None
  saved = getattr(beam_pipeline, 'alter_label_if_ipython', None)
  if saved is None:
    yield
    return
  beam_pipeline.alter_label_if_ipython = lambda transform, pvalueish: None
  try:
    yield
  finally:
    beam_pipeline.alter_label_if_ipython = saved


def _all_loggers() -> Iterator[logging.Logger]:
  yield logging.getLogger()
  for logger in list(logging.Logger.manager.loggerDict.values()):
    if isinstance(logger, logging.Logger):
      yield logger


@contextlib.contextmanager
def kernel_output_to(log_fd: int, shell: Any,
                      progress: NotebookProgress) -> Iterator[None]:
  """Sends a kernel's Python-level output to the file `log_fd` for the run.

  sys.stdout / sys.stderr (print, Keras' progress bar, the `warnings`
  module's messages, absl when logging to stderr), logging handlers holding
  the kernel's streams (the root logger's and TensorFlow's, each printing TF's
  INFO lines), and display outputs other than the progress (their text goes
  to the log; clear_output, which KerasTuner calls after each trial, would
  wipe the progress and is dropped).
  """
  log_text = os.fdopen(os.dup(log_fd), 'w', buffering=1)
  kernel_streams = (sys.stdout, sys.stderr)
  iostream = sys.modules.get('ipykernel.iostream')

  def is_kernel_stream(stream) -> bool:
    return any(stream is s for s in kernel_streams) or (
        iostream is not None and isinstance(stream, iostream.OutStream))

  moved = []
  for logger in _all_loggers():
    for handler in list(logger.handlers):
      if isinstance(handler, logging.StreamHandler) and is_kernel_stream(
          handler.stream):
        moved.append((handler, handler.setStream(log_text)))

  display_pub = shell.display_pub
  publish = display_pub.publish
  patched = ('publish', 'clear_output')  # as instance attributes
  saved = {name: vars(display_pub)[name] for name in patched
           if name in vars(display_pub)}

  def publish_elsewhere(data, metadata=None, *args, transient=None, **kwargs):
    if (transient or {}).get('display_id') == (
        progress.display_handle.display_id):
      return publish(data, metadata, *args, transient=transient, **kwargs)
    text = data.get('text/plain') or ', '.join(sorted(data))
    log_text.write(f'[notebook display output] {text}\n')

  display_pub.publish = publish_elsewhere
  display_pub.clear_output = lambda *args, **kwargs: None
  try:
    with contextlib.redirect_stdout(log_text), \
        contextlib.redirect_stderr(log_text):
      yield
  finally:
    for name in patched:
      if name in saved:
        setattr(display_pub, name, saved[name])
      else:
        delattr(display_pub, name)
    for handler, stream in moved:
      handler.setStream(stream)
    # Handlers created during the run (a library imported then) took the log
    # as sys.stderr; they get what they would have taken outside the run.
    for logger in _all_loggers():
      for handler in list(logger.handlers):
        if (isinstance(handler, logging.StreamHandler) and
            handler.stream is log_text):
          handler.setStream(kernel_streams[1])
    log_text.close()
