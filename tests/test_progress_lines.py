"""The live progress lines (terminal and notebook share ProgressHandler):
a component TFX's cache served says `cached`, from the very records TFX's
LocalDagRunner and launcher log. tests/test_notebook_output.py checks it in
a real notebook run."""

import io
import logging
import threading

from fluent_pipeline.orchestration.progress import ProgressHandler


def _log(handler, msg, *args, thread=None):
  record = logging.LogRecord('absl', logging.INFO, __file__, 1, msg, args,
                             None)
  if thread is not None:
    record.thread = thread
  handler.handle(record)


def test_a_cached_component_says_cached():
  out = io.StringIO()
  progress = ProgressHandler(out)
  _log(progress, 'Component %s is running.', 'CsvExampleGen')
  _log(progress, 'A cached execution %d is used.', 7)
  _log(progress, 'Component %s is finished.', 'CsvExampleGen')
  _log(progress, 'Component %s is running.', 'StatisticsGen')
  _log(progress, 'Going to run a new execution %d', 8)
  _log(progress, 'Component %s is finished.', 'StatisticsGen')
  lines = out.getvalue().splitlines()
  assert lines[:2] == ['  ... CsvExampleGen', '  ok  CsvExampleGen (cached)']
  assert lines[2] == '  ... StatisticsGen'
  assert lines[3].startswith('  ok  StatisticsGen (') and lines[3].endswith(
      ' s)'), lines[3]


def test_side_by_side_components_each_get_their_own_cache_record():
  """BeamDagRunner's records: 'node %s is ...', maybe from two threads."""
  out = io.StringIO()
  progress = ProgressHandler(out)
  one, two = threading.get_ident(), threading.get_ident() + 1
  _log(progress, 'node %s is running.', 'StatisticsGen', thread=one)
  _log(progress, 'node %s is running.', 'SchemaGen', thread=two)
  _log(progress, 'A cached execution %d is used.', 3, thread=one)
  _log(progress, 'node %s is finished.', 'SchemaGen', thread=two)
  _log(progress, 'node %s is finished.', 'StatisticsGen', thread=one)
  lines = out.getvalue().splitlines()
  assert lines[-1] == '  ok  StatisticsGen (cached)'
  assert lines[-2] != '  ok  SchemaGen (cached)'
  assert lines[-2].startswith('  ok  SchemaGen (')
