"""The recorded plan behind a PipelineDef: plain immutable values, no TFX.

A chain call adds or replaces one `Step`; nothing is wired until build(), so
calls can come in any order and a shared prefix can seed several variants.
"""

import dataclasses
import os
import sys
import types
from collections.abc import Mapping
from typing import Any, Optional

from fluent_pipeline import _paths
from fluent_pipeline.dsl.inputs import Source

_EMPTY = types.MappingProxyType({})

# Pipeline order of the step kinds that a chain holds at most once; dataset
# steps (RESHAPE_PREFIX + n, in the order written) come before them all.
STEP_ORDER = (
    'statistics', 'schema', 'imported_schema', 'validate', 'transform',
    'tuner', 'imported_hyperparameters', 'base_model', 'trainer', 'evaluator',
    'infra_validator', 'pusher', 'bulk_inferrer')
RESHAPE_PREFIX = 'reshape_'

# Step kind -> (the argument holding its user code, TFX's name for the
# function). A dataset step names its own in opts ('code_arg', 'fn_name').
CODE_STEPS = {'transform': ('preprocessing_fn', 'preprocessing_fn'),
              'tuner': ('tuner_fn', 'tuner_fn'),
              'trainer': ('run_fn', 'run_fn')}


class _Latest:
  """Sentinel for `with_base_model(latest)`: the newest trained model
  (`fluent_pipeline.latest`)."""

  def __repr__(self) -> str:
    return 'fluent_pipeline.latest'


latest = _Latest()

# The function a pipeline file defines to make its pipeline (the CLI's
# default); the arguments it was called with are the run's parameters.
FACTORY_NAME = 'create_pipeline'
_SIMPLE = (type(None), bool, int, float, str)


def factory_arguments() -> Mapping[str, Any]:
  """The arguments of the `create_pipeline(...)` call making this chain, when
  `PipelineDef(...)` is called directly inside one: a Python call
  `create_pipeline(epochs=3)` records its parameters as `fluent-pipeline run
  FILE --set epochs=3` does. Only values a command line could give (None,
  bool, int, float, str, paths) are recorded; any other argument is a step
  argument the configuration records where it is used."""
  frame = sys._getframe(1)
  while frame is not None and frame.f_globals.get(
      '__name__', '').split('.')[0] == 'fluent_pipeline':
    frame = frame.f_back
  if frame is None or frame.f_code.co_name != FACTORY_NAME:
    return _EMPTY
  code = frame.f_code
  names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
  found = {}
  for name in names:
    value = frame.f_locals.get(name)
    if isinstance(value, os.PathLike):
      value = os.fspath(value)
    if isinstance(value, _SIMPLE):
      found[name] = value
  return types.MappingProxyType(found)


def is_reshape(kind: str) -> bool:
  return kind.startswith(RESHAPE_PREFIX)


@dataclasses.dataclass(frozen=True)
class Step:
  """One chain call: `tfx` goes to the TFX component as keyword arguments,
  `opts` holds what only the wiring reads (user code, which examples, ...),
  `args` the call's own arguments (defaults applied), as the configuration
  artifact records them and `PipelineDef.from_run` replays them."""
  call: str
  tfx: Mapping[str, Any] = _EMPTY
  opts: Mapping[str, Any] = _EMPTY
  args: Mapping[str, Any] = _EMPTY

  @classmethod
  def of(cls, call: str, tfx: Optional[dict] = None,
         opts: Optional[dict] = None) -> 'Step':
    def frozen(d):
      return types.MappingProxyType(
          {k: v for k, v in (d or {}).items() if v is not None})
    return cls(call, frozen(tfx), frozen(opts))


@dataclasses.dataclass(frozen=True)
class Plan:
  """Everything a PipelineDef knows; build() turns it into TFX objects."""
  name: str
  root: str
  source: Optional[Source] = None
  steps: Mapping[str, Step] = _EMPTY
  extra_components: tuple[Any, ...] = ()
  enable_cache: bool = False
  beam_pipeline_args: tuple[str, ...] = ()
  metadata_path: Optional[str] = None
  metadata_config: Any = None
  record_configuration: bool = True
  parameters: Mapping[str, Any] = _EMPTY

  @property
  def pipeline_root(self) -> str:
    return _paths.join(self.root, self.name)

  def with_step(self, kind: str, step: Step) -> 'Plan':
    steps = dict(self.steps)
    steps[kind] = step
    return dataclasses.replace(self, steps=types.MappingProxyType(steps))

  def with_reshape(self, step: Step) -> 'Plan':
    """Appends a dataset step: they run in the order written."""
    return self.with_step(
        f'{RESHAPE_PREFIX}{len(self.reshape_kinds()) + 1}', step)

  def reshape_kinds(self) -> list[str]:
    return sorted((k for k in self.steps if is_reshape(k)),
                  key=lambda k: int(k[len(RESHAPE_PREFIX):]))

  def ordered(self) -> list[tuple[str, Step]]:
    """(kind, step) in pipeline order: dataset steps, then STEP_ORDER."""
    kinds = self.reshape_kinds() + [k for k in STEP_ORDER if k in self.steps]
    return [(kind, self.steps[kind]) for kind in kinds]

  def code_steps(self) -> list[tuple[str, Step, str, str]]:
    """(kind, step, argument, TFX function name) of each step holding user
    code, in pipeline order."""
    found = []
    for kind, step in self.ordered():
      if kind in CODE_STEPS:
        found.append((kind, step) + CODE_STEPS[kind])
      elif 'code' in step.opts:
        found.append((kind, step, step.opts['code_arg'], step.opts['fn_name']))
    return found

  def with_call_args(self, call: str, args: Mapping[str, Any]) -> 'Plan':
    """Attaches the arguments of chain call `call` to the step it made (the
    latest one made by that call)."""
    for kind, step in reversed(list(self.steps.items())):
      if step.call == call:
        return self.with_step(kind, dataclasses.replace(
            step, args=types.MappingProxyType(dict(args))))
    return self

  def replace(self, **changes: Any) -> 'Plan':
    return dataclasses.replace(self, **changes)
