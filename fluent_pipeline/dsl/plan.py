"""The recorded plan behind a PipelineDef: plain immutable values, no TFX.

A chain call adds or replaces one `Step`; nothing is wired until build(), so
calls can come in any order and a shared prefix can seed several variants.
"""

import dataclasses
import os
import re
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from fluent_pipeline import _paths
from fluent_pipeline.dsl.inputs import Source
from fluent_pipeline.errors import PipelineDefinitionError

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


RESOURCES_CALL = 'with_resources'
_CPU = re.compile(r'(\d+(?:\.\d+)?)(m?)')
# Kubernetes' quantity suffixes (its decimal kilo is `k` only: the API
# refuses `K`); in bytes below, as Vertex's memory limit is in GB.
_MEMORY = re.compile(r'(\d+(?:\.\d+)?)(|k|M|G|T|Ki|Mi|Gi|Ti)')
_BYTES = {'': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12,
          'Ki': 2.0**10, 'Mi': 2.0**20, 'Gi': 2.0**30, 'Ti': 2.0**40}


@dataclasses.dataclass(frozen=True)
class Resources:
  """What one step asks of the machine running it (with_resources):
  Kubernetes / Vertex take cpu, memory and the GPUs, Airflow the queue and
  pool. `cpu` and `memory` are Kubernetes quantities ('8', '500m'; '32G',
  '512Mi')."""
  cpu: Optional[str] = None
  memory: Optional[str] = None
  gpu: int = 0
  gpu_type: Optional[str] = None
  queue: Optional[str] = None
  pool: Optional[str] = None
  pool_slots: Optional[int] = None

  @classmethod
  def checked(cls, step: str, *, cpu: Union[int, float, str, None] = None,
              memory: Union[int, str, None] = None, gpu: int = 0,
              gpu_type: Optional[str] = None, queue: Optional[str] = None,
              pool: Optional[str] = None, pool_slots: Optional[int] = None
              ) -> 'Resources':
    """The values of with_resources(step, ...) checked and normalized."""
    where = f'{RESOURCES_CALL}({step!r})'
    if cpu is not None:
      text = _number_text(cpu) if _is_number(cpu) else cpu
      found = _CPU.fullmatch(text) if isinstance(text, str) else None
      if found is None or float(found.group(1)) <= 0:
        raise PipelineDefinitionError(
            where, f'cpu={cpu!r} is not a positive number of CPUs',
            fix=f"{RESOURCES_CALL}({step!r}, cpu=8) (or cpu=0.5, "
            "cpu='500m')")
      cpu = text
    if memory is not None:
      text = str(memory) if _is_number(memory) and memory == int(memory) \
          else memory
      found = _MEMORY.fullmatch(text) if isinstance(text, str) else None
      if found is None or float(found.group(1)) <= 0:
        raise PipelineDefinitionError(
            where, f'memory={memory!r} is not an amount of memory',
            fix=f"{RESOURCES_CALL}({step!r}, memory='32G') (a number and "
            'one of the suffixes k, M, G, T, Ki, Mi, Gi, Ti, as Kubernetes '
            'writes them; a bare number is bytes)')
      memory = text
    if gpu is None:
      gpu = 0
    if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
      raise PipelineDefinitionError(
          where, f'gpu={gpu!r} is not a number of GPUs',
          fix=f'{RESOURCES_CALL}({step!r}, gpu=1, gpu_type=...)')
    if gpu_type is not None and (not isinstance(gpu_type, str) or
                                 not gpu_type):
      raise PipelineDefinitionError(
          where, f'gpu_type={gpu_type!r} is not an accelerator name',
          fix="gpu_type='NVIDIA_TESLA_T4' (Vertex's name)")
    if gpu_type and not gpu:
      raise PipelineDefinitionError(
          where, f'gpu_type={gpu_type!r} without a number of GPUs',
          fix=f'{RESOURCES_CALL}({step!r}, gpu=1, gpu_type={gpu_type!r})')
    for arg, value in (('queue', queue), ('pool', pool)):
      if value is not None and (not isinstance(value, str) or
                                not value.strip()):
        raise PipelineDefinitionError(
            where, f'{arg}={value!r} is not a name',
            fix=f"{RESOURCES_CALL}({step!r}, {arg}='gpu')")
    if pool_slots is not None and (
        isinstance(pool_slots, bool) or not isinstance(pool_slots, int) or
        pool_slots < 1):
      raise PipelineDefinitionError(
          where, f'pool_slots={pool_slots!r} is not a positive int',
          fix=f"{RESOURCES_CALL}({step!r}, pool='training', pool_slots=2)")
    return cls(cpu=cpu, memory=memory, gpu=gpu, gpu_type=gpu_type,
               queue=queue, pool=pool, pool_slots=pool_slots)

  def as_dict(self) -> dict[str, Any]:
    """The values given (what the configuration and the DAG file hold)."""
    return {k: v for k, v in dataclasses.asdict(self).items()
            if v not in (None, 0)}

  @property
  def cpus(self) -> Optional[float]:
    """cpu as a number of CPUs (Vertex's cpuLimit)."""
    if self.cpu is None:
      return None
    found = _CPU.fullmatch(self.cpu)
    return float(found.group(1)) / (1000 if found.group(2) else 1)

  @property
  def memory_gb(self) -> Optional[float]:
    """memory in GB of 10^9 bytes (Vertex's memoryLimit)."""
    if self.memory is None:
      return None
    found = _MEMORY.fullmatch(self.memory)
    return float(found.group(1)) * _BYTES[found.group(2)] / 1e9


def _is_number(value: Any) -> bool:
  """A finite int or float (inf and nan are no amount)."""
  import math
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def _number_text(value: Union[int, float]) -> str:
  return str(int(value)) if value == int(value) else repr(float(value))


# The with_resources values each target applies (docs/SCALING.md's table);
# LocalDagRunner and Beam apply none.
APPLIED_BY = {
    'airflow': ('queue', 'pool', 'pool_slots'),
    'kubernetes': ('cpu', 'memory', 'gpu', 'queue', 'pool', 'pool_slots'),
    'vertex': ('cpu', 'memory', 'gpu', 'gpu_type'),
    'kubeflow_v2': ('cpu', 'memory', 'gpu', 'gpu_type'),
}


def not_applied(plan: 'Plan', target: str) -> Optional[str]:
  """The with_resources values `target` ignores, said as a note (None
  when it applies them all), so that no value is dropped unsaid."""
  applied = APPLIED_BY.get(target, ())
  dropped = [f'{step} ({", ".join(k for k in r.as_dict() if k not in applied)})'
             for step, r in plan.resources.items()
             if any(k not in applied for k in r.as_dict())]
  if not dropped:
    return None
  takes = (f'it applies only {", ".join(applied)}' if applied else
           'it applies none of them')
  return (f'{target} ignores these with_resources values: '
          f'{"; ".join(dropped)}; {takes} (docs/SCALING.md, "Per-step '
          'resources")')


def resources_by_node(plan: 'Plan', nodes_by_call: Mapping[str, Iterable[str]],
                      node_ids: Iterable[str],
                      named_by: Optional[dict[str, str]] = None
                      ) -> dict[str, Resources]:
  """Node id -> its Resources, from the plan's with_resources calls: a step
  named by its chain call ('train', 'from_csv': the call's own component,
  listed first in nodes_by_call, not the helper nodes it adds, such as
  evaluate_model's resolver, which a GPU would be wasted on) or by a node
  id ('Trainer'; case aside). A name the built pipeline lacks
  is an error naming the closest ones. `named_by`, when given, gets node id
  -> the name that named it."""
  node_ids = list(node_ids)
  calls = {call: list(ids) for call, ids in nodes_by_call.items()}
  for call in list(calls):
    if call.startswith('from_'):
      calls.setdefault('from_source', calls[call])
  found: dict[str, Resources] = {}
  named_by = {} if named_by is None else named_by
  for step, resources in plan.resources.items():
    if step in calls:
      ids = calls[step][:1]
    elif step in node_ids:
      ids = [step]
    else:
      ids = [n for n in node_ids if n.lower() == step.lower()]
      if len(ids) > 1:
        raise PipelineDefinitionError(
            f'{RESOURCES_CALL}({step!r})', f'{step!r} names the nodes '
            f'{" and ".join(ids)}, which differ only in case',
            fix=f'name one exactly: {RESOURCES_CALL}({ids[0]!r}, ...)')
    if not ids:
      import difflib
      names = sorted(set(calls) | set(node_ids))
      by_lower = {n.lower(): n for n in names}
      close = [by_lower[n] for n in difflib.get_close_matches(
          step.lower(), list(by_lower), n=2, cutoff=0.5)]
      hint = f'did you mean {" or ".join(map(repr, close))}? ' if close \
          else ''
      raise PipelineDefinitionError(
          f'{RESOURCES_CALL}({step!r})', f'the pipeline has no step '
          f'{step!r}', fix=f'{hint}name a chain call or a node id: '
          f'{", ".join(names)}')
    for node in ids:
      if node in named_by:
        raise PipelineDefinitionError(
            f'{RESOURCES_CALL}({step!r})', f'node {node} is named by '
            f'{named_by[node]!r} too, which also sets its resources',
            fix=f'keep one {RESOURCES_CALL} call for {node}')
      named_by[node] = step
      found[node] = resources
  return found


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
  resources: Mapping[str, Resources] = _EMPTY  # step name -> what it asks

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

  def with_resources(self, step: str, resources: Resources) -> 'Plan':
    """`resources` for `step`, replacing what an earlier call set; none
    given: the step's are dropped."""
    found = dict(self.resources)
    found.pop(step, None)
    if resources.as_dict():
      found[step] = resources
    return dataclasses.replace(self, resources=types.MappingProxyType(found))

  def replace(self, **changes: Any) -> 'Plan':
    return dataclasses.replace(self, **changes)
