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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
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


def features_of(proto, fmt: int) -> Dict[str, list]:
  """Feature name -> Python list of its values: ints, floats, or str for
  string features (bytes where a value is not UTF-8), so that
  `features['region'] == ['south']` means what it says; the context
  features of a SequenceExample."""
  if fmt == example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE:
    features = proto.context
  else:
    features = proto.features
  result = {}
  for name, feature in features.feature.items():
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


def write_split(records: beam.PCollection, output: types.Artifact,
                split: str, reshuffle: bool = True) -> None:
  """Writes records (bytes) to Split-<split> the way ExampleGen does;
  reshuffle=False keeps the input's spread over files (a filter's)."""
  uri = artifact_utils.get_split_uri([output], split)
  if reshuffle:
    records = records | f'Shuffle[{split}]' >> beam.Reshuffle()
  _ = (records
       | f'Write[{split}]' >> beam.io.WriteToTFRecord(
           os.path.join(uri, FILE_PREFIX), file_name_suffix='.gz'))


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
