"""ColumnarCsvExampleGen: CsvExampleGen's examples and splits, read columnar.

TFX's CsvExampleGen turns each CSV row into a tf.Example in Python, then
Beam hashes, shuffles and writes every record one by one: a few thousand
rows a second. This component is CsvExampleGen with another executor:

- its files are cut into parts of about 8 MB of text, each ending where a
  record ends (`_csv_files.parts`), and the parts are spread over Beam's
  workers, so that one large file is read by all of them;
- each part is read by pyarrow a block at a time (`_csv_files`), twice:
  once to type the columns as TFX does over every row of the input split
  (`_csv_types`; the parts' types merged, the widest kept), once to convert
  and write them;
- a block's examples are serialized by numpy as protobuf's deterministic
  serialization (`_example_bytes`), so TFX's split rule (sha256 of those
  bytes, or of the `partition_feature_name` feature, over the hash buckets)
  gives each example the split CsvExampleGen gives it;
- each part is written straight to one gzip TFRecord file per output split
  (`Split-<name>/data_tfrecord-NNNNN-of-MMMMM.gz`, complete files only: a
  file is renamed into place once written).

Everything else is TFX's: the component's spec and driver (input_base,
input_config, output_config, range_config, spans and versions) and the
executor's base class, BaseExampleGenExecutor. `Do` follows the base's
steps (configs, split names, the Beam pipeline, the payload and file format
properties) but writes the splits itself: TFX's per-record partition and
WriteSplit alone take about 20 s for 240,000 records on this project's
machine. `GetInputSourceToExamplePTransform` still yields the tf.Examples,
for code that runs the base's own path.

The examples equal CsvExampleGen's, split by split (tests/test_columnar_csv.py
runs both on awkward CSVs); only the order of records inside a split differs,
as it does between two runs of TFX's (which shuffles). Beam's workers share
out the parts of the files, of one file as of several; memory is bounded by
the part and block sizes, not the file size. A file TFX cannot read fails
with the file, the line and the fix (`CsvInputError`).
"""

import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs as specs

from fluent_pipeline.components import (
  _columnar_io,
  _csv_files,
  _csv_types,
  _example_bytes,
)
from fluent_pipeline.components._csv_files import CsvInputError
from fluent_pipeline.components._csv_types import ColumnType

__all__ = ['ColumnarCsvExampleGen', 'CsvInputError', 'Executor']

class _Source(NamedTuple):
  """One input split and where its rows go."""
  name: str  # the input split's
  pattern: str
  files: List[str]
  header: List[str]
  outputs: List[str]  # output split URIs
  buckets: List[int]  # cumulative hash buckets; [] sends all to outputs[0]
  partition_feature: Optional[str]


# --- types and examples of one file ----------------------------------------


def _file_types(item: Tuple[int, str], columns: int) -> List[int]:
  """The type of each column over one file's rows."""
  return _part_types(item[1], None, columns)


def _piece_types(piece: _columnar_io.Piece, columns: int) -> List[int]:
  return _part_types(piece.path, piece.part, columns)


def _part_types(path: str, part: Optional[_csv_files.Part],
                columns: int) -> List[int]:
  """The type of each column over the rows of `part` of a file (or of all
  of it)."""
  found = [ColumnType.UNKNOWN] * columns
  for cells in _csv_files.blocks(path, columns, screened=True, part=part):
    found = [_csv_types.widen(c, t) for c, t in zip(cells, found)]
  return [int(t) for t in found]


def _widest(type_lists) -> List[int]:
  """Each column's type over all files: the widest, as TFX merges them."""
  merged: List[int] = []
  for types_ in type_lists:
    merged = list(types_) if not merged else [max(a, b) for a, b in
                                              zip(merged, types_)]
  return merged


def _feature(cells: pa.Array, kind: ColumnType) -> _example_bytes.Feature:
  if kind == ColumnType.INT:
    return _example_bytes.int64_feature(*_csv_types.ints(cells))
  if kind == ColumnType.FLOAT:
    return _example_bytes.float_feature(*_csv_types.floats(cells))
  if kind == ColumnType.STRING:
    return _example_bytes.bytes_feature(
        cells, _csv_types.nonempty(cells))
  return _example_bytes.no_type_feature(len(cells))


def _columns(header: List[str], column_types: List[int]
             ) -> Dict[str, Tuple[int, ColumnType]]:
  """Feature name -> (column, type). A name used twice is one feature, as
  in TFX's dict: the last column's values, typed over both columns."""
  kinds: Dict[str, int] = {}
  for name, kind in zip(header, column_types):
    kinds[name] = max(kinds.get(name, kind), kind)
  return {name: (index, ColumnType(kinds[name]))
          for index, name in enumerate(header)}


def _encoded_blocks(path: str, header: List[str], column_types: List[int],
                    partition_feature: Optional[str] = None,
                    part: Optional[_csv_files.Part] = None
                    ) -> Iterator[Tuple[pa.Array, pa.Array]]:
  """Per block of `path` (or of `part` of it): (serialized examples, split
  keys): the keys are the examples themselves, or the partition feature's
  serialized Feature."""
  columns = _columns(header, column_types)
  for cells in _csv_files.blocks(path, len(header), part=part):
    rows = len(cells[0])
    if not rows:
      continue
    features = {name: _feature(cells[index], kind)
                for name, (index, kind) in columns.items()}
    records = _example_bytes.examples(
        [(name.encode('utf-8'), f) for name, f in features.items()], rows)
    if partition_feature is None:
      yield records, records
    else:
      _check_partition_feature(partition_feature, columns, path)
      yield records, features[partition_feature].serialized()


def _check_partition_feature(name: str, columns, path: str) -> None:
  """TFX's checks of `partition_feature_name`, named once, not per record."""
  fix = ('set output_config.split_config.partition_feature_name to an int '
         'or string column, or drop it to split by the whole example')
  if name not in columns:
    raise CsvInputError(
        f'partition_feature_name {name!r} is not a column (the columns: '
        f'{", ".join(columns)})', path, 1, fix)
  kind = columns[name][1]
  if kind == ColumnType.UNKNOWN:
    raise CsvInputError(
        f'partition_feature_name {name!r} has no value in any row of the '
        'input split, so no example can be assigned by it', path, None, fix)
  if kind == ColumnType.FLOAT:
    raise CsvInputError(
        f'partition_feature_name {name!r} holds floats; TFX splits only by '
        'an int64 or bytes feature', path, None, fix)


# --- writing ----------------------------------------------------------------


class _WritePiece(_columnar_io.WritePiece):
  """A CSV part's examples, typed by the input split's column types."""

  def encoded(self, piece: _columnar_io.Piece, column_types: List[int]):
    source = self._source
    return _encoded_blocks(piece.path, source.header, column_types,
                           source.partition_feature, piece.part), None


# --- the Beam pipeline ------------------------------------------------------


def _source(input_base: str, split: example_gen_pb2.Input.Split,
            outputs: List[str], buckets: List[int],
            partition_feature: Optional[str]) -> _Source:
  pattern = os.path.join(input_base, split.pattern)
  files = sorted(fileio.glob(pattern))
  if not files:
    raise CsvInputError(
        f'the pattern of input split {split.name!r} matches no file',
        pattern, None, 'check input_base and the split\'s pattern')
  header = _csv_files.header(files[0])
  for path in files[1:]:
    other = _csv_files.header(path)
    if other != header:
      raise CsvInputError(
          f'its header {other} differs from that of {files[0]} ({header}); '
          'CsvExampleGen reads the files of a split as one table', path, 1,
          'give every file of the split the same columns in the same order, '
          'or read them as separate input splits')
  return _Source(split.name, pattern, files, header, outputs, buckets,
                 partition_feature)


def _sources(exec_properties: Dict[str, Any],
             output_dict: Dict[str, List[types.Artifact]]) -> List[_Source]:
  base = exec_properties[specs.INPUT_BASE_KEY]
  return [_source(base, plan.split, plan.outputs, plan.buckets,
                  plan.partition_feature)
          for plan in _columnar_io.split_plans(exec_properties, output_dict)]


def _column_types(source: _Source, files, types_of=_file_types):
  """The side input of the source's column types (TFX's first pass), from
  the types of each file (`files`) or each piece of one."""
  return beam.pvalue.AsSingleton(
      files
      | f'InferColumnTypes[{source.name}]' >> beam.Map(
          types_of, len(source.header))
      | f'MergeColumnTypes[{source.name}]' >> beam.CombineGlobally(_widest))


def _cut(path: str) -> List[_csv_files.Part]:
  return _csv_files.parts(path)


def _ingest(pipeline: beam.Pipeline, source: _Source) -> None:
  pieces = _columnar_io.pieces(pipeline, source.name, source.files, _cut)
  column_types = _column_types(source, pieces, _piece_types)
  _ = pieces | f'WriteExamples[{source.name}]' >> beam.ParDo(
      _WritePiece(source), column_types)


@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
class _CsvToExample(beam.PTransform):
  """The tf.Examples of one input split, for BaseExampleGenExecutor's own
  (per record) path: the same examples, slower."""

  def __init__(self, exec_properties: Dict[str, Any], split_pattern: str):
    super().__init__()
    self._source = _source(
        exec_properties[specs.INPUT_BASE_KEY],
        example_gen_pb2.Input.Split(name='input', pattern=split_pattern),
        [], [], None)

  def expand(self, pipeline: beam.Pipeline):
    source = self._source
    files = pipeline | 'CsvFiles' >> beam.Create(list(enumerate(source.files)))
    return files | 'ToTFExample' >> beam.FlatMap(
        _examples_of, source.header, _column_types(source, files))


def _examples_of(item: Tuple[int, str], header: List[str],
                 column_types: List[int]) -> Iterator[tf.train.Example]:
  for records, _ in _encoded_blocks(item[1], header, column_types):
    for record in records.to_pylist():
      yield tf.train.Example.FromString(record)


class Executor(_columnar_io.ColumnarExecutor):
  """CsvExampleGen's executor with a columnar reader and writer."""

  WRITER = 'ColumnarCsvExampleGen'

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _CsvToExample

  def input_sources(self, exec_properties, output_dict) -> List[_Source]:
    return _sources(exec_properties, output_dict)

  def ingest(self, pipeline: beam.Pipeline, source: _Source) -> None:
    _ingest(pipeline, source)


class ColumnarCsvExampleGen(FileBasedExampleGen):
  """CsvExampleGen (same arguments, spec, driver and outputs) with a
  columnar executor: the same examples in the same splits, read and written
  a block of rows at a time. Its id ends in ExampleGen; give it TFX's with
  `.with_id('CsvExampleGen')`."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, input_base: Optional[str] = None,
               input_config=None, output_config=None, range_config=None):
    super().__init__(input_base=input_base, input_config=input_config,
                     output_config=output_config, range_config=range_config)
