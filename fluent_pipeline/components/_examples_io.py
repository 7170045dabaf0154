"""The splits of an Examples artifact, read and written as ExampleGen does.

Shared by FilterExamples and StratifiedSample: both read the gzip TFRecords
of some splits with Beam, keep some records unchanged (never re-serialized,
so what goes on is byte for byte what came in), write them as ExampleGen
does, copy the other splits file by file and carry the input's properties
over. Every path goes through `tfx.dsl.io.fileio` or Beam's file systems, so
artifact URIs may be remote (gs://, s3://).
"""

import json
import os
from typing import (
  AbstractSet,
  Any,
  Callable,
  Dict,
  FrozenSet,
  List,
  Optional,
  Sequence,
  Tuple,
)

import apache_beam as beam
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

FILE_PREFIX = 'data_tfrecord'  # ExampleGen's (write_split.py)
FILE_FORMAT = 'tfrecords_gzip'
FILE_FORMAT_PROPERTY = 'file_format'  # example_gen's FILE_FORMAT_PROPERTY_NAME
SUPPORTED_FORMATS = (example_gen_pb2.FORMAT_TF_EXAMPLE,
                     example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE)
USER_FN_KEYS = ('module_file', 'module_path')


# --- what the input holds ----------------------------------------------------


def split_names(examples: types.Artifact) -> List[str]:
  return artifact_utils.decode_split_names(examples.split_names)


def selected_splits(examples: types.Artifact,
                    splits_json: Optional[str]) -> List[str]:
  """The splits named by the `splits` exec property; all when it is empty."""
  known = split_names(examples)
  wanted = json.loads(splits_json) if splits_json else []
  unknown = [s for s in wanted if s not in known]
  if unknown:
    raise ValueError(f'Unknown split(s) {unknown}: the input Examples has '
                     f'splits {known}.')
  return [s for s in known if s in wanted] if wanted else known


def payload_format(examples: types.Artifact, component: str) -> int:
  """The payload format, refused unless it is tf.Example / SequenceExample
  in gzip TFRecords (the records a predicate or key reads)."""
  fmt = examples_utils.get_payload_format(examples)
  if fmt not in SUPPORTED_FORMATS:
    raise ValueError(
        f'{component} reads tf.Example and tf.SequenceExample records; the '
        f'input Examples holds {example_gen_pb2.PayloadFormat.Name(fmt)}.')
  file_format = examples_utils.get_file_format(examples)
  if file_format != FILE_FORMAT:
    raise ValueError(f'{component} reads {FILE_FORMAT} files; the input '
                     f'Examples holds {file_format}.')
  return fmt


def split_pattern(examples: types.Artifact, split: str) -> str:
  return examples_utils.get_split_file_patterns([examples], split)[0]


# --- records -----------------------------------------------------------------


def parse(record: bytes, fmt: int):
  """The tf.Example or tf.SequenceExample in `record`."""
  import tensorflow as tf
  if fmt == example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE:
    return tf.train.SequenceExample.FromString(record)
  return tf.train.Example.FromString(record)


def features_of(proto, fmt: int,
                names: Optional[AbstractSet[str]] = None
                ) -> Dict[str, list]:
  """Feature name -> Python list of its values: ints, floats, or str for
  string features (bytes where a value is not UTF-8), so that
  `features['region'] == ['south']` means what it says; the context
  features of a SequenceExample. names: only these features (those the
  user's function reads, `features_read`); None: all of them."""
  if fmt == example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE:
    features = proto.context.feature
  else:
    features = proto.features.feature
  if names is None:
    items = features.items()
  else:  # `in` first: indexing a proto map would add the name to it
    items = [(n, features[n]) for n in names if n in features]
  result = {}
  for name, feature in items:
    kind = feature.WhichOneof('kind')
    if kind == 'bytes_list':
      result[name] = [_text(v) for v in feature.bytes_list.value]
    else:
      result[name] = list(getattr(feature, kind).value) if kind else []
  return result


def _text(value: bytes):
  try:
    return value.decode('utf-8')
  except UnicodeDecodeError:
    return value


def first_features(examples: types.Artifact, split: str, fmt: int,
                   count: int) -> List[Dict[str, list]]:
  """The feature dicts of the first `count` examples of a split (read
  again after a run, to quote the data in a message)."""
  import tensorflow as tf
  files = sorted(p for p in fileio.glob(split_pattern(examples, split))
                 if not fileio.isdir(p))
  if not files:
    return []
  records = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return [features_of(parse(r, fmt), fmt)
          for r in records.take(count).as_numpy_iterator()]


def read_split(pipeline: beam.Pipeline, examples: types.Artifact,
               split: str) -> beam.PCollection:
  """The serialized records of one split, as bytes."""
  pattern = split_pattern(examples, split)
  if not fileio.glob(pattern):
    raise ValueError(f'Split {split!r} of {examples.uri} has no files '
                     f'({pattern}).')
  return pipeline | f'Read[{split}]' >> beam.io.ReadFromTFRecord(
      pattern, compression_type=CompressionTypes.GZIP)


def read_split_blocks(pipeline: beam.Pipeline, examples: types.Artifact,
                      split: str, size: int) -> beam.PCollection:
  """The serialized records of one split in blocks (lists of bytes) of
  `size`, read by tf.data (C++: no Beam element per record), then spread
  over the workers (a Reshuffle of the few blocks)."""
  pattern = split_pattern(examples, split)
  files = sorted(p for p in fileio.glob(pattern) if not fileio.isdir(p))
  if not files:
    raise ValueError(f'Split {split!r} of {examples.uri} has no files '
                     f'({pattern}).')
  return (pipeline
          | f'Files[{split}]' >> beam.Create(files)
          | f'ReadBlocks[{split}]' >> beam.FlatMap(_blocks, size)
          | f'Spread[{split}]' >> beam.Reshuffle())


def _blocks(path: str, size: int):
  import tensorflow as tf
  records = tf.data.TFRecordDataset([path], compression_type='GZIP')
  for block in records.batch(size).as_numpy_iterator():
    yield [bytes(r) for r in block]


def write_split(records: beam.PCollection, output: types.Artifact,
                split: str, reshuffle: bool = True,
                blocks: bool = False) -> None:
  """Writes records (bytes) to Split-<split> the way ExampleGen does;
  reshuffle=False keeps the input's spread over files (a filter's);
  blocks=True: the elements are lists of records, written in order."""
  uri = artifact_utils.get_split_uri([output], split)
  if reshuffle:
    records = records | f'Shuffle[{split}]' >> beam.Reshuffle()
  prefix = os.path.join(uri, FILE_PREFIX)
  if blocks:
    write = beam.io.Write(_BlockSink(prefix))
  else:
    write = beam.io.WriteToTFRecord(prefix, file_name_suffix='.gz')
  _ = records | f'Write[{split}]' >> write


class _BlockSink(tfrecordio._TFRecordSink):  # pylint: disable=protected-access
  """WriteToTFRecord's sink (the same files, names and gzip), for elements
  that are blocks of records: one Beam element per block, not per record."""

  def __init__(self, prefix: str):
    from apache_beam import coders
    super().__init__(prefix, coders.BytesCoder(), '.gz', 0, None,
                     CompressionTypes.AUTO)

  def write_record(self, file_handle, value):
    for record in value:
      self.write_encoded_record(file_handle, record)


def copy_split(examples: types.Artifact, output: types.Artifact,
               split: str) -> None:
  """Copies the files of a split byte for byte (the split is not touched)."""
  target = artifact_utils.get_split_uri([output], split)
  fileio.makedirs(target)
  for path in fileio.glob(split_pattern(examples, split)):
    if not fileio.isdir(path):
      fileio.copy(path, os.path.join(target, os.path.basename(path)),
                  overwrite=True)


# --- properties --------------------------------------------------------------


def copy_properties(examples: types.Artifact, output: types.Artifact) -> None:
  """split_names, payload and file format, span and version of the input."""
  output.split_names = examples.split_names
  examples_utils.set_payload_format(
      output, examples_utils.get_payload_format(examples))
  if examples.has_custom_property(FILE_FORMAT_PROPERTY):
    examples_utils.set_file_format(output, FILE_FORMAT)
  for name in ('span', 'version'):
    if examples.has_property(name):
      setattr(output, name, getattr(examples, name))


def record_counts(output: types.Artifact, counts: Dict[str, Any]) -> None:
  output.set_string_custom_property('example_counts',
                                    json.dumps(counts, sort_keys=True))


def splits_json(splits: Optional[Sequence[str]]) -> Optional[str]:
  """The `splits` exec property for a list of split names (None: all)."""
  if splits is None:
    return None
  if isinstance(splits, str):
    raise ValueError(f'splits takes a list of split names, not {splits!r}.')
  return json.dumps(list(splits))


# --- the executors' common course -------------------------------------------


def reshape(executor, input_dict: Dict[str, List[types.Artifact]],
            output_dict: Dict[str, List[types.Artifact]],
            exec_properties: Dict[str, Any], component: str, namespace: str,
            add_split: Callable[..., None]
            ) -> Tuple[types.Artifact, List[str], Dict[str, int]]:
  """Runs one Beam pipeline in which `add_split(pipeline, examples,
  output, split, fmt)` reshapes each chosen split, copies the other splits
  and returns (output artifact, chosen splits, Beam counters)."""
  examples = artifact_utils.get_single_instance(input_dict['examples'])
  output = artifact_utils.get_single_instance(
      output_dict['reshaped_examples'])
  fmt = payload_format(examples, component)
  chosen = selected_splits(examples, exec_properties.get('splits'))
  copy_properties(examples, output)  # split URIs need the names
  pipeline = executor._make_beam_pipeline()
  for split in chosen:
    add_split(pipeline, examples, output, split, fmt)
  counters = run(pipeline, namespace)
  for split in split_names(examples):
    if split not in chosen:
      copy_split(examples, output, split)
  return output, chosen, counters


# --- counters ----------------------------------------------------------------


class CountRecords(beam.DoFn):
  """Passes records on, counting them in a Beam counter."""

  def __init__(self, namespace: str, name: str):
    self._counter = beam.metrics.Metrics.counter(namespace, name)

  def process(self, element):
    self._counter.inc()
    yield element


def read_counters(result, namespace: str) -> Dict[str, int]:
  """The counters of a finished Beam pipeline, by name (any runner)."""
  from apache_beam.metrics.metric import MetricsFilter
  query = result.metrics().query(MetricsFilter().with_namespace(namespace))
  counts: Dict[str, int] = {}
  for counter in query['counters']:
    value = counter.committed
    if value is None:
      value = counter.attempted
    name = counter.key.metric.name
    counts[name] = counts.get(name, 0) + (value or 0)
  return counts


def run(pipeline: beam.Pipeline, namespace: str) -> Dict[str, int]:
  result = pipeline.run()
  result.wait_until_finish()
  return read_counters(result, namespace)


# --- user code ---------------------------------------------------------------


def package_user_module(component) -> None:
  """Has TFX package `module_file` into a wheel at run time, as Trainer does
  (the runner then fills `module_path`)."""
  from tfx.components.util import udf_utils
  if udf_utils.should_package_user_modules():
    udf_utils.add_user_module_dependency(component, 'module_file',
                                         'module_path')


def user_fn_props(exec_properties: Dict[str, Any], key: str) -> Dict[str, str]:
  """The few strings that locate a user function, all a Beam worker needs."""
  return {k: exec_properties[k] for k in (key,) + USER_FN_KEYS
          if exec_properties.get(k)}


_LOADED: Dict[Tuple[str, str], Callable[..., Any]] = {}


def load_user_fn(props: Dict[str, str], key: str) -> Callable[..., Any]:
  """The user function props[key] names, loaded by `udf_utils.get_fn`.

  A packaged module (module_path: a wheel named by its content hash) is
  loaded once per process: each get_fn pip-installs the wheel again, about
  1.4 s for every split's DoFn. With it, get_fn looks up a function named
  after the property (`key`), not its value: ask for the name instead."""
  from tfx.components.util import udf_utils
  name = props.get(key)
  module_path = props.get('module_path')
  if not module_path:
    return udf_utils.get_fn(props, key)
  cache_key = (module_path, name or key)
  if cache_key not in _LOADED:
    _LOADED[cache_key] = udf_utils.get_fn({'module_path': module_path},
                                          name or key)
  return _LOADED[cache_key]


def check_user_fn(name: Optional[str], module_file: Optional[str],
                  what: str) -> None:
  """A function name inside module_file, or a dotted path without it."""
  if not name:
    raise ValueError(f'{what} is required: a dotted path (pkg.mod.fn), or a '
                     'function name with module_file.')
  if module_file and '.' in name:
    raise ValueError(f'{what}={name!r}: with module_file, give the name of a '
                     'function in that file, not a dotted path.')
  if not module_file and '.' not in name:
    raise ValueError(f'{what}={name!r}: give a dotted path (pkg.mod.fn), or '
                     'module_file too.')


# --- what user functions return ----------------------------------------------


class WrongReturn(TypeError):
  """A user function returned what its step cannot use (a predicate a
  non-bool, a key function a list or None): taken as it is, it would pass
  silently (a truthy value keeps every example)."""


def fn_location(fn: Callable[..., Any], props: Dict[str, str]
                ) -> Tuple[str, str, int]:
  """(name, file, first line) of a user function, the file as the step was
  given it (module_file), not the copy TFX installed from a wheel."""
  name = getattr(fn, '__qualname__', None) or repr(fn)
  code = getattr(fn, '__code__', None)
  if code is None:
    return name, props.get('module_file') or '?', 0
  path = code.co_filename
  given = props.get('module_file')
  if given and os.path.basename(path) == os.path.basename(given):
    path = given
  return name, path, code.co_firstlineno


def return_line(fn: Callable[..., Any], features: Dict[str, list]
                ) -> Optional[int]:
  """The line at which `fn(features)` returns, found by calling it again
  under a profiler (only when reporting a wrong return)."""
  import sys
  code = getattr(fn, '__code__', None)
  if code is None:
    return None
  found: List[int] = []

  def profile(frame, event, arg):
    del arg
    if event == 'return' and frame.f_code is code:
      found.append(frame.f_lineno)
  previous = sys.getprofile()
  sys.setprofile(profile)
  try:
    fn(features)
  except Exception:  # the first call returned; this one is only to locate
    return None
  finally:
    sys.setprofile(previous)
  return found[-1] if found else None


def _short(text: str, limit: int = 60) -> str:
  return text if len(text) <= limit else text[:limit - 3] + '...'


def _feature_holding(value: Any, features: Dict[str, list]) -> Optional[str]:
  """The feature whose values (or one of them) `value` is, if any."""
  for name, values in features.items():
    try:
      if value == values or (values and any(value == v for v in values)):
        return name
    except Exception:  # an odd object's __eq__
      continue
  return None


def wrong_return(fn: Callable[..., Any], props: Dict[str, str],
                 features: Dict[str, list], value: Any, what: str,
                 expected: str, fix: str, fix_for_feature: str = ''
                 ) -> WrongReturn:
  """The error naming the function, its file and line, the value and its
  type, and what to return instead (`fix_for_feature`, formatted with the
  feature and value, when the value is a feature's)."""
  name, path, first = fn_location(fn, props)
  line = return_line(fn, features) or first
  held = _feature_holding(value, features)
  origin = f', a value of features[{held!r}]' if held else ''
  if held and fix_for_feature:
    shown = value if isinstance(value, list) else [value]
    fix = fix_for_feature.format(feature=repr(held),
                                 value=_short(repr(shown), 40))
  return WrongReturn(
      f'{what} {name} returned {_short(repr(value))} '
      f'({type(value).__name__}{origin}), not {expected}: {fix} '
      f'[{path}, line {line}]')


def raise_wrong_return(fn: Callable[..., Any], props: Dict[str, str],
                       features: Dict[str, list], value: Any, *args: str):
  """Raises wrong_return(...) from inside the user's frame, at the line that
  returned (calling `fn` again under a tracer), so that the traceback, and
  the run's failure, point at the user's own line."""
  import sys
  error = wrong_return(fn, props, features, value, *args)
  code = getattr(fn, '__code__', None)
  line = return_line(fn, features)
  if code is not None and line:
    def local(frame, event, arg):
      del arg
      if event == 'line' and frame.f_lineno == line:
        raise error
      return local

    def calls(frame, event, arg):
      del event, arg
      return local if frame.f_code is code else None
    previous = sys.gettrace()
    sys.settrace(calls)
    try:
      fn(features)
    except WrongReturn:
      raise
    except Exception:  # pylint: disable=broad-except
      pass  # a second call that fails otherwise: raise it plainly
    finally:
      sys.settrace(previous)
  raise error


def is_bool(value: Any) -> bool:
  import numpy as np
  return isinstance(value, (bool, np.bool_))


def is_key(value: Any) -> bool:
  """A stratum key: a str, bytes, number or bool, or a tuple of them."""
  import numpy as np
  if isinstance(value, tuple):
    return all(is_key(v) and not isinstance(v, tuple) for v in value)
  return isinstance(value, (str, bytes, int, float, np.generic))


# --- quoting the data ----------------------------------------------------------


def named_features(fn: Callable[..., Any],
                   features: Sequence[str]) -> List[str]:
  """The features a function's source names (as string literals), in the
  order written."""
  import inspect
  import re
  try:
    source = inspect.getsource(fn)
  except (OSError, TypeError):
    return []
  names = []
  for literal in re.findall(r'''(?:'([^'\\\n]*)'|"([^"\\\n]*)")''', source):
    name = literal[0] or literal[1]
    if name in features and name not in names:
      names.append(name)
  return names


def values_seen(examples: List[Dict[str, list]],
                names: Sequence[str] = (), per_feature: int = 4,
                features: int = 3) -> str:
  """The most common values of the named features (else of the first
  string features) in `examples`: "payment_type 'Cash' (61), ..."."""
  import collections
  if not examples:
    return ''
  names = [n for n in names if any(n in e for e in examples)]
  if not names:
    names = [n for n in sorted(examples[0]) if any(
        isinstance(v, (str, bytes)) for v in examples[0][n])]
  parts = []
  for name in names[:features]:
    counts = collections.Counter(
        v for e in examples for v in (e.get(name) or [None]))
    top = ', '.join(f'{_short(repr(v), 30)} ({n})'
                    for v, n in counts.most_common(per_feature))
    more = len(counts) - per_feature
    parts.append(f"features[{name!r}] holds {top}"
                 + (f' and {more} more' if more > 0 else ''))
  return '; '.join(parts)


# --- which features a function reads -----------------------------------------

# Names through which a function could reach its argument other than by name.
_INDIRECT = frozenset(('locals', 'vars', 'eval', 'exec'))
_CALLS = frozenset(('CALL_METHOD', 'PRECALL', 'CALL', 'CALL_FUNCTION'))


def features_read(fn: Callable[..., Any], attributes: bool = False
                  ) -> Optional[FrozenSet[str]]:
  """The features a function reads from its argument, found in its
  bytecode, when it reads them only as `features['name']`,
  `features.get('name'[, default])` or `'name' in features` (and, with
  `attributes`, a DataFrame's `df.name`); None when it cannot tell (the
  argument passed on, iterated, indexed by a variable...): read them all.
  The steps then convert only these features of each example."""
  import dis
  import inspect
  if not inspect.isfunction(fn):
    return None
  code = fn.__code__
  if (code.co_argcount + code.co_kwonlyargcount < 1
      or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)):
    return None
  arg = code.co_varnames[0]
  if arg in code.co_cellvars or _INDIRECT & set(code.co_names):
    return None  # used by a nested function, or reachable by name
  try:
    ops = list(dis.get_instructions(code))
  except Exception:  # an unusual code object: read everything
    return None
  names = set()
  for i, op in enumerate(ops):
    if not _mentions(op, arg):
      continue
    name = _read_at(ops, i, attributes)
    if name is None:
      return None
    names.add(name)
  return frozenset(names)


def _mentions(op, arg: str) -> bool:
  if not any(k in op.opname for k in ('FAST', 'DEREF', 'NAME', 'CLOSURE')):
    return False
  value = op.argval
  return value == arg or (isinstance(value, tuple) and arg in value)


def _read_at(ops, i: int, attributes: bool) -> Optional[str]:
  """The feature name read by the argument's load at ops[i], if it is one
  of the readings features_read knows."""
  def op(k):
    return ops[k] if 0 <= k < len(ops) else None

  def constant(k):
    o = op(k)
    return (o is not None and o.opname == 'LOAD_CONST'
            and isinstance(o.argval, str) and not o.is_jump_target)
  here, after = op(i), op(i + 1)
  if here.opname != 'LOAD_FAST' or here.is_jump_target or after is None:
    return None
  if constant(i + 1) and op(i + 2) is not None and (
      op(i + 2).opname == 'BINARY_SUBSCR' and not op(i + 2).is_jump_target):
    return after.argval  # features['name']
  if (after.opname in ('LOAD_METHOD', 'LOAD_ATTR') and after.argval == 'get'
      and constant(i + 2) and _closes_call(ops, i + 3)):
    return ops[i + 2].argval  # features.get('name'[, default])
  if (constant(i - 1) and after.opname == 'CONTAINS_OP'
      and not after.is_jump_target):
    return ops[i - 1].argval  # 'name' in features
  if attributes and after.opname == 'LOAD_ATTR' and not after.is_jump_target:
    import pandas as pd
    if not hasattr(pd.DataFrame, after.argval):
      return after.argval  # df.name
  return None


def _closes_call(ops, start: int) -> bool:
  """Whether ops[start:] push one value at most (a `get` default, calls in
  it included) and then call `get`, with no jump in between: the key is the
  constant before them. `get`'s own call is the one reached with n - 1
  values pushed since the key; a call inside the default has its callable
  and arguments above those."""
  import dis
  depth = 0
  for op in ops[start:start + 40]:
    if op.is_jump_target or 'JUMP' in op.opname or op.opname.startswith(
        ('RETURN', 'FOR_ITER', 'YIELD', 'RAISE')):
      return False
    if op.opname in _CALLS and op.arg is not None and depth == op.arg - 1:
      return op.arg in (1, 2)
    try:
      depth += dis.stack_effect(op.opcode, op.arg, jump=False)
    except ValueError:
      return False
    if depth < 0:
      return False
  return False


# --- a block of examples as a DataFrame ---------------------------------------


class Frames:
  """Turns a block of serialized records into the pandas DataFrame a batch
  function gets: one row per example, a column per feature; a feature with
  at most one value in every example of the block is a scalar column
  (int64, or Int64 with <NA> where some example lacks it; float64 with NaN;
  str with None), one with more a column of lists (None where absent).
  tf.Examples are decoded by tfx_bsl's C++ decoder (a pyarrow RecordBatch);
  a SequenceExample's context features are read record by record."""

  def __init__(self, fmt: int, names: Optional[AbstractSet[str]] = None):
    self._fmt, self._names = fmt, names
    self._decoder = None

  def __call__(self, records: Sequence[bytes]):
    import pandas as pd
    n = len(records)
    if self._fmt == example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE:
      columns = self._from_protos(records)
    else:
      columns = self._from_record_batch(records)
    if self._names is not None:
      columns = {name: columns.get(name, _absent(n))
                 for name in sorted(self._names)}
    return pd.DataFrame(dict(sorted(columns.items())),
                        index=pd.RangeIndex(n))

  def _from_record_batch(self, records):
    if self._decoder is None:
      from tfx_bsl.coders import example_coder
      self._decoder = example_coder.ExamplesToRecordBatchDecoder()
    batch = self._decoder.DecodeBatch(list(records))
    return {name: _arrow_column(column, len(records))
            for name, column in zip(batch.schema.names, batch.columns)
            if self._names is None or name in self._names}

  def _from_protos(self, records):
    dicts = [features_of(parse(r, self._fmt), self._fmt, self._names)
             for r in records]
    names = sorted({name for d in dicts for name in d})
    return {name: _lists_column([d.get(name) for d in dicts])
            for name in names}


def _absent(n: int):
  import numpy as np
  import pandas as pd
  return pd.Series(np.full(n, None, dtype=object))


def _arrow_column(column, n: int):
  """A RecordBatch column (a list array, or null where no example has a
  value) as a pandas Series, per the rules in Frames."""
  import numpy as np
  import pandas as pd
  import pyarrow as pa
  import pyarrow.compute as pc
  if pa.types.is_null(column.type):
    return _absent(n)
  value_type = column.type.value_type
  longest = pc.max(pc.list_value_length(column)).as_py()
  if longest is not None and longest > 1:  # a column of lists
    if pa.types.is_floating(value_type):
      column = column.cast(pa.large_list(pa.float64()))
    elif pa.types.is_binary(value_type) or pa.types.is_large_binary(
        value_type):
      try:
        column = column.cast(pa.large_list(pa.large_string()))
      except pa.ArrowInvalid:  # not UTF-8: bytes where a value is not
        return pd.Series([None if v is None else [_text(x) for x in v]
                          for v in column.to_pylist()], dtype=object)
    return pd.Series(column.to_pylist(), dtype=object)
  values = column.flatten()
  if pa.types.is_floating(value_type):
    values = values.cast(pa.float64())  # the per-record form's floats
  elif pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type):
    try:
      values = values.cast(pa.large_string())
    except pa.ArrowInvalid:
      out = np.full(n, None, dtype=object)
      out[pc.list_parent_indices(column).to_numpy()] = [
          _text(v) for v in values.to_pylist()]
      return pd.Series(out)
  if len(values) < n:  # examples without a value: nulls where they are
    at = np.full(n, -1, dtype=np.int64)
    at[pc.list_parent_indices(column).to_numpy()] = np.arange(len(values))
    values = values.take(pa.array(at, mask=at < 0))
  if pa.types.is_integer(values.type) and values.null_count:
    return values.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
  return values.to_pandas()


def _lists_column(lists: List[Optional[list]]):
  """Python lists (None: the feature is absent) as a column, per the rules
  in Frames."""
  import numpy as np
  import pandas as pd
  if any(v is not None and len(v) > 1 for v in lists):
    return pd.Series(lists, dtype=object)
  values = [v[0] if v else None for v in lists]
  present = [v for v in values if v is not None]
  if present and all(isinstance(v, int) for v in present):
    if len(present) < len(values):
      return pd.Series(pd.array(values, dtype='Int64'))
    return pd.Series(np.array(values, dtype=np.int64))
  if present and all(isinstance(v, float) for v in present):
    return pd.Series(np.array([np.nan if v is None else v for v in values],
                              dtype=np.float64))
  return pd.Series(np.array(values, dtype=object))


# --- what batch functions return ----------------------------------------------


def _describe(value: Any) -> str:
  """A returned value in a few words: its type, dtype and length."""
  import numpy as np
  import pandas as pd
  if isinstance(value, pd.DataFrame):
    return (f'a DataFrame of {len(value):,} rows and '
            f'{len(value.columns)} columns')
  if isinstance(value, (pd.Series, np.ndarray, pd.api.extensions.ExtensionArray)):
    kind = type(value).__name__
    shape = getattr(value, 'shape', (len(value),))
    size = (f'{shape[0]:,}' if len(shape) == 1
            else ' x '.join(str(s) for s in shape))
    return f'a {kind} of {size} {value.dtype}'
  if isinstance(value, (list, tuple)):
    return f'a {type(value).__name__} of {len(value):,}'
  return f'{_short(repr(value))} ({type(value).__name__})'


def _column_named(value: Any, frame) -> str:
  """", df['name']" when the value is one of the frame's columns."""
  import pandas as pd
  if isinstance(value, pd.Series):
    for name in frame.columns:
      if value is frame[name] or (value.name == name and value.equals(
          frame[name])):
        return f", df[{name!r}]"
  return ''


def wrong_batch_return(fn: Callable[..., Any], props: Dict[str, str], frame,
                       value: Any, what: str, expected: str, fix: str
                       ) -> WrongReturn:
  """WrongReturn for a batch function: its name, file and return line, what
  it returned (type, dtype, length) and what to return instead."""
  name, path, first = fn_location(fn, props)
  line = return_line(fn, frame) or first
  return WrongReturn(
      f'{what} {name} returned {_describe(value)}{_column_named(value, frame)}'
      f' for a block of {len(frame):,} examples, not {expected}: {fix} '
      f'[{path}, line {line}]')


def _aligned(value: Any, frame) -> Optional[str]:
  """Why a Series, array or list cannot be read row by row against the
  frame (None: it can)."""
  import numpy as np
  import pandas as pd
  if isinstance(value, pd.DataFrame) or not isinstance(
      value, (pd.Series, np.ndarray, list, pd.api.extensions.ExtensionArray)):
    return 'kind'
  if getattr(value, 'ndim', 1) != 1 or len(value) != len(frame):
    return 'length'
  if isinstance(value, pd.Series) and not value.index.equals(frame.index):
    return 'index'
  return None


_ALIGN_FIX = {
    'length': 'one value per row of the DataFrame, in its order',
    'index': "a Series on the DataFrame's own index (not sorted, filtered or "
             'reset)',
}


def batch_mask(fn: Callable[..., Any], props: Dict[str, str], frame,
               value: Any):
  """The numpy bool mask a batch predicate returned, checked: a bool
  Series, array or list with a value per row. <NA> (pandas' boolean dtype,
  from a comparison with a missing int) is False, as in `df[mask]`."""
  import numpy as np
  import pandas as pd
  why = _aligned(value, frame)
  if why is None:
    dtype = getattr(value, 'dtype', None)
    if dtype is None:
      array = np.asarray(value)
      dtype = array.dtype if all(is_bool(v) for v in value) else None
    if getattr(dtype, 'kind', None) == 'b':  # numpy's bool, pandas' boolean
      return np.asarray(pd.array(value, dtype='boolean').fillna(False),
                        dtype=bool)
    why = 'dtype'
  fix = _ALIGN_FIX.get(why) or (
      'return a boolean mask, a condition on the columns, e.g. '
      'df.trip_seconds > 0, or (df.fare > 0) & (df.payment_type == "Cash")')
  if why == 'kind' and isinstance(value, pd.DataFrame):
    fix = ('return the condition itself (df.trip_seconds > 0), not the rows '
           'it selects (df[df.trip_seconds > 0])')
  raise wrong_batch_return(fn, props, frame, value, 'batch predicate',
                           f'a boolean mask of {len(frame):,} values', fix)


def batch_keys(fn: Callable[..., Any], props: Dict[str, str], frame,
               value: Any) -> List[Any]:
  """The keys a batch key function returned, one per row, as Python values
  (numpy's int64 2 is the per-record form's 2, so that both group alike):
  a Series, array or list of keys, or a DataFrame (a tuple per row)."""
  import pandas as pd
  what, expected = 'batch key function', (
      f'{len(frame):,} keys (a str, bytes, number or tuple of them per '
      'example)')
  if isinstance(value, pd.DataFrame):
    why = ('length' if len(value) != len(frame) else
           'index' if not value.index.equals(frame.index) else None)
    rows = (None if why else
            list(zip(*(value[c].tolist() for c in value.columns))))
  else:
    why = _aligned(value, frame)
    rows = None if why else (value.tolist() if hasattr(value, 'tolist')
                             else list(value))
  if why:
    raise wrong_batch_return(
        fn, props, frame, value, what, expected, _ALIGN_FIX.get(why) or (
            'return a Series of keys, e.g. df.payment_type, or '
            'df.trip_start_hour // 6'))
  keys = [_plain(k) for k in rows]
  for row, key in enumerate(keys):
    if not is_key(key):
      raise wrong_batch_return(
          fn, props, frame, value, what, expected,
          f'row {row} holds {_short(repr(key), 40)} '
          f'({type(key).__name__}); fill missing values first, e.g. '
          "df.payment_type.fillna('none')")
  return keys


def _plain(value: Any) -> Any:
  """numpy scalars as Python's, within tuples too; pandas' NA as None."""
  import numpy as np
  import pandas as pd
  if isinstance(value, tuple):
    return tuple(_plain(v) for v in value)
  if isinstance(value, np.generic):
    return value.item()
  if value is pd.NA or value is pd.NaT:
    return None
  return value
