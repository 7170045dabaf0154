"""Turns a failed run's exception into one sentence a user can act on.

TFX surfaces a bad CSV row as a Beam ValueError tagged with a transform name,
and a column the user code needs but the data lacks as a bare KeyError from
inside tf.Transform. Here the root cause is dug out of the exception chain
and, where the data can tell more (which file, which line, which columns),
the data is read to say so.
"""

import csv
import re
from typing import Dict, List, Optional

from fluent_pipeline import inputs

_BEAM_SUFFIX = re.compile(r"\s*\[while running '[^']*'\]\s*$")
_MAX_SCANNED_ROWS = 5_000_000


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
            sources: Dict[str, inputs.Source]) -> str:
  """The reason a component failed, naming files and columns when it can.

  `sources` maps the id of each ExampleGen of the pipeline to its source.
  """
  cause = root_cause(error)
  if hasattr(cause, 'anomalies'):  # the anomalies gate: its list is the point
    return str(cause)
  reason = short_message(cause)
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


def csv_header(source: inputs.Source) -> Optional[List[str]]:
  """The header of the first readable CSV file of `source`, if any."""
  for path in source.files():
    try:
      with open(path, newline='', encoding='utf-8') as f:
        row = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError):
      continue
    if row:
      return row
  return None


def find_csv_problem(source: inputs.Source, check_types: bool = False
                     ) -> Optional[str]:
  """The first structural problem of `source`'s CSV files, or None.

  With check_types, a column whose values are numbers except for some text
  is a problem too: CsvExampleGen then types the whole column as text and
  the numeric code downstream fails far from the cause.
  """
  for path in source.files():
    try:
      with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
          return f'{path} is empty: a CSV file needs a header row'
        numeric = [0] * len(header)
        first_text: List[Optional[tuple]] = [None] * len(header)
        rows = 0
        for rows, row in enumerate(reader, start=1):
          if len(row) != len(header) and row:
            return (f'{path} line {reader.line_num} has {len(row)} fields '
                    f'where the header has {len(header)}')
          if check_types:
            for i, value in enumerate(row):
              if not value:
                continue
              if _is_number(value):
                numeric[i] += 1
              elif first_text[i] is None:
                first_text[i] = (reader.line_num, value)
          if rows >= _MAX_SCANNED_ROWS:
            break
        if rows == 0:
          return f'{path} has a header but no rows'
        for i, text in enumerate(first_text):
          if text is not None and numeric[i]:
            return (f'column {header[i]!r} of {path} holds numbers but line '
                    f'{text[0]} has {text[1]!r}, so the column is read as '
                    'text')
    except UnicodeDecodeError as e:
      return f'{path} is not UTF-8 text ({e.reason} at byte {e.start})'
  return None


def _is_number(value: str) -> bool:
  try:
    float(value)
  except ValueError:
    return False
  return True
