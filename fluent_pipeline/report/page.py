"""The run report: one self-contained HTML file showing what a run did.

The pipeline's graph and configuration, the data's statistics, schema and
anomalies, training curves and tuner trials, metrics per slice against the
thresholds and the baseline, the serving check and signature, and a sample of
bulk predictions. Rendered with Jinja2 (autoescaped) and matplotlib SVGs; it
loads nothing from the network (its Content-Security-Policy forbids it).
"""

import datetime
import math
import os
import tempfile
from typing import Any, Callable, Optional

from fluent_pipeline import _paths

MARKER = 'fluent_pipeline'  # in <meta name="generator">: a report we wrote


def _number(value: Any, signed: bool = False) -> str:
  """Numbers as a reader wants them: ints whole, floats to 4 significant
  digits; anything else as text."""
  if value is None:
    return ''
  if isinstance(value, bool):
    return str(value)
  if signed and value == 0:
    return '0'
  if isinstance(value, int):
    return f'{value:+,d}' if signed else f'{value:,d}'
  if isinstance(value, float):
    if math.isnan(value):
      return 'nan'
    if value.is_integer() and abs(value) < 1e15 and not signed:
      return f'{int(value):,d}'
    return f'{value:+.4g}' if signed else f'{value:.4g}'
  return str(value)


def _sign(value: Any) -> str:
  if not isinstance(value, (int, float)) or value == 0:
    return ''
  return 'up' if value > 0 else 'down'


def _environment():
  import jinja2
  env = jinja2.Environment(
      loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(
          __file__))),
      autoescape=True, undefined=jinja2.StrictUndefined,
      trim_blocks=True, lstrip_blocks=True)
  env.filters['num'] = _number
  env.filters['sign'] = _sign
  env.filters['pct'] = lambda v: f'{100 * v:.1f}%'
  env.filters['secs'] = lambda v: f'{v:.1f} s'
  return env


def render(result, compare=None,
           changes: Optional[Callable[[], str]] = None) -> str:
  """The report of RunResult `result` as HTML text; with `compare` (another
  RunResult) a comparison section leads, with `changes()` as the text of
  what differs in their configurations."""
  from fluent_pipeline._version import __version__
  from fluent_pipeline.report import sections
  context = {
      'version': __version__,
      'written': datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S'),
      'run': result,
      'failed': [c.node_id for c in result.components
                 if c.state == 'FAILED'],
      'pipeline': sections.pipeline(result),
      'data': sections.data(result),
      'training': sections.training(result),
      'evaluation': sections.evaluation(result),
      'serving': sections.serving(result),
      'inference': sections.inference(result),
      'compare': (sections.comparison(result, compare,
                                      changes or (lambda: ''))
                  if compare is not None else None),
  }
  return _environment().get_template('report.html.j2').render(**context)


def default_path(result, compare=None) -> str:
  name = f'report-{result.run_id}'
  if compare is not None:
    name += f'-vs-{compare.run_id}'
  return _paths.join(result.pipeline_root, 'reports', name + '.html')


def write(result, path: Optional[str] = None, compare=None,
          changes: Optional[Callable[[], str]] = None) -> str:
  """Writes the report to `path` (default: <pipeline root>/reports/) and
  returns the path. An existing file is replaced only when it is a report
  this package wrote, so a mistyped -o never loses other work."""
  from fluent_pipeline.errors import PipelineDefinitionError
  path = _paths.absolute(path) if path else default_path(result, compare)
  if _paths.exists(path):
    try:
      head = _paths.read_text(path)[:2000] if not os.path.isdir(path) else ''
    except UnicodeDecodeError:
      head = ''  # not text: not a report
    if f'content="{MARKER}' not in head:
      raise PipelineDefinitionError(
          'report', f'{path} exists and is not a run report written by '
          'fluent_pipeline', fix='choose another output path')
  html = render(result, compare, changes)
  if _paths.is_uri(path):
    from tfx.dsl.io import fileio
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, 'w') as f:
      f.write(html)
  else:
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, exist_ok=True)
    # A unique temporary file, then a rename: two writers never mix pages
    # and a reader never sees half a page.
    fd, tmp = tempfile.mkstemp(prefix='.report-', suffix='.tmp',
                               dir=directory)
    try:
      with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(html)
      os.chmod(tmp, 0o644)
      os.replace(tmp, path)
    except BaseException:
      if os.path.exists(tmp):
        os.remove(tmp)
      raise
  return path
