"""The recorded plan behind a PipelineDef: plain immutable values, no TFX.

A chain call adds or replaces one `Step`; nothing is wired until build(), so
calls can come in any order and a shared prefix can seed several variants.
"""

import dataclasses
import types
from typing import Any, Mapping, Optional, Tuple

from fluent_pipeline import _paths
from fluent_pipeline.inputs import Source

_EMPTY = types.MappingProxyType({})


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
  extra_components: Tuple[Any, ...] = ()
  enable_cache: bool = False
  beam_pipeline_args: Tuple[str, ...] = ()
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

  def with_call_args(self, call: str, args: Mapping[str, Any]) -> 'Plan':
    """Attaches the arguments of chain call `call` to the step it made."""
    for kind, step in self.steps.items():
      if step.call == call:
        return self.with_step(kind, dataclasses.replace(
            step, args=types.MappingProxyType(dict(args))))
    return self

  def replace(self, **changes: Any) -> 'Plan':
    return dataclasses.replace(self, **changes)
