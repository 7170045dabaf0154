"""What a CSV source's files hold: the header, checked when the chain is
built, and the first structural problem, named when a run fails on it."""

import csv
from typing import Optional

from fluent_pipeline.dsl import inputs

_MAX_SCANNED_ROWS = 5_000_000


def csv_header(source: inputs.Source) -> Optional[list[str]]:
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
        first_text: list[Optional[tuple]] = [None] * len(header)
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
