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

Before that, `declared` reads the parameters from the file's syntax tree, so
that a mistyped `--set` is said at once: importing a file that imports
TensorFlow or TFMA at its top takes 10 s.
"""

import ast
import dataclasses
import importlib.util
import inspect
import os
import pathlib
import sys
from typing import Any, Callable, Optional

from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.dsl.configuration import REDACTED, is_secret
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.usercode import function_source

_TYPES = {int: 'int', float: 'float', bool: 'bool', str: 'str',
          pathlib.Path: 'path', os.PathLike: 'path'}
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')


class ArgumentError(SystemExit):
  """A `--set` / `--NAME VALUE` that cannot be read as a parameter: a
  command-line mistake, which the CLI reports with exit code 2."""


class _Source:
  """A default as the file spells it (`os.path.join(HERE, 'runs')`), when
  the syntax tree gives no value: shown, never evaluated."""

  def __init__(self, text: str):
    self.text = text

  def __repr__(self) -> str:
    return self.text


@dataclasses.dataclass(frozen=True)
class Parameter:
  name: str
  type: Optional[str]  # int | float | bool | str | path; None: not known
  # before the file runs (an annotation the syntax tree cannot resolve)
  default: Any = inspect.Parameter.empty

  @property
  def required(self) -> bool:
    return self.default is inspect.Parameter.empty

  @property
  def secret(self) -> bool:
    """Named like a password or token: its default is never shown."""
    return is_secret(self.name, self.default)

  def describe(self) -> str:
    shown = repr(REDACTED if self.secret else self.default)
    default = '' if self.required else f'default {shown}'
    kind = ', '.join(t for t in (self.type, default) if t)
    return f'{self.name} ({kind})' if kind else self.name

  def example(self) -> str:
    """The value a fix quotes: the parameter's own default, as --set
    takes it, else a value of its type."""
    if not self.required and not isinstance(self.default, _Source) and \
        not self.secret:
      if self.type == 'bool' and isinstance(self.default, bool):
        return str(self.default).lower()
      if self.type in ('int', 'float') and isinstance(
          self.default, (int, float)) and not isinstance(self.default, bool):
        return repr(self.default)
    return {'int': '300', 'float': '0.01', 'bool': 'true'}.get(
        self.type or '', 'VALUE')

  def parse(self, text: str, where: str) -> Any:
    """The typed value of `text`, or a clear error."""
    if self.type is None:
      return text  # only checked before the file runs: load() types it
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
          f'{self.type}, got {text!r}', fix=self.fix()) from None
    return text

  def fix(self) -> str:
    """How to give this parameter: `--set name=<its default>`, and for a
    bool its flags."""
    own = not self.required and not isinstance(self.default, _Source) and \
        not self.secret
    fix = f'--set {self.name}={self.example()}' + (
        ' (its default)' if own else '')
    if self.type == 'bool':
      flag = self.name.replace('_', '-')
      fix += f', or --{flag} / --no-{flag}'
    elif self.type:
      fix += f', or another {self.type}'
    return fix


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

  def check(self, values: dict[str, Any]) -> None:
    """A clear error unless `values` gives every parameter without a
    default."""
    missing = [p.name for p in self.parameters.values()
               if p.required and p.name not in values]
    if missing:
      raise PipelineDefinitionError(
          self.where, f'parameter(s) {", ".join(missing)} have no default',
          fix=' '.join(f'--set {m}=...' for m in missing))

  def make(self, values: dict[str, Any]):
    """The PipelineDef made with typed `values` (name -> value), its
    parameters (all of them, defaults applied) recorded."""
    where = self.where
    if self.factory is None:
      return self.value
    self.check(values)
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
      raise _no_such_name(path, name)
    found, label = namespace[name], name
  elif 'create_pipeline' in namespace:
    found, label = namespace['create_pipeline'], 'create_pipeline'
  else:
    defs = {k: v for k, v in namespace.items() if isinstance(v, Chain)}
    if len(defs) != 1:
      raise PipelineDefinitionError(
          path, f'defines {len(defs)} PipelineDefs '
          f'({", ".join(defs) or "none"}) and no create_pipeline()',
          fix='pick one with --name, or define create_pipeline(...) '
          'returning the PipelineDef')
    label, found = next(iter(defs.items()))
  if isinstance(found, Chain):
    return PipelineFile(path, label, None, value=found)
  if not callable(found):
    raise PipelineDefinitionError(
        path, f'{label} is a {type(found).__name__}, not a PipelineDef',
        fix='--name a function returning the PipelineDef, or the '
        'PipelineDef itself')
  return PipelineFile(path, f'{label}()', found,
                      parameters=parameters_of(found))


def _import(path: str):
  """Imports `path` as the module `import <stem>` would give."""
  path = os.path.abspath(path)
  if not os.path.isfile(path):
    raise PipelineDefinitionError(path, 'does not exist',
                                  fix='check the path of the pipeline file')
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


def _no_such_name(path: str, name: str) -> PipelineDefinitionError:
  return PipelineDefinitionError(
      path, f'defines no {name!r} (--name {name})',
      fix='--name the function (or variable) holding the pipeline, or drop '
      '--name to take create_pipeline()')


class _Unsure(Exception):
  """The syntax tree cannot tell: load() (which runs the file) decides."""


def declared(path: str, name: Optional[str] = None
             ) -> Optional[PipelineFile]:
  """The factory and its parameters as the file spells them, read from its
  syntax tree without running it, so a mistyped --set or --name is said
  before the file's imports (TensorFlow's, often) cost seconds. The factory
  of the result is not callable: check with `parse` and `check`, then
  `load`. None when the tree cannot tell what load() would find (the name
  bound more than once, by an import or a decorated def, a star import,
  globals() written to), and a clear error when `name` is bound nowhere."""
  try:
    with open(path, encoding='utf-8') as f:
      source = f.read()
    tree = ast.parse(source, path)
  except (OSError, SyntaxError, ValueError):
    return None  # load() says so, with Python's own words
  if any(call in source for call in ('globals(', 'setattr(', 'vars(',
                                     'exec(', '__dict__', 'import *')):
    return None
  bound = _top_level_bindings(tree)
  target = name or 'create_pipeline'
  found = bound.get(target, [])
  if not found:
    if name:
      raise _no_such_name(path, name)
    return None  # a module-level PipelineDef, maybe: load() looks
  if len(found) != 1 or not isinstance(
      found[0], (ast.FunctionDef, ast.AsyncFunctionDef)) or \
      found[0].decorator_list or found[0] not in tree.body:
    return None
  return PipelineFile(path, f'{target}()', _not_loaded,
                      parameters=_declared_parameters(found[0].args))


def check_early(path: str, name: Optional[str], sets: list[str],
                extra: list[str], defaults: Optional[dict[str, str]] = None
                ) -> None:
  """Raises, before the file runs, the error `load` then `parse` and
  `check` would raise for these --set / --NAME VALUE arguments, where the
  file's syntax tree tells (`declared`); `defaults` (name -> text) apply to
  the parameters the file has, unless given."""
  found = declared(path, name)
  if found is None:
    return
  try:
    assignments = split_assignments(sets, extra, found.parameters)
  except _Unsure:
    return
  for key, value in (defaults or {}).items():
    if key in found.parameters:
      assignments.setdefault(key, value)
  found.check(found.parse(assignments))


def _not_loaded(**_):
  raise AssertionError('declared() reads the file: load() it to build')


def _top_level_bindings(tree: ast.Module) -> dict[str, list[ast.AST]]:
  """Each name the module binds at its top level (in if/try/with/for blocks
  too), with the statements binding it; `global NAME` in a function counts
  as a binding nobody can see."""
  bound: dict[str, list[ast.AST]] = {}

  def add(name: str, node: ast.AST) -> None:
    bound.setdefault(name, []).append(node)

  def targets(node: ast.AST, stmt: ast.AST) -> None:
    for sub in ast.walk(node):
      if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store,
                                                            ast.Del)):
        add(sub.id, stmt)

  def visit(body: list[ast.stmt]) -> None:
    for stmt in body:
      if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                           ast.ClassDef)):
        add(stmt.name, stmt)
        continue  # its body is another scope
      if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
          add((alias.asname or alias.name).split('.')[0], stmt)
      for field in ('targets', 'target', 'items'):  # =, for, with ... as
        for node in _as_list(getattr(stmt, field, None)):
          targets(node, stmt)
      for field in ('body', 'orelse', 'finalbody'):  # if, try, for, with
        visit(getattr(stmt, field, []))
      for handler in getattr(stmt, 'handlers', []):  # except E as name
        if handler.name:
          add(handler.name, handler)
        visit(handler.body)
      for case in getattr(stmt, 'cases', []):  # match
        visit(case.body)
  visit(tree.body)
  for node in ast.walk(tree):
    if isinstance(node, ast.Global):
      for name in node.names:
        add(name, node)
    elif isinstance(node, ast.NamedExpr):
      add(node.target.id, node)
  return bound


def _as_list(value: Any) -> list[Any]:
  if value is None:
    return []
  return list(value) if isinstance(value, list) else [value]


_ANNOTATIONS = {'int': 'int', 'float': 'float', 'bool': 'bool', 'str': 'str',
                'Path': 'path', 'pathlib.Path': 'path', 'os.PathLike': 'path',
                'PathLike': 'path'}


def _declared_parameters(args: ast.arguments) -> dict[str, Parameter]:
  """The parameters `parameters_of` would give, from the def's syntax:
  typed by a plain annotation (int, float, bool, str, a path) or, without
  one, by a literal default; None where only running the file can tell (an
  annotation such as `Steps` or `Optional[int]`, a computed default)."""
  positional = args.posonlyargs + args.args
  defaults = ([None] * (len(positional) - len(args.defaults))
              + list(args.defaults) + list(args.kw_defaults))
  found = {}
  for arg, default_node in zip(positional + args.kwonlyargs, defaults):
    default: Any = inspect.Parameter.empty
    type_name: Optional[str] = 'str'  # parameters_of's, with neither
    if default_node is not None:
      try:
        default = ast.literal_eval(default_node)
        type_name = _TYPES.get(type(default), 'str')
      except ValueError:
        default, type_name = _Source(ast.unparse(default_node)), None
    if arg.annotation is not None:
      annotation = arg.annotation
      text = (annotation.value if isinstance(annotation, ast.Constant)
              and isinstance(annotation.value, str)
              else ast.unparse(annotation))
      type_name = _ANNOTATIONS.get(text)
    found[arg.arg] = Parameter(arg.arg, type_name, default)
  return found


def split_assignments(sets: list[str], extra: list[str],
                      parameters: Optional[dict[str, Parameter]] = None
                      ) -> dict[str, str]:
  """`--set a=1` values and `--a 1` / `--a=1` leftovers as name -> text.
  Given the `parameters`, a bool one is also a bare flag: `--use-tuner`
  sets it true, `--no-use-tuner` false."""
  parameters = parameters or {}
  found = {}
  for item in sets:
    name, eq, value = item.partition('=')
    if not eq or not name:
      raise ArgumentError(f'error: --set {item!r}: expected name=value')
    found[name.strip().replace('-', '_')] = value
  i = 0
  while i < len(extra):
    arg = extra[i]
    if not arg.startswith('--') or arg == '--':
      raise ArgumentError(f'error: unrecognized argument {arg!r}')
    name, eq, value = arg[2:].partition('=')
    name = name.replace('-', '_')
    negated = name[3:] if name.startswith('no_') else ''
    if not eq and negated in parameters and name not in parameters:
      if parameters[negated].type is None:
        raise _Unsure(name)  # bool or not: only load() knows
      if parameters[negated].type == 'bool':
        found[negated] = 'false'
        i += 1
        continue
    if not eq:
      bare = i + 1 >= len(extra) or extra[i + 1].startswith('--')
      kind = getattr(parameters.get(name), 'type', 'unknown')
      if bare and kind == 'bool':
        found[name] = 'true'
        i += 1
        continue
      if bare and kind is None:
        raise _Unsure(name)  # bool or not: only load() knows
      if bare:
        known = parameters.get(name)
        raise ArgumentError(
            f'error: {arg} needs a value: {arg} VALUE or --set {name}=VALUE'
            + (f' ({known.describe()[len(name) + 2:-1]})' if known else ''))
      value = extra[i + 1]
      i += 1
    found[name] = value
    i += 1
  return found
