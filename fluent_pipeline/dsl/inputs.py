"""Where examples come from: one small value per kind of source.

A source is a plan for an ExampleGen, not the component itself, so the same
source can feed the training data (`PipelineDef.from_source`) or bulk inference
(`PipelineDef.bulk_infer`) and each gets its own component id. The TFX
input_config / output_config / range_config protos (or dicts of their fields)
control splits, spans and versions exactly as in TFX.

    from fluent_pipeline import inputs
    inputs.from_csv('data/')                  # a directory of CSV files
    inputs.from_csv('data/train.csv')         # one file
    inputs.from_tfrecord('gs://bucket/tfrecords/')

CSV and Parquet files are read by fluent_pipeline's columnar executors
(components.columnar_csv, columnar_parquet: the same examples in the same
splits as TFX's, about 10-16x faster); `reader='tfx'` keeps TFX's own.
"""

import dataclasses
import glob
import os
import re
from typing import TYPE_CHECKING, Any, Optional, Union

from google.protobuf import message

from fluent_pipeline import _paths
from fluent_pipeline.dsl import protos, tfx_v1
from fluent_pipeline.errors import PipelineDefinitionError

if TYPE_CHECKING:  # never imported at run time: TFX loads only when needed
  from tfx.v1.dsl.experimental import RuntimeParameter
  from tfx.v1.types import BaseNode

# The types of the public calls' arguments (the sources' and the chain's).
# A local path or a URI (gs://, s3://, ...):
StrPath = Union[str, os.PathLike[str]]
# A TFX proto argument: the proto itself or a dict of its fields (parsed with
# protobuf's json_format, so the names and nesting are the proto's own):
ProtoLike = Union[message.Message, dict[str, Any]]
# ... or a TFX RuntimeParameter (a JSON string of the proto, bound when a
# Kubeflow V2 / Vertex run is submitted; its default elsewhere):
ProtoArg = Union[ProtoLike, 'RuntimeParameter']

_PLACEHOLDER = re.compile(r'\{(SPAN|VERSION|YYYY|MM|DD)\}')
_FILE_KINDS = ('csv', 'tfrecord', 'parquet', 'avro')
# from_csv's and from_parquet's readers: fluent_pipeline's columnar
# executor (the default) or TFX's as it ships.
READERS = ('columnar', 'tfx')
_DEFAULT_IDS = {
    'csv': 'CsvExampleGen',
    'tfrecord': 'ImportExampleGen',
    'parquet': 'ParquetExampleGen',
    'avro': 'AvroExampleGen',
    'bigquery': 'BigQueryExampleGen',
}


@dataclasses.dataclass(frozen=True)
class Source:
  """A recorded ExampleGen: its kind, location and TFX configs."""
  kind: str
  location: Optional[str] = None
  input_config: Any = None
  output_config: Any = None
  range_config: Any = None
  component: Any = None
  reader: Optional[str] = None  # csv, parquet: one of READERS

  def __post_init__(self):
    # One meaning for an unset reader: the default, as built and recorded.
    if self.reader is None and self.kind in ('csv', 'parquet'):
      object.__setattr__(self, 'reader', READERS[0])

  @property
  def default_id(self) -> str:
    if self.component is not None:
      return self.component.id
    return _DEFAULT_IDS[self.kind]

  def describe(self) -> str:
    if self.component is not None:
      return f'{type(self.component).__name__} {self.component.id!r}'
    return f'{self.kind} {self.location!r}'

  def with_configs(self, **configs: Any) -> 'Source':
    return dataclasses.replace(self, **configs)

  def patterns(self) -> dict[str, str]:
    """Split name -> file pattern (relative to the location), as TFX reads."""
    if self.input_config is not None and self.input_config.splits:
      return {s.name: s.pattern for s in self.input_config.splits}
    return {'single_split': '*'}

  def files(self, pattern: Optional[str] = None) -> list[str]:
    """The local files TFX will read, for one split pattern or all of them
    ({SPAN}, {VERSION} and date placeholders match any value)."""
    location = self.location
    if (self.kind not in _FILE_KINDS or location is None
        or _paths.is_uri(location)):
      return []
    found = []
    for one in [pattern] if pattern else self.patterns().values():
      glob_pattern = _PLACEHOLDER.sub('*', one)
      found += sorted(p for p in glob.glob(
          os.path.join(location, glob_pattern)) if os.path.isfile(p))
    return found

  def check(self, step: str) -> None:
    """Refuses a local path that does not exist, holds no file matching the
    split patterns, or (CSV) holds an empty file."""
    path = self.location
    if self.kind not in _FILE_KINDS or path is None or _paths.is_uri(path):
      return
    fix = f'pass an existing directory of {self.kind} files to {step}'
    if not os.path.exists(path):
      raise PipelineDefinitionError(
          step, f'data path {path!r} does not exist', fix=fix)
    matched = []
    for split, pattern in self.patterns().items():
      files = self.files(pattern)
      if not files:
        if os.path.isdir(path) and not any(
            os.path.isfile(p) for p in glob.glob(
                os.path.join(path, '**'), recursive=True)):
          raise PipelineDefinitionError(
              step, f'data directory {path!r} is empty', fix=fix)
        raise PipelineDefinitionError(
            step, f'no file in {path!r} matches the pattern {pattern!r} of '
            f'split {split!r}', fix='fix input_config\'s split patterns '
            '(they are relative to the data directory) or add the files')
      matched += files
    for file in matched:
      if os.path.getsize(file) == 0:
        raise PipelineDefinitionError(
            step, f'data file {file!r} is empty', fix='remove it or write '
            'its rows' + (' (CSV files need a header row)'
                          if self.kind == 'csv' else ''))

  def make_component(self, component_id: Optional[str] = None
                     ) -> 'BaseNode':
    """Creates the TFX ExampleGen this source stands for."""
    if self.component is not None:
      return self.component
    component = _FACTORIES[self.kind](self)
    component_id = component_id or _DEFAULT_IDS[self.kind]
    if component_id != component.id:
      component = component.with_id(component_id)
    return component


def _file_source(kind: str, path: StrPath,
                 input_config: Optional[ProtoArg],
                 output_config: Optional[ProtoArg],
                 range_config: Optional[ProtoArg]) -> Source:
  step = f'from_{kind}'
  if not isinstance(path, (str, os.PathLike)):
    raise PipelineDefinitionError(
        step, f'path must be a string, not {type(path).__name__}',
        fix=f"{step}('path/to/data_dir')")
  path = _paths.absolute(path)
  from tfx.proto import example_gen_pb2, range_config_pb2
  input_config = protos.coerce(input_config, example_gen_pb2.Input,
                                step=step, arg='input_config')
  if os.path.isfile(path) and input_config is None:
    # One file: TFX reads directories, so point at its folder and match it.
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(
            name='single_split', pattern=os.path.basename(path))])
    path = os.path.dirname(path)
  return Source(
      kind=kind, location=path, input_config=input_config,
      output_config=protos.coerce(output_config, example_gen_pb2.Output,
                                   step=step, arg='output_config'),
      range_config=protos.coerce(range_config, range_config_pb2.RangeConfig,
                                  step=step, arg='range_config'))


def from_csv(path: StrPath, *,
             input_config: Optional[ProtoArg] = None,
             output_config: Optional[ProtoArg] = None,
             range_config: Optional[ProtoArg] = None,
             reader: str = 'columnar') -> Source:
  """CSV files with a header row [CsvExampleGen].

  reader='columnar' (the default) reads them with fluent_pipeline's
  columnar executor: the same examples in the same splits as TFX's, many
  times faster; reader='tfx' runs TFX's CsvExampleGen as it ships.
  """
  return dataclasses.replace(
      _file_source('csv', path, input_config, output_config, range_config),
      reader=_reader('from_csv', reader))


def _reader(step: str, reader: str) -> str:
  if reader not in READERS:
    raise PipelineDefinitionError(
        step, f'reader must be one of {", ".join(map(repr, READERS))}, not '
        f'{reader!r}', fix=f"{step}(path) (columnar) or {step}(path, "
        "reader='tfx')")
  return reader


def from_tfrecord(path: StrPath, *,
                  input_config: Optional[ProtoArg] = None,
                  output_config: Optional[ProtoArg] = None,
                  range_config: Optional[ProtoArg] = None) -> Source:
  """TFRecord files of tf.Example [ImportExampleGen]."""
  return _file_source('tfrecord', path, input_config, output_config,
                      range_config)


def from_parquet(path: StrPath, *,
                 input_config: Optional[ProtoArg] = None,
                 output_config: Optional[ProtoArg] = None,
                 range_config: Optional[ProtoArg] = None,
                 reader: str = 'columnar') -> Source:
  """Parquet files [FileBasedExampleGen]: read columnar by default (the same
  examples in the same splits as TFX's parquet executor, many times
  faster), reader='tfx' for TFX's parquet executor."""
  return dataclasses.replace(
      _file_source('parquet', path, input_config, output_config,
                   range_config), reader=_reader('from_parquet', reader))


def from_avro(path: StrPath, *,
              input_config: Optional[ProtoArg] = None,
              output_config: Optional[ProtoArg] = None,
              range_config: Optional[ProtoArg] = None) -> Source:
  """Avro files [FileBasedExampleGen with TFX's avro executor]."""
  return _file_source('avro', path, input_config, output_config, range_config)


def from_bigquery(query: str, *,
                  input_config: Optional[ProtoArg] = None,
                  output_config: Optional[ProtoArg] = None,
                  range_config: Optional[ProtoArg] = None) -> Source:
  """A BigQuery SQL query [BigQueryExampleGen].

  Compiles anywhere; running it needs Google Cloud credentials and network
  (pass --project and --temp_location with `with_beam_pipeline_args`).
  """
  step = 'from_bigquery'
  if not isinstance(query, str) or not query.strip():
    raise PipelineDefinitionError(
        step, 'query must be a non-empty SQL string',
        fix="from_bigquery('SELECT ... FROM `project.dataset.table`')")
  from tfx.proto import example_gen_pb2, range_config_pb2
  return Source(
      kind='bigquery', location=query,
      input_config=protos.coerce(input_config, example_gen_pb2.Input,
                                  step=step, arg='input_config'),
      output_config=protos.coerce(output_config, example_gen_pb2.Output,
                                   step=step, arg='output_config'),
      range_config=protos.coerce(range_config, range_config_pb2.RangeConfig,
                                  step=step, arg='range_config'))


def from_example_gen(component: 'BaseNode') -> Source:
  """Any ExampleGen component built by hand (it must output 'examples')."""
  from tfx.dsl.components.base import base_node
  if not isinstance(component, base_node.BaseNode) or (
      'examples' not in component.outputs):
    raise PipelineDefinitionError(
        'from_example_gen',
        f'expected a TFX ExampleGen component, got {type(component).__name__}',
        fix="pass a component with an 'examples' output, e.g. "
        "CsvExampleGen(input_base=...)")
  return Source(kind='component', component=component)


def _configs(source: Source) -> dict:
  return {k: v for k, v in (('input_config', source.input_config),
                            ('output_config', source.output_config),
                            ('range_config', source.range_config))
          if v is not None}


def _csv(source: Source):
  if source.reader == 'tfx':
    return tfx_v1.load().components.CsvExampleGen(
        input_base=source.location, **_configs(source))
  from fluent_pipeline.components.columnar_csv import ColumnarCsvExampleGen
  return ColumnarCsvExampleGen(input_base=source.location, **_configs(source))


def _tfrecord(source: Source):
  return tfx_v1.load().components.ImportExampleGen(input_base=source.location, **_configs(source))


def _file_based(executor_module: str, columnar: Optional[str] = None):
  def make(source: Source):
    import importlib

    from tfx.components import FileBasedExampleGen
    from tfx.dsl.components.base import executor_spec
    module = columnar if columnar and source.reader != 'tfx' \
        else executor_module
    executor = importlib.import_module(module).Executor
    return FileBasedExampleGen(
        input_base=source.location,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor),
        **_configs(source))
  return make


def _bigquery(source: Source):
  return tfx_v1.big_query_example_gen()(query=source.location, **_configs(source))


_FACTORIES = {
    'csv': _csv,
    'tfrecord': _tfrecord,
    'parquet': _file_based(
        'tfx.components.example_gen.custom_executors.parquet_executor',
        columnar='fluent_pipeline.components.columnar_parquet'),
    'avro': _file_based('tfx.components.example_gen.custom_executors.avro_executor'),
    'bigquery': _bigquery,
}

__all__ = ['Source', 'from_csv', 'from_tfrecord', 'from_parquet', 'from_avro',
           'from_bigquery', 'from_example_gen']
