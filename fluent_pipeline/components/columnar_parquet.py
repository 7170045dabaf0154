"""A columnar executor for Parquet: TFX's parquet executor's examples and splits.

TFX's parquet executor (tfx.components.example_gen.custom_executors.
parquet_executor) reads each row group with Beam's ReadFromParquet, turns
the table into one Python dict per row (`to_pydict`), converts each dict
with `utils.dict_to_example`, then hashes, shuffles and writes every record
one by one. This executor cuts each file into parts of consecutive row
groups (about 8 MB uncompressed or 65,536 rows each, at least one row
group), spreads the parts over Beam's workers, reads a part a batch of rows
at a time with pyarrow, serializes a batch's examples with numpy (`_example_bytes`,
protobuf's deterministic serialization), and splits and writes them as
ColumnarCsvExampleGen does (`_columnar_io`): one gzip TFRecord file per
part and output split, renamed into place once complete. A file of one row
group is one worker's; memory is bounded by the row group and batch sizes.

`dict_to_example`'s rules are kept, column type by column type:
- a value Python finds false (null, 0, 0.0, -0.0, False, '', b'', []) is an
  empty `tf.train.Feature()` - TFX drops zeros as it drops nulls;
- integers (and bools: True is 1) are an int64_list of one value; uint64
  beyond int64 fails, as in TFX;
- floats are a float_list of one float32 (NaN is kept);
- strings are a bytes_list of their UTF-8; binary values must be UTF-8
  (TFX decodes and re-encodes them) or the file fails;
- any other type (lists, structs, dates, decimals...) goes through TFX's own
  `dict_to_example`, a value at a time: the same Feature, or the same error.

The examples equal the parquet executor's, split by split
(tests/test_columnar_parquet.py runs both); only the order inside a split
differs, as it does between two runs of TFX's (which shuffles).
"""

import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tfx import types
from tfx.components.example_gen import utils
from tfx.components.example_gen.custom_executors import parquet_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs as specs

from fluent_pipeline.components import _columnar_io, _example_bytes

__all__ = ['Executor', 'ParquetInputError']

_BATCH_ROWS = 65_536  # rows per batch: bounds memory, not the output
# A part of a file (a unit of work): row groups up to either size. Bytes
# are the groups' encoded, uncompressed sizes, often far below their size
# in memory: the rows keep parts of well-encoded data small too.
_PART_BYTES = 8 << 20
_PART_ROWS = 65_536
_INT64_MAX = (1 << 63) - 1


class ParquetInputError(ValueError):
  """A Parquet file TFX's parquet executor cannot read: the file, the column,
  the fix. Its args are its parts (Beam re-raises a copy made of them)."""

  def __init__(self, problem: str, path: Optional[str] = None,
               fix: Optional[str] = None):
    super().__init__(problem, path, fix)
    self.problem, self.path, self.fix = problem, path, fix

  def __str__(self) -> str:
    message = (f'{self.path}: {self.problem}' if self.path is not None
               else self.problem)
    return message + (f'\n  fix: {self.fix}' if self.fix else '')


class _Source(NamedTuple):
  """One input split and where its rows go."""
  name: str  # the input split's
  files: List[str]
  outputs: List[str]  # output split URIs
  buckets: List[int]  # cumulative hash buckets; [] sends all to outputs[0]
  partition_feature: Optional[str]


# --- one column of a batch as tf.train.Features -----------------------------


def _or_nothing(feature: _example_bytes.Feature,
                present: np.ndarray) -> _example_bytes.Feature:
  """The feature where `present`, else an empty tf.train.Feature() (what
  dict_to_example makes of a false value), not an empty typed list."""
  rows, segments = len(present), []
  for segment in feature.segments:
    if isinstance(segment, bytes):
      constant = np.frombuffer(segment, np.uint8)
      segment = (np.broadcast_to(constant, (rows, len(segment))),
                 np.full(rows, len(segment), np.int64))
    segments.append((segment[0], np.where(present, segment[1], 0)))
  return _example_bytes.Feature(segments, np.where(present, feature.size, 0),
                                feature.tail)


def _ints(values: np.ndarray, present: np.ndarray) -> _example_bytes.Feature:
  return _or_nothing(_example_bytes.int64_feature(values, present), present)


def _strings(column: pa.Array) -> _example_bytes.Feature:
  values = column.fill_null('')
  present = pc.binary_length(values).to_numpy(zero_copy_only=False) > 0
  return _or_nothing(_example_bytes.bytes_feature(values, present), present)


def _python(column: pa.Array, name: str, path: str) -> _example_bytes.Feature:
  """Any other type, through TFX's dict_to_example a value at a time: its
  Feature bytes as the feature's tail."""
  serialized = []
  for value in column.to_pylist():
    try:
      example = utils.dict_to_example({name: value})
    except Exception as e:  # TFX's own error, with the file and column
      raise ParquetInputError(
          f'column {name!r} ({column.type}) holds {value!r}, which TFX\'s '
          f'parquet executor cannot convert to a tf.Example feature: {e}',
          path, 'write the column as int, float, string or a list of one of '
          'them without nulls, or drop it') from e
    serialized.append(example.features.feature[name].SerializeToString())
  tail = pa.array(serialized, pa.large_binary())
  size = pc.binary_length(tail).to_numpy(zero_copy_only=False)
  return _example_bytes.Feature([], size.astype(np.int64), tail)


def _feature(column: pa.Array, name: str, path: str) -> _example_bytes.Feature:
  """dict_to_example's Feature of each value of `column`, as bytes."""
  kind = column.type
  if pa.types.is_dictionary(kind):
    column = column.dictionary_decode()
    kind = column.type
  if pa.types.is_null(kind):
    return _example_bytes.no_type_feature(len(column))
  if pa.types.is_boolean(kind):
    present = column.fill_null(False).to_numpy(zero_copy_only=False)
    return _ints(present.astype(np.int64), present)
  if pa.types.is_integer(kind):
    if kind == pa.uint64() and (pc.max(column).as_py() or 0) > _INT64_MAX:
      raise ParquetInputError(
          f'column {name!r} (uint64) holds {pc.max(column).as_py()}, beyond '
          'int64: TFX\'s parquet executor fails on it (Int64List)', path,
          'write the column as int64 or as strings')
    values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(
        np.int64)
    return _ints(values, values != 0)
  if pa.types.is_float32(kind) or pa.types.is_float64(kind):
    values = column.fill_null(0.0).to_numpy(zero_copy_only=False).astype(
        np.float64)
    present = values != 0  # NaN is kept: a true value for Python
    with np.errstate(over='ignore'):  # beyond float32: inf, as protobuf does
      return _or_nothing(_example_bytes.float_feature(values, present),
                         present)
  if pa.types.is_string(kind) or pa.types.is_large_string(kind):
    return _strings(column)
  if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
    try:  # TFX decodes them as UTF-8 (and encodes them again)
      column.cast(pa.large_string())
    except pa.ArrowInvalid as e:
      raise ParquetInputError(
          f'column {name!r} (binary) holds bytes that are not UTF-8; TFX\'s '
          f'parquet executor decodes them as UTF-8 and fails ({e})', path,
          'encode the values as UTF-8 text (e.g. base64) or drop the '
          'column') from e
    return _strings(column)
  return _python(column, name, path)


def _open(path: str):
  """A seekable binary file: the builtin one for a local path, else Beam's
  (what ReadFromParquet opens; TF's GFile is not one pyarrow takes)."""
  if '://' not in path:
    return open(path, 'rb')
  from apache_beam.io.filesystem import CompressionTypes
  from apache_beam.io.filesystems import FileSystems
  return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _unreadable(path: str, error: Exception) -> ParquetInputError:
  return ParquetInputError(
      f'not a readable Parquet file ({error})', path,
      'check that the file is Parquet and complete, or move it out of '
      'the input split\'s pattern')


def _row_groups(path: str) -> List[Tuple[int, int]]:
  """The parts of a file: [first, stop) row groups each, consecutive ones
  up to about _PART_BYTES (uncompressed) or _PART_ROWS (at least one), or
  one empty part for a file without row groups."""
  try:
    with _open(path) as f:
      metadata = pq.ParquetFile(f).metadata
  except (pa.ArrowException, OSError) as e:
    failure = _unreadable(path, e)
  else:
    failure = None
  if failure is not None:
    raise failure
  parts, first, size, rows = [], 0, 0, 0
  for group in range(metadata.num_row_groups):
    size += metadata.row_group(group).total_byte_size
    rows += metadata.row_group(group).num_rows
    if size >= _PART_BYTES or rows >= _PART_ROWS:
      parts.append((first, group + 1))
      first, size, rows = group + 1, 0, 0
  if first < metadata.num_row_groups or not parts:
    parts.append((first, metadata.num_row_groups))
  return parts


def _batches(path: str, groups: Optional[Tuple[int, int]] = None
             ) -> Iterator[pa.RecordBatch]:
  """The batches of the file, or of its row groups [first, stop)."""
  if groups is not None and groups[0] >= groups[1]:
    return
  try:
    with _open(path) as f:
      reader = pq.ParquetFile(f)
      yield from reader.iter_batches(
          batch_size=_BATCH_ROWS,
          row_groups=None if groups is None else range(*groups))
  except (pa.ArrowException, OSError) as e:
    failure = _unreadable(path, e)
  else:
    failure = None
  if failure is not None:
    raise failure


def _encoded_batches(path: str, partition_feature: Optional[str] = None,
                     groups: Optional[Tuple[int, int]] = None
                     ) -> Iterator[Tuple[pa.Array, pa.Array]]:
  """Per batch of `path` (or of its row groups [first, stop)): (serialized
  examples, split keys): the keys are the examples themselves, or the
  partition feature's serialized Feature."""
  for batch in _batches(path, groups):
    if not batch.num_rows:
      continue
    features = {}  # a name used twice keeps its last column, as a dict does
    for name, column in zip(batch.schema.names, batch.columns):
      features[name] = _feature(column, name, path)
    records = _example_bytes.examples(
        [(name.encode('utf-8'), f) for name, f in features.items()],
        batch.num_rows)
    if partition_feature is None:
      yield records, records
      continue
    if partition_feature not in features:
      raise ParquetInputError(
          f'partition_feature_name {partition_feature!r} is not a column '
          f'(the columns: {", ".join(features)})', path, _PARTITION_FIX)
    yield records, features[partition_feature].serialized()


_PARTITION_FIX = ('set output_config.split_config.partition_feature_name to '
                  'an int or string column whose values are never null, 0 '
                  'or empty, or drop it to split by the whole example')


def _check_keys(keys: List[bytes], name: str, path: str) -> None:
  """TFX's checks of a partition feature, per record (_GeneratePartitionKey)."""
  for key in keys:
    if not key:
      raise ParquetInputError(
          f'partition_feature_name {name!r} has a row with no value (null, '
          '0 or empty, which TFX makes an empty feature)', path,
          _PARTITION_FIX)
    if key[0] not in (0x0a, 0x1a):  # bytes_list, int64_list
      raise ParquetInputError(
          f'partition_feature_name {name!r} holds floats; TFX splits only '
          'by an int64 or bytes feature', path, _PARTITION_FIX)


# --- writing ----------------------------------------------------------------


class _WritePiece(_columnar_io.WritePiece):
  """A Parquet part's examples, its partition keys checked as TFX does."""

  def encoded(self, piece: _columnar_io.Piece):
    source, path = self._source, piece.path
    return (_encoded_batches(path, source.partition_feature, piece.part),
            lambda keys: _check_keys(keys, source.partition_feature, path))


# --- the Beam pipeline ------------------------------------------------------


def _files(input_base: str, split: example_gen_pb2.Input.Split) -> List[str]:
  pattern = os.path.join(input_base, split.pattern)
  files = sorted(fileio.glob(pattern))
  if not files:
    raise ParquetInputError(
        f'the pattern of input split {split.name!r} matches no file',
        pattern, 'check input_base and the split\'s pattern')
  return files


def _sources(exec_properties: Dict[str, Any],
             output_dict: Dict[str, List[types.Artifact]]) -> List[_Source]:
  base = exec_properties[specs.INPUT_BASE_KEY]
  return [_Source(plan.split.name, _files(base, plan.split), plan.outputs,
                  plan.buckets, plan.partition_feature)
          for plan in _columnar_io.split_plans(exec_properties, output_dict)]


def _ingest(pipeline: beam.Pipeline, source: _Source) -> None:
  _ = (_columnar_io.pieces(pipeline, source.name, source.files, _row_groups)
       | f'WriteExamples[{source.name}]' >> beam.ParDo(_WritePiece(source)))


class Executor(_columnar_io.ColumnarExecutor):
  """TFX's parquet executor with a columnar reader and writer; give it to
  FileBasedExampleGen as TFX's (`custom_executor_spec`)."""

  WRITER = 'the columnar Parquet executor'

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    """TFX's own per-record path, for code that runs the base's steps."""
    return parquet_executor._ParquetToExample

  def input_sources(self, exec_properties, output_dict) -> List[_Source]:
    return _sources(exec_properties, output_dict)

  def ingest(self, pipeline: beam.Pipeline, source: _Source) -> None:
    _ingest(pipeline, source)
