"""Turns a failed run's exception into one sentence a user can act on.

TFX surfaces a bad CSV row as a Beam ValueError tagged with a transform name,
and a column the user code needs but the data lacks as a bare KeyError from
inside tf.Transform. Here the root cause is dug out of the exception chain
and, where the data can tell more (which file, which line, which columns),
the data is read to say so. A message that names a module generated
from the user's function names the user's file or notebook cell instead,
and a long one is cut to what the user acts on.
"""

import os
import re
from typing import Optional

from fluent_pipeline.dsl import inputs
from fluent_pipeline.dsl.csv_data import csv_header, find_csv_problem
from fluent_pipeline.usercode import code_location, user_code

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


_LIMIT = 300  # characters of a one-line reason, past which it is cut
# The least room the quoted values keep (the line then runs longer): they
# are what tells the user why their predicate kept nothing.
_VALUES_ROOM = 200
# A place at the end of a message: NothingKept's "keep_south is at FILE,
# line N", a dataset step's "[FILE, line N]".
_PLACE_AT_END = re.compile(r'(?:[\w.<>]+ is at |\[)[^\[\]]*?, line \d+\]?$')
# A generated module's path and line, as the components name it.
_GENERATED = re.escape(os.sep + user_code.GENERATED_DIR + os.sep)
_GENERATED_PLACE = re.compile(
    r'(?P<path>[^\s\[\]\'"]*' + _GENERATED
    + r'[^\s\[\]\'"]*?\.py), line (?P<line>\d+)')
# A clause quoting the values of a feature (components' values_seen):
# "features['payment_type'] holds 'Cash' (61), 'Dispute' (3) and 4 more".
_CLAUSE = re.compile(r"(?P<pre>.*?features\[[^\]]*\] holds )(?P<items>.*?)"
                     r'(?: and (?P<more>\d+) more)?(?P<end>[.;]?\s*)$', re.S)


def short_message(error: BaseException) -> str:
  """`Type: first line of the message`, the generated module it may name
  replaced by the user's place, and cut when long (see _shortened)."""
  text = str(error).strip()
  text = _BEAM_SUFFIX.sub('', text.splitlines()[0] if text else '')
  text = user_places(text)
  if len(text) > _LIMIT:
    hint = getattr(error, 'hint', None)
    text = _shortened(text, hint if isinstance(hint, str) else '')
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def user_places(text: str) -> str:
  """`text` with each "FILE, line N" of a module generated from a user's
  function replaced by where the user wrote that line (a notebook cell's
  line, or their file's), when the module's recorded origins say."""
  def replace(found):
    return code_location.place(found.group('path'),
                               int(found.group('line'))) or found.group(0)
  return _GENERATED_PLACE.sub(replace, text)


def _shortened(text: str, hint: str) -> str:
  """`text` cut to about _LIMIT characters, keeping what the user acts on:
  its start (what failed), the place it ends with (the function, its file
  and line) whole, and the values a hint quotes from the data, fewer per
  feature (and fewer features) as needed, but never one cut in half."""
  place = _PLACE_AT_END.search(text)
  tail = text[place.start():] if place else ''
  body = text[:len(text) - len(tail)]
  start = body.find(hint[:30]) if hint else -1
  if start > 0:
    head = body[:start]
    clauses = [_CLAUSE.match(c) for c in re.split(
        r'; (?=features\[)', body[start:])]
    if clauses and all(clauses):
      room = max(_LIMIT - len(head) - len(tail), _VALUES_ROOM)
      shown = ''
      for features, per_feature in _fewer(len(clauses)):
        shown = _values(clauses, features, per_feature)
        if len(shown) <= room:
          break
      return head + shown + tail
  room = max(_LIMIT - len(tail), 80)
  if len(body) > room:
    body = body[:room - 4].rsplit(' ', 1)[0] + ' ... '
  return body + tail


def _fewer(features: int):
  """(features, values per feature) to try, from the most to the least."""
  for per_feature in (4, 3, 2, 1):
    yield features, per_feature
  for shown in range(features - 1, 0, -1):
    yield shown, 1


def _values(clauses, features: int, per_feature: int) -> str:
  """The first `features` clauses with `per_feature` values each; what is
  left out counted ('and 7 more', 'and 2 more features')."""
  parts = []
  for clause in clauses[:features]:
    items = re.split(r'(?<=\)), ', clause.group('items'))
    more = len(items) - per_feature + int(clause.group('more') or 0)
    parts.append(clause.group('pre') + ', '.join(items[:per_feature])
                 + (f' and {more} more' if more > 0 else ''))
  if features < len(clauses):
    dropped = len(clauses) - features
    parts.append(f'and {dropped} more feature{"s" if dropped > 1 else ""}')
  return '; '.join(parts) + clauses[-1].group('end')


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
  if type(cause).__name__ == 'ParquetInputError':  # the columnar reader's
    return str(cause).replace('\n  fix: ', '; fix: ')
  if source is not None and source.kind == 'csv':
    problem = find_csv_problem(source)
    if type(cause).__name__ == 'CsvInputError':  # the columnar reader's words
      return problem or str(cause).replace('\n  fix: ', '; fix: ')
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
