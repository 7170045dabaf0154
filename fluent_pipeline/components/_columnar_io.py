"""What the columnar ExampleGen executors (columnar_csv, columnar_parquet)
share: the input splits and the output splits they feed, read from the
configs as BaseExampleGenExecutor reads them; the parts of the input files
(a file cut by its reader: byte ranges of a CSV, row groups of a Parquet
file), numbered and spread over Beam's workers (local files are cut where
the pipeline is built, remote ones on the workers); TFX's hash split; writing
one part's examples as one gzip TFRecord file per output split (complete
files only: each is renamed into place once written); and Do.
"""

import bisect
import collections
import hashlib
import os
from typing import (
  Any,
  Callable,
  Dict,
  Iterator,
  List,
  NamedTuple,
  Optional,
  Tuple,
)

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.base_example_gen_executor import (
  BaseExampleGenExecutor,
)
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

FILE_PREFIX = write_split.DEFAULT_FILE_NAME  # 'data_tfrecord'
INCOMPLETE = '.incomplete'


class SplitPlan(NamedTuple):
  """One input split and the output splits its examples go to."""
  split: example_gen_pb2.Input.Split
  outputs: List[str]  # output split URIs
  buckets: List[int]  # cumulative hash buckets; [] sends all to outputs[0]
  partition_feature: Optional[str]


def configs(exec_properties: Dict[str, Any]
            ) -> Tuple[example_gen_pb2.Input, example_gen_pb2.Output]:
  input_config = example_gen_pb2.Input()
  proto_utils.json_to_proto(exec_properties[specs.INPUT_CONFIG_KEY],
                            input_config)
  output_config = example_gen_pb2.Output()
  proto_utils.json_to_proto(exec_properties[specs.OUTPUT_CONFIG_KEY],
                            output_config)
  return input_config, output_config


def split_plans(exec_properties: Dict[str, Any],
                output_dict: Dict[str, List[types.Artifact]]
                ) -> List[SplitPlan]:
  """The input splits to read and the output splits they feed, as
  BaseExampleGenExecutor.GenerateExamplesByBeam reads the configs."""
  input_config, output_config = configs(exec_properties)
  names = utils.generate_output_split_names(input_config, output_config)
  uris = [artifact_utils.get_split_uri(output_dict[specs.EXAMPLES_KEY], n)
          for n in names]
  split_config = output_config.split_config
  if split_config.splits:
    if len(input_config.splits) != 1:
      raise ValueError('input must have only one split when output split is '
                       'specified.')
    buckets, total = [], 0
    for split in split_config.splits:
      total += split.hash_buckets
      buckets.append(total)
    partition = (split_config.partition_feature_name
                 if split_config.HasField('partition_feature_name') else None)
    return [SplitPlan(input_config.splits[0], uris, buckets, partition)]
  return [SplitPlan(split, [uri], [], None)
          for split, uri in zip(input_config.splits, uris)]


def splits(keys: List[bytes], buckets: List[int]) -> List[int]:
  """TFX's _PartitionFn: the split of each key, by the sha256 of its bytes
  over the cumulative hash buckets."""
  total = buckets[-1]
  sha256, find = hashlib.sha256, bisect.bisect
  return [find(buckets, int.from_bytes(sha256(k).digest(), 'big') % total)
          for k in keys]


class Piece(NamedTuple):
  """One unit of work: a part of an input file, whose examples go to the
  `index`th of `count` files of each output split."""
  index: int
  count: int
  path: str
  part: Any  # the reader's: where in the file


def pieces(pipeline: beam.Pipeline, name: str, files: List[str],
           cut: Callable[[str], List[Any]]) -> beam.PCollection:
  """The Pieces of an input split's files, spread over the workers (a
  Create's or a FlatMap's elements stay in one bundle, so one worker's,
  until a Reshuffle). Each file is cut into parts by `cut`, and the parts
  numbered in file order: here, where the pipeline is built, when the files
  are local (a scan at disk speed, and no Beam stages to pay for in the
  in-process runner); else on the workers, a file each."""
  if not any('://' in path for path in files):
    here = list(_numbered([(index, path, cut(path))
                           for index, path in enumerate(files)]))
    return (pipeline
            | f'Parts[{name}]' >> beam.Create(here)
            | f'SpreadParts[{name}]' >> beam.Reshuffle())
  files_ = pipeline | f'Files[{name}]' >> beam.Create(list(enumerate(files)))
  if len(files) > 1:  # one file needs no spreading: its parts do
    files_ |= f'SpreadFiles[{name}]' >> beam.Reshuffle()
  return (files_
          | f'CutFiles[{name}]' >> beam.Map(_cut, cut)
          | f'ListParts[{name}]' >> beam.combiners.ToList()
          | f'NumberParts[{name}]' >> beam.FlatMap(_numbered)
          | f'SpreadParts[{name}]' >> beam.Reshuffle())


def _cut(item: Tuple[int, str], cut: Callable[[str], List[Any]]
         ) -> Tuple[int, str, List[Any]]:
  return item[0], item[1], cut(item[1])


def _numbered(files: List[Tuple[int, str, List[Any]]]) -> Iterator[Piece]:
  count = sum(len(parts) for _, _, parts in files)
  index = 0
  for _, path, parts in sorted(files, key=lambda file: file[0]):
    for part in parts:
      yield Piece(index, count, path, part)
      index += 1


def shard(uri: str, index: int, count: int) -> str:
  return os.path.join(uri, f'{FILE_PREFIX}-{index:05d}-of-{count:05d}.gz')


def write_file(outputs: List[str], index: int, count: int,
               encoded: Iterator[Tuple[pa.Array, pa.Array]],
               buckets: List[int],
               check_keys: Optional[Callable[[List[bytes]], None]] = None
               ) -> List[int]:
  """Writes the `index`th of `count` pieces' examples (`encoded`: per
  block, the serialized examples and their split keys, which are the
  examples themselves or a partition feature checked by `check_keys`) to
  one gzip TFRecord file per output split; returns the count per split.
  A file is named as complete (renamed) only once all of it is written."""
  targets = [shard(uri, index, count) for uri in outputs]
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  writers = [tf.io.TFRecordWriter(t + INCOMPLETE, options) for t in targets]
  writes = [w.write for w in writers]
  counts = [0] * len(writers)
  try:
    for records, keys in encoded:
      serialized = records.to_pylist()
      if not buckets:
        for record in serialized:
          writes[0](record)
        counts[0] += len(serialized)
        continue
      if keys is records:
        split_keys = serialized
      else:
        split_keys = keys.to_pylist()
        if check_keys is not None:
          check_keys(split_keys)
      split = splits(split_keys, buckets)
      for record, which in zip(serialized, split):
        writes[which](record)
      for which, n in collections.Counter(split).items():
        counts[which] += n
  finally:
    for writer in writers:
      writer.close()
  for target in targets:
    fileio.rename(target + INCOMPLETE, target, overwrite=True)
  return counts


class WritePiece(beam.DoFn):
  """Writes one part of an input file's examples to one gzip TFRecord file
  per output split, each split chosen by TFX's hash rule (write_file). A
  reader says how a part is encoded (`encoded`)."""

  def __init__(self, source: Any):
    self._source = source  # the reader's: outputs, buckets
    self._counter = beam.metrics.Metrics.counter(
        write_split.METRICS_NAMESPACE, 'num_instances')

  def encoded(self, piece: Piece, *side: Any
              ) -> Tuple[Iterator[Tuple[pa.Array, pa.Array]],
                         Optional[Callable[[List[bytes]], None]]]:
    """The part's (examples, split keys) per block, and the check of its
    partition keys (None: write_file's own)."""
    raise NotImplementedError

  def process(self, piece, *side):  # unannotated: Beam checks hints
    blocks, check_keys = self.encoded(piece, *side)
    counts = write_file(self._source.outputs, piece.index, piece.count,
                        blocks, self._source.buckets, check_keys)
    self._counter.inc(sum(counts))
    yield piece.path, counts


class ColumnarExecutor(BaseExampleGenExecutor):
  """BaseExampleGenExecutor.Do, with the splits written a part of a file at
  a time instead of record by record (WriteSplit). A subclass names itself
  (`WRITER`) and says how it reads: `input_sources` (from the configs'
  split plans) and `ingest` (one source into the Beam pipeline)."""

  WRITER = 'the columnar executor'

  def input_sources(self, exec_properties: Dict[str, Any],
                    output_dict: Dict[str, List[types.Artifact]]
                    ) -> List[Any]:
    raise NotImplementedError

  def ingest(self, pipeline: beam.Pipeline, source: Any) -> None:
    raise NotImplementedError

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    payload_format = exec_properties.get(specs.OUTPUT_DATA_FORMAT_KEY)
    if payload_format not in (None, example_gen_pb2.FORMAT_TF_EXAMPLE):
      raise ValueError(
          f'{self.WRITER} writes tf.Example records only; '
          f'output_data_format is {payload_format}')
    input_config, output_config = configs(exec_properties)
    examples = artifact_utils.get_single_instance(
        output_dict[specs.EXAMPLES_KEY])
    examples.split_names = artifact_utils.encode_split_names(
        utils.generate_output_split_names(input_config, output_config))
    output_file_format = exec_properties.get(
        specs.OUTPUT_FILE_FORMAT_KEY, example_gen_pb2.FILE_FORMAT_UNSPECIFIED)
    file_format = write_split.to_file_format_str(output_file_format)
    sources = self.input_sources(exec_properties, output_dict)
    for source in sources:
      for uri in source.outputs:
        fileio.makedirs(uri)
    with self._make_beam_pipeline() as pipeline:
      for source in sources:
        self.ingest(pipeline, source)
    for artifact in output_dict[specs.EXAMPLES_KEY]:
      if payload_format:
        examples_utils.set_payload_format(artifact, payload_format)
      if output_file_format:
        examples_utils.set_file_format(artifact, file_format)
