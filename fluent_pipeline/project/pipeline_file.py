"""A pipeline defined in a Python file, and its typed parameters.

The file defines `create_pipeline(**params)` (or another function, picked
with `--name`) returning a PipelineDef, or a PipelineDef at module level. The
function's keyword arguments are the pipeline's parameters, typed by their
annotations or defaults (int, float, bool, str, path); `--set name=value`
binds them, and the values are recorded in the run's configuration.

The file is imported as a module named after it, with its folder on
sys.path, exactly as `import my_pipeline` would: functions it defines are
then passed to TFX by the same dotted path whether the pipeline is run by
the CLI or imported and run from Python, so both hit the same cache.
"""

import dataclasses
import importlib.util
import inspect
import os
import pathlib
import sys
from typing import Any, Callable, Optional

from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.dsl.configuration import REDACTED
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.usercode import function_source

_TYPES = {int: 'int', float: 'float', bool: 'bool', str: 'str',
          pathlib.Path: 'path', os.PathLike: 'path'}
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')


@dataclasses.dataclass(frozen=True)
class Parameter:
  name: str
  type: str  # int | float | bool | str | path
  default: Any = inspect.Parameter.empty

  @property
  def required(self) -> bool:
    return self.default is inspect.Parameter.empty

  def describe(self) -> str:
    default = '' if self.required else f', default {self.default!r}'
    return f'{self.name} ({self.type}{default})'

  def parse(self, text: str, where: str) -> Any:
    """The typed value of `text`, or a clear error."""
    try:
      if self.type == 'int':
        return int(text)
      if self.type == 'float':
        return float(text)
      if self.type == 'bool':
        if text.lower() in _TRUE:
          return True
        if text.lower() in _FALSE:
          return False
        raise ValueError(text)
    except ValueError:
      raise PipelineDefinitionError(
          where, f'parameter {self.name} takes {_article(self.type)} '
          f'{self.type}, got {text!r}',
          fix=f'--set {self.name}=' + {
              'int': '300', 'float': '0.01', 'bool': 'true'}[self.type]
      ) from None
    return text


def _article(type_name: str) -> str:
  return 'an' if type_name[0] in 'aeiou' else 'a'


@dataclasses.dataclass
class PipelineFile:
  """A loaded pipeline file: its factory (if any) and parameters."""
  path: str
  label: str  # 'create_pipeline()' or the variable name
  factory: Optional[Callable[..., Any]]
  value: Any = None  # a module-level PipelineDef
  parameters: dict[str, Parameter] = dataclasses.field(default_factory=dict)

  def build(self, assignments: dict[str, str]):
    """The PipelineDef made with `assignments` (name -> text), its
    parameters (all of them, defaults applied) recorded."""
    return self.make(self.parse(assignments))

  @property
  def where(self) -> str:
    return f'{os.path.basename(self.path)}: {self.label}'

  def parse(self, assignments: dict[str, str]) -> dict[str, Any]:
    """The typed values of `assignments` (name -> text)."""
    where = self.where
    if self.factory is None:
      if assignments:
        raise PipelineDefinitionError(
            where, f'{self.label} is a PipelineDef, which takes no '
            'parameters', fix='define create_pipeline(name=default, ...) '
            'returning the PipelineDef to make its arguments parameters')
      return {}
    values = {}
    for name, text in assignments.items():
      if name not in self.parameters:
        raise PipelineDefinitionError(
            where, f'unknown parameter {name!r}', fix='valid parameters: ' +
            (', '.join(p.describe() for p in self.parameters.values())
             or 'none'))
      values[name] = self.parameters[name].parse(text, where)
    return values

  def make(self, values: dict[str, Any]):
    """The PipelineDef made with typed `values` (name -> value), its
    parameters (all of them, defaults applied) recorded."""
    where = self.where
    if self.factory is None:
      return self.value
    missing = [p.name for p in self.parameters.values()
               if p.required and p.name not in values]
    if missing:
      raise PipelineDefinitionError(
          where, f'parameter(s) {", ".join(missing)} have no default',
          fix=' '.join(f'--set {m}=...' for m in missing))
    made = self.factory(**values)
    if not isinstance(made, Chain):
      raise PipelineDefinitionError(
          where, f'returned a {type(made).__name__}, not a PipelineDef',
          fix='return the chain (PipelineDef(...)...)')
    bound = {p.name: values.get(p.name, p.default)
             for p in self.parameters.values()}
    return made.with_parameters(**{k: _as_recorded(v)
                                    for k, v in bound.items()})

  def resume_values(self, given: dict[str, Any], recorded: dict[str, Any],
                    run_id: str, override: bool
                    ) -> tuple[dict[str, Any], list[str]]:
    """The values to resume run `run_id` with: the ones it recorded
    (`recorded`, its configuration's parameters), and those `given` now,
    which must equal them unless `override`. Returns the values and, when
    overriding, one line per change."""
    values = {name: value for name, value in recorded.items()
              if name in self.parameters and value != REDACTED}
    changes = [f'{name}: the run being resumed used {recorded[name]!r}, '
               f'you gave {value!r}' for name, value in given.items()
               if name in values and _as_recorded(value) != values[name]]
    if changes and not override:
      raise PipelineDefinitionError(
          f'{self.where} --resume', f'run {run_id}, the run being resumed, '
          'used other parameter values:\n    ' + '\n    '.join(changes),
          fix='drop those --set (--resume alone resumes with the values '
          'that run used), or add --override to resume with yours '
          'deliberately')
    values.update(given)
    return values, changes


def _as_recorded(value: Any) -> Any:
  """A parameter's value as the configuration records it (a path as str)."""
  return os.fspath(value) if isinstance(value, os.PathLike) else value


def parameters_of(factory: Callable[..., Any]) -> dict[str, Parameter]:
  found = {}
  for param in inspect.signature(factory).parameters.values():
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
      continue
    annotation = param.annotation
    if isinstance(annotation, str):  # from __future__ import annotations
      annotation = {'int': int, 'float': float, 'bool': bool, 'str': str,
                    'pathlib.Path': pathlib.Path, 'Path': pathlib.Path}.get(
                        annotation, param.empty)
    type_name = _TYPES.get(annotation)
    if type_name is None and param.default is not param.empty:
      type_name = _TYPES.get(type(param.default))
      if isinstance(param.default, os.PathLike):
        type_name = 'path'
    found[param.name] = Parameter(param.name, type_name or 'str',
                                  param.default)
  return found


def load(path: str, name: Optional[str] = None) -> PipelineFile:
  """Imports the pipeline file and finds its factory or PipelineDef."""
  module = _import(path)
  namespace = vars(module)
  if name:
    if name not in namespace:
      raise SystemExit(f'error: {path} defines no {name!r}')
    found, label = namespace[name], name
  elif 'create_pipeline' in namespace:
    found, label = namespace['create_pipeline'], 'create_pipeline'
  else:
    defs = {k: v for k, v in namespace.items() if isinstance(v, Chain)}
    if len(defs) != 1:
      raise SystemExit(
          f'error: {path} defines {len(defs)} PipelineDefs '
          f'({", ".join(defs) or "none"}) and no create_pipeline(); pick one '
          'with --name')
    label, found = next(iter(defs.items()))
  if isinstance(found, Chain):
    return PipelineFile(path, label, None, value=found)
  if not callable(found):
    raise SystemExit(f'error: {label} in {path} is a '
                     f'{type(found).__name__}, not a PipelineDef')
  return PipelineFile(path, f'{label}()', found,
                      parameters=parameters_of(found))


def _import(path: str):
  """Imports `path` as the module `import <stem>` would give."""
  path = os.path.abspath(path)
  if not os.path.isfile(path):
    raise SystemExit(f'error: {path} does not exist')
  folder, file_name = os.path.split(path)
  module_name = os.path.splitext(file_name)[0]
  existing = sys.modules.get(module_name)
  if existing is not None and os.path.abspath(
      getattr(existing, '__file__', '') or '') == path:
    return existing
  if folder not in sys.path:
    sys.path.insert(0, folder)
  if not module_name.isidentifier() or existing is not None:
    module_name = (f'{function_source.PIPELINE_FILE_MODULE_PREFIX}'
                   f'{abs(hash(path))}')
  spec = importlib.util.spec_from_file_location(module_name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[module_name] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    del sys.modules[module_name]
    raise
  return module


def split_assignments(sets: list[str], extra: list[str]) -> dict[str, str]:
  """`--set a=1` values and `--a 1` / `--a=1` leftovers as name -> text."""
  found = {}
  for item in sets:
    name, eq, value = item.partition('=')
    if not eq or not name:
      raise SystemExit(f'error: --set {item!r}: expected name=value')
    found[name.strip().replace('-', '_')] = value
  i = 0
  while i < len(extra):
    arg = extra[i]
    if not arg.startswith('--') or arg == '--':
      raise SystemExit(f'error: unrecognized argument {arg!r}')
    name, eq, value = arg[2:].partition('=')
    if not eq:
      if i + 1 >= len(extra) or extra[i + 1].startswith('--'):
        raise SystemExit(f'error: {arg} needs a value ({arg} VALUE or '
                         f'--set {name.replace("-", "_")}=VALUE)')
      value = extra[i + 1]
      i += 1
    found[name.replace('-', '_')] = value
    i += 1
  return found
