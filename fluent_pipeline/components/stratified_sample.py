"""StratifiedSample: a deterministic sample of every stratum of the data.

The stratum of an example is its key: the values of `key_feature` (the value
itself when there is one, a tuple when there are several, None when the
feature is missing or empty: a stratum of its own), or what a user `key_fn`
returns for the example's features (a str, bytes, number or tuple of them:
the key is grouped by its repr(); anything else, None or a list included,
fails the step with WrongReturn). String features are str, as for
FilterExamples, and only the features key_fn reads are converted. The batch
form, `batch_key_fn`, gets a block of examples as a pandas DataFrame (as
FilterExamples' batch predicate) and returns a key per row (a Series, array
or list, or a DataFrame: a tuple per row); numpy's scalars are taken as
Python's, so that the same key gives the same strata, and the same sample,
in both forms. A key_feature no example of a split has fails the step
(KeyNotAFeature, naming the features there); a split whose examples all
fall in one stratum gets a `note` in `example_counts`.

Every example gets a 64-bit hash h of the seed and of the example's
deterministic serialization, so the sample depends on the seed and the data
only, never on the runner, its number of workers or the order and sharding
of the input:
- samples_per_key=N keeps, in every stratum, the N examples with the
  smallest (h, record bytes): the whole stratum when it has N or fewer;
- fraction=f keeps an example when h < f * 2**64: a decision per example,
  made while streaming, that keeps about f of every stratum (binomially
  distributed, not exactly f).

Kept records are written unchanged as ExampleGen writes them; splits not
chosen are copied byte for byte. The output records `example_counts`: per
sampled split, the examples in, out and kept per key (repr of the key).
"""

import hashlib
import json
import logging
import os
import struct
from typing import Any, Dict, List, Optional, Sequence

import apache_beam as beam
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import (
  base_beam_component,
  base_beam_executor,
  executor_spec,
)
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from fluent_pipeline.components import _examples_io

NAMESPACE = 'fluent_pipeline.StratifiedSample'
BLOCK = 4096  # examples per DataFrame of a batch key function


class KeyNotAFeature(ValueError):
  """key_feature is a feature of no example of a split: every example would
  fall in the one stratum None, and the sample would not be stratified."""


class StratifiedSampleSpec(types.ComponentSpec):
  PARAMETERS = {
      'key_feature': ExecutionParameter(type=str, optional=True),
      'key_fn': ExecutionParameter(type=str, optional=True),
      'batch_key_fn': ExecutionParameter(type=str, optional=True),
      'module_file': ExecutionParameter(type=str, optional=True),
      'module_path': ExecutionParameter(type=str, optional=True),
      'code_sha256': ExecutionParameter(type=str),
      'samples_per_key': ExecutionParameter(type=int, optional=True),
      'fraction': ExecutionParameter(type=float, optional=True),
      'splits': ExecutionParameter(type=str, optional=True),
      'seed': ExecutionParameter(type=int),
  }
  INPUTS = {'examples': ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {
      'reshaped_examples': ChannelParameter(type=standard_artifacts.Examples)}


def feature_key(features: Dict[str, list], name: str):
  """The key of key_feature: one value, a tuple of several, or None."""
  values = features.get(name)
  if not values:
    return None
  return values[0] if len(values) == 1 else tuple(values)


def example_hash(seed: int, proto) -> bytes:
  """8 bytes of sha256(seed, deterministic serialization): as bytes, they
  order as the big-endian 64-bit h does (and need no big-int coder)."""
  canonical = proto.SerializeToString(deterministic=True)
  return hashlib.sha256(struct.pack('>q', seed) + canonical).digest()[:8]


class _Key(beam.DoFn):
  """record -> (repr(key), (h, record)); the record stays unchanged."""

  def __init__(self, props: Dict[str, str], key_feature: Optional[str],
               seed: int, fmt: int, split: str):
    self._props, self._key_feature = props, key_feature
    self._seed, self._fmt = seed, fmt
    self._in = beam.metrics.Metrics.counter(NAMESPACE, f'{split}/in')
    self._absent = beam.metrics.Metrics.counter(NAMESPACE,
                                                f'{split}/key_absent')
    self._key_fn = self._names = None

  def setup(self):
    if self._props.get('key_fn'):
      self._key_fn = _examples_io.load_user_fn(self._props, 'key_fn')
      self._names = _examples_io.features_read(self._key_fn)
    else:
      self._names = frozenset((self._key_feature,))

  def process(self, record: bytes):
    self._in.inc()
    proto = _examples_io.parse(record, self._fmt)
    features = _examples_io.features_of(proto, self._fmt, self._names)
    if self._key_fn is not None:
      key = self._key_fn(features)
      if not _examples_io.is_key(key):
        _examples_io.raise_wrong_return(
            self._key_fn, self._props, features, key, 'key function',
            'a str, bytes, number or a tuple of them',
            'return the stratum, e.g. features[name][0], or a tuple of '
            'values (None puts every example in one stratum)',
            'return one value, features[{feature}][0], or a tuple: '
            'tuple(features[{feature}])')
    else:
      if self._key_feature not in features:
        self._absent.inc()
      key = feature_key(features, self._key_feature)
    yield repr(key), (example_hash(self._seed, proto), record)


class _KeyBatch(beam.DoFn):
  """A block of records (a list of bytes) -> (repr(key), (h, record)) per
  record, the keys from one call of the batch key function. Only the
  records the sample can keep leave the block: with fraction, those under
  the threshold; with samples_per_key=N, the N smallest (h, record) of each
  key in the block (the N smallest of a stratum are among those of its
  blocks), so the same examples are kept, with fewer Beam elements."""

  def __init__(self, props: Dict[str, str], seed: int, fmt: int, split: str,
               samples_per_key: Optional[int], fraction: Optional[float]):
    self._props, self._seed, self._fmt = props, seed, fmt
    self._n, self._fraction = samples_per_key, fraction
    self._in = beam.metrics.Metrics.counter(NAMESPACE, f'{split}/in')
    self._key_fn = self._frames = None

  def setup(self):
    self._key_fn = _examples_io.load_user_fn(self._props, 'batch_key_fn')
    self._frames = _examples_io.Frames(self._fmt, _examples_io.features_read(
        self._key_fn, attributes=True))

  def process(self, records: List[bytes]):
    self._in.inc(len(records))
    frame = self._frames(records)
    keys = _examples_io.batch_keys(self._key_fn, self._props, frame,
                                   self._key_fn(frame))
    keyed = [(repr(key), (example_hash(
        self._seed, _examples_io.parse(record, self._fmt)), record))
             for key, record in zip(keys, records)]
    if self._n:
      import heapq
      strata: Dict[str, list] = {}
      for key, value in keyed:
        strata.setdefault(key, []).append(value)
      for key, values in strata.items():
        for value in heapq.nsmallest(self._n, values):
          yield key, value
    else:
      threshold = self._fraction * 2.0**64
      yield from (k for k in keyed if _below(k, threshold))


def _below(keyed, threshold: float) -> bool:
  return int.from_bytes(keyed[1][0], 'big') < threshold


def _each(key_and_values):
  key, values = key_and_values
  return [(key, value) for value in values]


def _choose(keyed: beam.PCollection, split: str,
            samples_per_key: Optional[int],
            fraction: Optional[float]) -> beam.PCollection:
  """The kept (repr(key), (h, record)) of one split."""
  if samples_per_key:
    return (keyed
            | f'Smallest[{split}]' >> beam.combiners.Top.SmallestPerKey(
                samples_per_key)
            | f'Each[{split}]' >> beam.FlatMap(_each))
  return keyed | f'Threshold[{split}]' >> beam.Filter(
      _below, fraction * 2.0**64)


def _record(keyed) -> bytes:
  return keyed[1][1]


def _key(keyed) -> str:
  return keyed[0]


def _write_per_key(kept: beam.PCollection, split: str, prefix: str) -> None:
  """Writes [repr(key), kept] lines: a small side output read after the run."""
  _ = (kept
       | f'Keys[{split}]' >> beam.Map(_key)
       | f'PerKey[{split}]' >> beam.combiners.Count.PerElement()
       | f'Json[{split}]' >> beam.Map(json.dumps)
       | f'WritePerKey[{split}]' >> beam.io.WriteToText(prefix))


def _per_key_prefix(folder: str, split: str) -> str:
  """A folder per split: 'train*' would also match split 'train2'."""
  return os.path.join(folder, split, 'counts')


def _read_per_key(prefix: str) -> Dict[str, int]:
  counts = {}
  for path in fileio.glob(prefix + '*'):
    with fileio.open(path, 'r') as f:
      for line in f:
        if line.strip():
          key, count = json.loads(line)
          counts[key] = count
  return dict(sorted(counts.items()))


def _sample_split(pipeline, examples, output, split, fmt, exec_properties,
                  per_key_prefix) -> None:
  """Adds the sampling of one split to the pipeline."""
  if exec_properties.get('batch_key_fn'):
    props = _examples_io.user_fn_props(exec_properties, 'batch_key_fn')
    keyed = (_examples_io.read_split_blocks(pipeline, examples, split, BLOCK)
             | f'Key[{split}]' >> beam.ParDo(_KeyBatch(
                 props, exec_properties['seed'], fmt, split,
                 exec_properties.get('samples_per_key'),
                 exec_properties.get('fraction'))))
  else:
    props = _examples_io.user_fn_props(exec_properties, 'key_fn')
    keyed = (_examples_io.read_split(pipeline, examples, split)
             | f'Key[{split}]' >> beam.ParDo(_Key(
                 props, exec_properties.get('key_feature'),
                 exec_properties['seed'], fmt, split)))
  kept = _choose(keyed, split, exec_properties.get('samples_per_key'),
                 exec_properties.get('fraction'))
  records = (kept
             | f'Record[{split}]' >> beam.Map(_record)
             | f'Count[{split}]' >> beam.ParDo(
                 _examples_io.CountRecords(NAMESPACE, f'{split}/out')))
  _examples_io.write_split(records, output, split)
  _write_per_key(kept, split, per_key_prefix)


class Executor(base_beam_executor.BaseBeamExecutor):
  """Samples the chosen splits with Beam, copies the others."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    per_key_dir = os.path.join(self._get_tmp_dir(), 'per_key')
    if fileio.exists(per_key_dir):  # left by an earlier attempt
      fileio.rmtree(per_key_dir)

    def add_split(pipeline, examples, output, split, fmt):
      _sample_split(pipeline, examples, output, split, fmt, exec_properties,
                    _per_key_prefix(per_key_dir, split))
    output, chosen, counters = _examples_io.reshape(
        self, input_dict, output_dict, exec_properties, 'StratifiedSample',
        NAMESPACE, add_split)
    counts = {s: {'in': counters.get(f'{s}/in', 0),
                  'out': counters.get(f'{s}/out', 0),
                  'per_key': _read_per_key(_per_key_prefix(per_key_dir, s))}
              for s in chosen}
    fileio.rmtree(per_key_dir)
    key_feature = exec_properties.get('key_feature')
    for split in chosen:
      if key_feature and counts[split]['in'] and counters.get(
          f'{split}/key_absent', 0) == counts[split]['in']:
        raise _key_not_a_feature(input_dict, key_feature, split)
      if counts[split]['in'] and len(counts[split]['per_key']) == 1:
        (key,) = counts[split]['per_key']
        counts[split]['note'] = (
            f'one stratum: every example has the key {key}, so the sample '
            'is not stratified')
        logging.warning('StratifiedSample, split %r: %s', split,
                        counts[split]['note'])
    _examples_io.record_counts(output, counts)


def _key_not_a_feature(input_dict, key: str, split: str) -> KeyNotAFeature:
  """The error naming the key, the split's features and the closest one."""
  import difflib
  examples = artifact_utils.get_single_instance(input_dict['examples'])
  fmt = examples_utils.get_payload_format(examples)
  seen = _examples_io.first_features(examples, split, fmt, 1)
  present = sorted(seen[0]) if seen else []
  close = difflib.get_close_matches(key, present, n=1)
  return KeyNotAFeature(
      f'stratified_sample key {key!r} is not a feature of split {split!r}, '
      'so every example would fall in one stratum'
      + (f': did you mean {close[0]!r}?' if close else '')
      + f' Its features: {", ".join(present)}')


def _check_arguments(key_feature, key_fn, batch_key_fn, module_file,
                     samples_per_key, fraction, seed) -> None:
  """Exactly one key and one size, of sensible values."""
  if [bool(key_feature), bool(key_fn), bool(batch_key_fn)].count(True) != 1:
    raise ValueError('Give exactly one of key_feature (a feature name), '
                     'key_fn (a function of the features) and batch_key_fn '
                     '(a function of a DataFrame of examples).')
  if key_fn or batch_key_fn:
    _examples_io.check_user_fn(key_fn or batch_key_fn, module_file,
                               'key_fn' if key_fn else 'batch_key_fn')
  elif module_file:
    raise ValueError('module_file goes with key_fn; key_feature needs none.')
  if (samples_per_key is None) == (fraction is None):
    raise ValueError('Give exactly one of samples_per_key and fraction.')
  if samples_per_key is not None and (
      isinstance(samples_per_key, bool) or not isinstance(samples_per_key, int)
      or samples_per_key < 1):
    raise ValueError(f'samples_per_key must be an int >= 1, not '
                     f'{samples_per_key!r}.')
  if fraction is not None and not 0 < fraction <= 1:
    raise ValueError(f'fraction must be in (0, 1], not {fraction!r}.')
  if isinstance(seed, bool) or not isinstance(seed, int) or not (
      -2**63 <= seed < 2**63):
    raise ValueError(f'seed must be a 64-bit int, not {seed!r}.')


class StratifiedSample(base_beam_component.BaseBeamComponent):
  """A deterministic per-stratum sample (see the module docstring).

  key_feature, key_fn or batch_key_fn (a dotted path, or a function name
  in module_file); samples_per_key or fraction; seed; code_sha256: a hash
  of the function's source, so that TFX's cache sees a changed function;
  splits: the split names to sample (None: all), the others are copied
  unchanged.
  """

  SPEC_CLASS = StratifiedSampleSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, examples: types.BaseChannel,
               key_feature: Optional[str] = None,
               key_fn: Optional[str] = None,
               module_file: Optional[str] = None,
               samples_per_key: Optional[int] = None,
               fraction: Optional[float] = None, seed: int = 0,
               code_sha256: str = '',
               splits: Optional[Sequence[str]] = None,
               batch_key_fn: Optional[str] = None):
    _check_arguments(key_feature, key_fn, batch_key_fn, module_file,
                     samples_per_key, fraction, seed)
    super().__init__(spec=StratifiedSampleSpec(
        examples=examples, key_feature=key_feature, key_fn=key_fn,
        batch_key_fn=batch_key_fn,
        module_file=module_file, code_sha256=code_sha256,
        samples_per_key=samples_per_key,
        fraction=None if fraction is None else float(fraction), seed=seed,
        splits=_examples_io.splits_json(splits),
        reshaped_examples=channel.Channel(type=standard_artifacts.Examples)))
    _examples_io.package_user_module(self)
