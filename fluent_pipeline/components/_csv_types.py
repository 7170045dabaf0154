"""CsvExampleGen's column types and cell values, a block of cells at a time.

TFX (tfx_bsl's ColumnTypeInferrer) types a column by every non-empty cell of
its input split: INT when each is an integer in int64's range, else FLOAT
when each parses as a float, else STRING (an integer beyond int64 is a
STRING); a column without a non-empty cell has no type (UNKNOWN). It reads a
cell with Python's `int(cell)` / `float(cell)` on the cell's bytes, which
also take surrounding whitespace, '+', '_' between digits, 'inf' and 'nan'.
Here the usual shapes ('-12', '0.5', '1e-3') are recognised over a whole
column with regular expressions and converted by pyarrow (exact for those
shapes: tests/test_columnar_csv.py checks it against Python); any other
non-empty cell goes to Python, one distinct value at a time, as in TFX.
"""

import enum
from typing import Callable, Dict, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class ColumnType(enum.IntEnum):
  """tfx_bsl.coders.csv_decoder.ColumnType's values, in its order."""
  UNKNOWN = -1
  INT = 0
  FLOAT = 1
  STRING = 2


# At most 18 digits: always within int64, and Python's int() agrees.
_INT_SHAPE = r'^-?[0-9]{1,18}$'
# A decimal point or an exponent: int() refuses it, float() takes it.
_FLOAT_SHAPE = (r'^-?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$'
                r'|^-?[0-9]+[eE][-+]?[0-9]+$')
# Either, for float(): pyarrow parses both exactly as Python does.
_NUMBER_SHAPE = r'^-?[0-9]+$|' + _FLOAT_SHAPE
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# float32's largest value and the double halfway between it and 2**128:
# IEEE rounds that double up to inf, protobuf's C++ float setter (the one
# CsvExampleGen's FloatList goes through) down to the largest value.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_HALFWAY = 2.0 ** 127 * (2 - 2.0 ** -24)


def value_type(cell: bytes) -> ColumnType:
  """One cell's type, as tfx_bsl's csv_decoder._InferValueType gives it."""
  if not cell:
    return ColumnType.UNKNOWN
  try:
    number = int(cell)
  except ValueError:
    try:
      float(cell)
    except ValueError:
      return ColumnType.STRING
    return ColumnType.FLOAT
  if _INT64_MIN <= number <= _INT64_MAX:
    return ColumnType.INT
  return ColumnType.STRING


def nonempty(cells: pa.Array) -> np.ndarray:
  """Which cells are not empty (TFX: `if cell`)."""
  return pc.greater(pc.binary_length(cells), 0).to_numpy(zero_copy_only=False)


def _matches(cells: pa.Array, pattern: str) -> np.ndarray:
  return pc.match_substring_regex(cells, pattern).to_numpy(
      zero_copy_only=False)


def widen(cells: pa.Array, known: ColumnType) -> ColumnType:
  """The type of a column typed `known` so far, once it also holds `cells`
  (a string array of one block)."""
  if known == ColumnType.STRING or len(cells) == 0:
    return known
  present = nonempty(cells)
  if not present.any():
    return known
  is_int = _matches(cells, _INT_SHAPE)
  found = max(known, ColumnType.INT) if is_int.any() else known
  rest = present & ~is_int
  if not rest.any():
    return found
  cells = cells.filter(pa.array(rest))
  is_float = _matches(cells, _FLOAT_SHAPE)
  if is_float.any():
    found = max(found, ColumnType.FLOAT)
  if is_float.all():
    return found
  for value in pc.unique(cells.filter(pa.array(~is_float))).to_pylist():
    found = max(found, value_type(value.encode('utf-8')))
    if found == ColumnType.STRING:
      break
  return found


def _by_python(cells: pa.Array, where: np.ndarray, convert: Callable,
               out: np.ndarray) -> None:
  """out[where] = convert(cell bytes), each distinct value converted once."""
  if not where.any():
    return
  seen: Dict[str, object] = {}
  values = cells.filter(pa.array(where)).to_pylist()
  for value in values:
    if value not in seen:
      seen[value] = convert(value.encode('utf-8'))
  out[where] = [seen[v] for v in values]


def _parsed(cells: pa.Array, present: np.ndarray, to: pa.DataType,
            shape: str, convert: Callable) -> np.ndarray:
  """The cells of a column of that type, parsed. pyarrow parses every
  value of an INT / FLOAT column as Python does, or refuses it
  (tests/test_columnar_csv.py); when it refuses one ('1_000', ' 5',
  'Infinity'), the cells of the shape it parses exactly are parsed by it,
  the others by Python."""
  try:
    return pc.cast(pc.if_else(pa.array(present), cells, '0'),
                   to).to_numpy().copy()
  except pa.ArrowInvalid:
    pass
  fast = _matches(cells, shape)
  values = pc.cast(pc.if_else(pa.array(fast), cells, '0'),
                   to).to_numpy().copy()
  _by_python(cells, present & ~fast, convert, values)
  return values


def ints(cells: pa.Array) -> Tuple[np.ndarray, np.ndarray]:
  """(int64 values, non-empty mask) of an INT column's cells."""
  present = nonempty(cells)
  return _parsed(cells, present, pa.int64(), _INT_SHAPE, int), present


def floats(cells: pa.Array) -> Tuple[np.ndarray, np.ndarray]:
  """(float32 values as protobuf stores float(cell), non-empty mask) of a
  FLOAT column's cells."""
  present = nonempty(cells)
  doubles = _parsed(cells, present, pa.float64(), _NUMBER_SHAPE, float)
  with np.errstate(over='ignore'):
    values = doubles.astype(np.float32)
  halfway = np.abs(doubles) == _FLOAT32_HALFWAY
  if halfway.any():
    values[halfway] = np.copysign(_FLOAT32_MAX, doubles[halfway])
  return values, present
