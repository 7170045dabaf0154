"""What a CSV source's files hold: the header, checked when the chain is
built (features named by a call, with an imported schema's), and the first
structural problem, named when a run fails on it."""

import csv
import os
from typing import Optional

from fluent_pipeline.dsl import inputs
from fluent_pipeline.errors import PipelineDefinitionError

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


def known_features(plan) -> Optional[tuple[list[str], str]]:
  """(feature names, where they were read) when the chain knows them before
  anything runs: an imported schema, else a CSV source's header."""
  step = plan.steps.get('imported_schema')
  path = step.tfx.get('schema_file') if step is not None else None
  if path and os.path.isfile(path):
    try:
      from google.protobuf import text_format
      from tensorflow_metadata.proto.v0 import schema_pb2
      with open(path, encoding='utf-8') as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
      return [f.name for f in schema.feature], f'the schema {path}'
    except (OSError, text_format.ParseError, UnicodeDecodeError):
      pass  # with_imported_schema's own check names a bad file
  source = plan.source
  if source is not None and source.kind == 'csv':
    header = csv_header(source)
    if header:
      return header, f'the CSV header of {source.location}'
  return None


def check_feature(plan, step: str, argument: str, name: str,
                  known: Optional[tuple[list[str], str]] = None) -> None:
  """A feature name the chain passes on (stratified_sample's key) must be a
  feature, when the features are known (`known`, else the chain's own:
  known_features): else every example would fall in one stratum, in
  silence."""
  known = known or known_features(plan)
  if known is None or name in known[0]:
    return
  import difflib
  features, where = known
  close = difflib.get_close_matches(name, features, n=1)
  raise PipelineDefinitionError(
      step, f'{argument} {name!r} is not a feature: {where} has '
      + ', '.join(features),
      fix=f'{step}({(close or features)[0]!r}, ...)' + (
          ' (the closest name)' if close else ''))


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
