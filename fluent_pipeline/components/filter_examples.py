"""FilterExamples: keeps the examples a user predicate accepts.

The predicate gets each example's features as a dict (name -> list of ints,
floats or str: bytes only where a value is not UTF-8; a SequenceExample's
context features) and the example is kept when it returns True. Anything
but a bool (Python's or numpy's) fails the step (WrongReturn): a feature's
value taken as truthy would keep every example in silence. The chosen splits
are filtered in one Beam pipeline and written as ExampleGen writes them,
records unchanged; the other splits are copied byte for byte. The output
records how many examples each filtered split had and kept
(`example_counts`, with a `note` when a split kept every example), and a
split that keeps nothing fails the run (NothingKept, quoting the values the
split holds) instead of feeding an empty split on.

The predicate reads only the features it names: `features_read` finds them
in its bytecode (`features['x']`, `features.get('x')`, `'x' in features`),
and only those are converted; when it cannot tell, all are.

The batch form (`batch_predicate_fn`) gets a block of examples as a pandas
DataFrame (`_examples_io.Frames`: tf.Examples decoded by tfx_bsl's C++
decoder) and returns a boolean mask, one value per row: anything else (a
DataFrame, a mask of another length or dtype) fails the step the same way.

The predicate is loaded inside the Beam workers from the few strings that
name it (a worker may be another process, or another machine); a module file
is packaged into a wheel by TFX, as for Trainer.
"""

import logging
from typing import Any, Dict, List, Optional, Sequence

import apache_beam as beam
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import (
  base_beam_component,
  base_beam_executor,
  executor_spec,
)
from tfx.types import artifact_utils, channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from fluent_pipeline.components import _examples_io

NAMESPACE = 'fluent_pipeline.FilterExamples'
_QUOTED = 1000  # examples read again to quote a split that kept nothing
BLOCK = 4096  # examples per DataFrame of a batch predicate


class NothingKept(RuntimeError):
  """A filtered split kept none of its examples; `hint` quotes its data."""

  def __init__(self, split: str, count: int, predicate: str,
               hint: str = ''):
    self.split, self.count, self.predicate = split, count, predicate
    self.hint = hint
    super().__init__(
        f'FilterExamples kept none of the {count:,} examples of split '
        f'{split!r}: {predicate} returned False for every one'
        + (f'. {hint}' if hint else ''))

  def __reduce__(self):  # picklable, for runners that ship errors back
    return NothingKept, (self.split, self.count, self.predicate, self.hint)


class FilterExamplesSpec(types.ComponentSpec):
  PARAMETERS = {
      'predicate_fn': ExecutionParameter(type=str, optional=True),
      'batch_predicate_fn': ExecutionParameter(type=str, optional=True),
      'module_file': ExecutionParameter(type=str, optional=True),
      'module_path': ExecutionParameter(type=str, optional=True),
      'code_sha256': ExecutionParameter(type=str),
      'splits': ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {'examples': ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {
      'reshaped_examples': ChannelParameter(type=standard_artifacts.Examples)}


class _Keep(beam.DoFn):
  """Keeps the records (bytes, unchanged) the predicate accepts."""

  def __init__(self, props: Dict[str, str], fmt: int, split: str):
    self._props, self._fmt = props, fmt
    self._in = beam.metrics.Metrics.counter(NAMESPACE, f'{split}/in')
    self._out = beam.metrics.Metrics.counter(NAMESPACE, f'{split}/out')
    self._predicate = None

  def setup(self):
    self._predicate = _examples_io.load_user_fn(self._props, 'predicate_fn')
    self._names = _examples_io.features_read(self._predicate)

  def process(self, record: bytes):
    self._in.inc()
    proto = _examples_io.parse(record, self._fmt)
    features = _examples_io.features_of(proto, self._fmt, self._names)
    kept = self._predicate(features)
    if kept is not True and kept is not False and not _examples_io.is_bool(
        kept):
      _examples_io.raise_wrong_return(
          self._predicate, self._props, features, kept, 'predicate',
          'a bool', 'return True to keep the example and False to drop it, '
          "e.g. a comparison: features['name'] == ['value']",
          'return a comparison, e.g. features[{feature}] == {value}')
    if kept:
      self._out.inc()
      yield record


class _KeepBatch(beam.DoFn):
  """Keeps the records of a block (a list of bytes) for which the batch
  predicate's mask is True, as a block; the records stay unchanged."""

  def __init__(self, props: Dict[str, str], fmt: int, split: str):
    self._props, self._fmt = props, fmt
    self._in = beam.metrics.Metrics.counter(NAMESPACE, f'{split}/in')
    self._out = beam.metrics.Metrics.counter(NAMESPACE, f'{split}/out')
    self._predicate = self._frames = None

  def setup(self):
    self._predicate = _examples_io.load_user_fn(self._props,
                                                'batch_predicate_fn')
    self._frames = _examples_io.Frames(self._fmt, _examples_io.features_read(
        self._predicate, attributes=True))

  def process(self, records: List[bytes]):
    self._in.inc(len(records))
    frame = self._frames(records)
    mask = _examples_io.batch_mask(self._predicate, self._props, frame,
                                   self._predicate(frame))
    kept = [r for r, keep in zip(records, mask) if keep]
    self._out.inc(len(kept))
    if kept:
      yield kept  # a block: written as one element


class Executor(base_beam_executor.BaseBeamExecutor):
  """Filters the chosen splits with Beam, copies the others."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    props = _examples_io.user_fn_props(exec_properties, _fn_key(
        exec_properties))

    def add_split(pipeline, examples, output, split, fmt):
      if props.get('batch_predicate_fn'):
        kept = (_examples_io.read_split_blocks(pipeline, examples, split,
                                               BLOCK)
                | f'Filter[{split}]' >> beam.ParDo(
                    _KeepBatch(props, fmt, split)))
      else:
        kept = (_examples_io.read_split(pipeline, examples, split)
                | f'Filter[{split}]' >> beam.ParDo(_Keep(props, fmt, split)))
      _examples_io.write_split(kept, output, split, reshuffle=False,
                               blocks=bool(props.get('batch_predicate_fn')))
    output, chosen, counters = _examples_io.reshape(
        self, input_dict, output_dict, exec_properties, 'FilterExamples',
        NAMESPACE, add_split)
    counts = {s: {'in': counters.get(f'{s}/in', 0),
                  'out': counters.get(f'{s}/out', 0)} for s in chosen}
    for split in chosen:
      if counts[split]['in'] and counts[split]['out'] == counts[split]['in']:
        counts[split]['note'] = (
            f'kept every example: {_name(props)} returned True for all '
            f"{counts[split]['in']:,}")
        logging.warning('FilterExamples, split %r: %s', split,
                        counts[split]['note'])
    _examples_io.record_counts(output, counts)
    for split in chosen:
      if not counts[split]['out']:
        raise _nothing_kept(input_dict, props, split, counts[split]['in'])


def _fn_key(props: Dict[str, Any]) -> str:
  """The property naming the predicate: batch_predicate_fn, or predicate_fn."""
  return 'batch_predicate_fn' if props.get('batch_predicate_fn') else (
      'predicate_fn')


def _predicate(props: Dict[str, str]):
  """The predicate, loaded here to name it (None if it does not load)."""
  try:
    return _examples_io.load_user_fn(props, _fn_key(props))
  except Exception:  # naming it must not hide the failure being reported
    return None


def _name(props: Dict[str, str]) -> str:
  fn = _predicate(props)
  if fn is None:
    return props.get(_fn_key(props)) or 'the predicate'
  return _examples_io.fn_location(fn, props)[0]


def _nothing_kept(input_dict, props: Dict[str, str], split: str,
                  count: int) -> NothingKept:
  """NothingKept quoting the split's own values: those of the features the
  predicate names (else of its first string features), and where the
  predicate is."""
  fn = _predicate(props)
  if fn is None:
    return NothingKept(split, count, props.get(_fn_key(props)) or 'predicate')
  name, path, line = _examples_io.fn_location(fn, props)
  hint = ''
  try:
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    fmt = examples_utils.get_payload_format(examples)
    seen = _examples_io.first_features(examples, split, fmt, _QUOTED)
    read = _examples_io.features_read(fn, attributes=True) or ()
    named = _examples_io.named_features(fn, seen[0] if seen else {})
    hint = _examples_io.values_seen(
        seen, sorted(read) + [n for n in named if n not in read])
  except Exception as e:  # quoting the data must not hide the failure
    logging.warning('FilterExamples could not quote split %r: %s', split, e)
  if hint:
    hint = f'In its first {_QUOTED:,} examples, {hint}. '
  return NothingKept(split, count, name,
                     f'{hint}{name} is at {path}, line {line}')


class FilterExamples(base_beam_component.BaseBeamComponent):
  """Keeps the examples for which `predicate_fn(features)` is True, or
  those `batch_predicate_fn(df)` masks True (a block of examples as a
  pandas DataFrame; give one of the two).

  predicate_fn / batch_predicate_fn: a dotted path ('pkg.mod.fn'), or a
  function name in module_file. code_sha256: a hash of the predicate's
  source, so that TFX's cache sees a changed predicate. splits: the split
  names to filter (None: all); the others are copied unchanged.
  """

  SPEC_CLASS = FilterExamplesSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, examples: types.BaseChannel,
               predicate_fn: Optional[str] = None,
               module_file: Optional[str] = None, code_sha256: str = '',
               splits: Optional[Sequence[str]] = None,
               batch_predicate_fn: Optional[str] = None):
    if predicate_fn and batch_predicate_fn:
      raise ValueError('Give one of predicate_fn (a function of one '
                       "example's features) and batch_predicate_fn (of a "
                       'DataFrame of examples), not both.')
    if batch_predicate_fn:
      _examples_io.check_user_fn(batch_predicate_fn, module_file,
                                 'batch_predicate_fn')
    else:
      _examples_io.check_user_fn(predicate_fn, module_file, 'predicate_fn')
    super().__init__(spec=FilterExamplesSpec(
        examples=examples, predicate_fn=predicate_fn,
        batch_predicate_fn=batch_predicate_fn, module_file=module_file,
        code_sha256=code_sha256, splits=_examples_io.splits_json(splits),
        reshaped_examples=channel.Channel(type=standard_artifacts.Examples)))
    _examples_io.package_user_module(self)
