"""Turns a failed run's exception into one sentence a user can act on.

TFX surfaces a bad CSV row as a Beam ValueError tagged with a transform name,
and a column the user code needs but the data lacks as a bare KeyError from
inside tf.Transform. Here the root cause is dug out of the exception chain
and, where the data can tell more (which file, which line, which columns),
the data is read to say so.
"""

import re
from typing import Optional

from fluent_pipeline.dsl import inputs
from fluent_pipeline.dsl.csv_data import csv_header, find_csv_problem

_BEAM_SUFFIX = re.compile(r"\s*\[while running '[^']*'\]\s*$")
# Keras's word for a class name TFMA found in no registry (a MetricConfig
# the build could not check: its module is imported only at run time).
_UNKNOWN_KERAS = re.compile(
    r"Unknown (metric function|loss function|object|metric)s?: '?([\w.>]+)'?")


def root_cause(error: BaseException) -> BaseException:
  """The innermost exception of `error`'s cause/context chain."""
  seen = set()
  while id(error) not in seen:
    seen.add(id(error))
    nxt = error.__cause__ or error.__context__
    if nxt is None:
      break
    error = nxt
  return error


def short_message(error: BaseException) -> str:
  text = str(error).strip()
  text = _BEAM_SUFFIX.sub('', text.splitlines()[0] if text else '')
  if len(text) > 300:
    text = text[:297] + '...'
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def explain(error: BaseException, component_id: Optional[str],
            sources: dict[str, inputs.Source]) -> str:
  """The reason a component failed, naming files and columns when it can.

  `sources` maps the id of each ExampleGen of the pipeline to its source.
  """
  cause = root_cause(error)
  if hasattr(cause, 'anomalies'):  # the anomalies gate: its list is the point
    return str(cause)
  reason = short_message(cause)
  metric = _unknown_metric(cause)
  if metric is not None:
    return metric
  csv_sources = [s for s in sources.values() if s.kind == 'csv']
  source = sources.get(component_id or '')
  if source is not None and source.kind == 'csv':
    problem = find_csv_problem(source)
    if problem:  # the data says it better than the Beam error
      return f'{problem} (TFX raised {type(cause).__name__})'
  if component_id not in sources:  # a downstream step met the data
    for source in csv_sources:
      problem = find_csv_problem(source, check_types=True)
      if problem:
        return f'{problem}; {component_id} failed on it ({reason})'
  if isinstance(cause, KeyError) and cause.args:
    column = cause.args[0]
    for source in csv_sources:
      header = csv_header(source)
      if header is not None and column not in header:
        return (f'the user code reads column {column!r}, which the data in '
                f'{source.location} does not have (columns: '
                f'{", ".join(header)}) ({reason})')
  return reason


def _unknown_metric(cause: BaseException) -> Optional[str]:
  """Keras's "custom_object_scope" advice as the eval_config's mistake."""
  found = _UNKNOWN_KERAS.search(str(cause))
  if found is None:
    return None
  from fluent_pipeline.dsl import eval_checks
  name = found.group(2)
  try:
    near = eval_checks.closest(name, [
        n for n in eval_checks.known_metrics() if '>' not in n])
  except ImportError:
    near = None
  hint = f'; did you mean {near!r}?' if near and near != name else ''
  return (f'the eval_config names metric class {name!r}, which neither TFMA '
          'nor Keras defines (a metric of your own also needs '
          f"MetricConfig(module='your.module')){hint}")
