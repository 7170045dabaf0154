"""User functions as reviewable source code.

A function defined in a notebook or in the user's own module becomes a module
that holds its source and everything it uses, recovered from where it was
defined:
- the import statements that bind the modules and names it uses (as written
  in the notebook or module; derived from the object when none is found);
- the module-level constants it uses, written as Python literals;
- the helper functions and classes of the user's own code it calls, with
  what they use in turn;
- the user's own modules it imports, copied beside it as files.

The result depends only on the functions (not on where they were defined),
so a notebook's functions and the same functions exported to a module give
the same text, hence the same TFX user-code wheel and cache key. Where each
definition was written (a file and line, or a notebook cell: Origin) is
kept apart, in Bundle.origins.

What cannot be written as source (a lambda, a closure over a live object, a
module-level object that is not a constant) raises SourceUnavailable naming
the function, the name and the fix.
"""

import ast
import builtins
import dataclasses
import dis
import importlib
import inspect
import linecache
import math
import os
import re
import sys
import textwrap
import types
from typing import Any, Callable, Optional

from fluent_pipeline.usercode import packages


class SourceUnavailable(Exception):
  """A function whose source cannot be recovered; says which and why."""

  def __init__(self, function: str, problem: str, fix: str):
    super().__init__(f'{function}: {problem}; {fix}')
    self.function, self.problem, self.fix = function, problem, fix


@dataclasses.dataclass
class Bundle:
  """What a module of user functions needs, name by name."""
  imports: dict[str, str] = dataclasses.field(default_factory=dict)
  constants: dict[str, str] = dataclasses.field(default_factory=dict)
  definitions: dict[str, str] = dataclasses.field(default_factory=dict)
  modules: dict[str, str] = dataclasses.field(default_factory=dict)
  aliases: dict[str, str] = dataclasses.field(default_factory=dict)
  # Where each definition and copied module was written (see Origin): kept
  # out of the module text, which must not depend on it (the cache key).
  origins: dict[str, 'Origin'] = dataclasses.field(default_factory=dict)
  module_origins: dict[str, str] = dataclasses.field(default_factory=dict)

  def bind(self, kind: str, name: str, text: str, where: str) -> None:
    """Adds `name`; the same name bound to different code is an error."""
    for other_kind in ('imports', 'constants', 'definitions', 'aliases'):
      other = getattr(self, other_kind).get(name)
      if other is not None and (other_kind != kind or other != text):
        raise SourceUnavailable(
            where, f'the name {name!r} means two different things in the '
            'functions of this pipeline', fix='rename one of them')
    getattr(self, kind)[name] = text

  def render(self, docstring: str) -> str:
    """The module text; a function of the bundle only."""
    plain = sorted(s for s in set(self.imports.values())
                   if s.startswith('import '))
    froms = sorted(s for s in set(self.imports.values())
                   if s.startswith('from '))
    parts = [f'"""{docstring}"""']
    if plain or froms:
      parts.append('\n'.join(plain + froms))
    if self.constants:
      parts.append('\n'.join(f'{name} = {text}' for name, text in
                             sorted(self.constants.items())))
    text = '\n\n'.join(parts) + '\n'
    for source in self.definitions.values():
      text += '\n\n' + source.rstrip() + '\n'
    if self.aliases:
      text += '\n\n' + '\n'.join(f'{name} = {target}' for name, target in
                                 self.aliases.items()) + '\n'
    return text


# The modules project/ makes of a user's pipeline file and notebook cells:
# the user's own code, however they were loaded.
PIPELINE_FILE_MODULE_PREFIX = '__fluent_pipeline_file_'
NOTEBOOK_MODULE_PREFIX = '__fluent_notebook_'
USER_MODULE_PREFIXES = (PIPELINE_FILE_MODULE_PREFIX, NOTEBOOK_MODULE_PREFIX)


def user_module(module: Optional[types.ModuleType]) -> bool:
  """Whether `module` is the user's own code (a notebook, __main__, a file
  of theirs) rather than an installed package or the standard library."""
  if module is None:
    return True
  name = module.__name__
  if name == '__main__' or name.startswith(USER_MODULE_PREFIXES):
    return True
  return not packages.installed(module)


def collect(entries: dict[str, Callable[..., Any]],
            bundle: Optional[Bundle] = None) -> Bundle:
  """The bundle of `entries` (TFX name -> function): each function with
  what it uses, and `name = function` aliases where the names differ."""
  bundle = bundle or Bundle()
  for entry, fn in entries.items():
    _Collector(bundle, _label(fn)).function(fn)
    if fn.__name__ != entry:
      bundle.bind('aliases', entry, fn.__name__, _label(fn))
  return bundle


def collect_definition(value, bundle: Bundle, where: str) -> None:
  """Adds `value` to `bundle` with what it uses, as `collect` does for a
  step's function: a function as its def, a class as its class statement,
  a class a decorator made of a function (TFX's `@component`) as that
  decorated def. For code the chain names that is not a step's function
  (a component added with add_component); `where` names it in errors."""
  collector = _Collector(bundle, where)
  if inspect.isclass(value):
    collector.cls(value, _label(value))
  else:
    collector.function(value)


def made_of_function(value) -> Optional[Callable[..., Any]]:
  """The function a decorator made class `value` of, which the class keeps
  (TFX's `@component` keeps it as `test_call`): a function of the same
  qualified name and module (a method's name is qualified by its class),
  else None."""
  if not inspect.isclass(value):
    return None
  for member in vars(value).values():
    fn = getattr(member, '__func__', member)  # a staticmethod
    if inspect.isfunction(fn) and fn.__qualname__ == value.__qualname__ and (
        fn.__module__ == value.__module__):
      return fn
  return None


@dataclasses.dataclass(frozen=True)
class Origin:
  """Where the user wrote a definition: its file (for a notebook cell, the
  name IPython compiled it under), the line its source starts at there, and
  for a notebook cell the cell as the user sees it ('notebook cell In [5]'),
  so that a failure in the generated module points back at it."""
  file: str
  line: int
  cell: Optional[str] = None


# The file names IPython and project/notebook give cells: IPython's own
# terminal and older kernels; ipykernel 6+ (/tmp/ipykernel_<pid>/<hash>.py,
# no file on disk); `fluent-pipeline export notebook.ipynb`.
_IPYTHON_INPUT = re.compile(r'^<ipython-input-(\d+)-[0-9a-f]+>$')
_IPYKERNEL_CELL = re.compile(r'[/\\]ipykernel_\d+[/\\]\d+\.py$')
_READ_NOTEBOOK_CELL = re.compile(r'^<(.+\.ipynb) cell (\d+)>$')


def cell_label(filename: str) -> Optional[str]:
  """The notebook cell `filename` (a code object's file) is, as the user
  sees it ('notebook cell In [5]': the execution count Jupyter shows beside
  it), or None when it is a file. Read from the running IPython's history
  when the name does not say it; never imports IPython."""
  found = _IPYTHON_INPUT.match(filename)
  if found:
    return f'notebook cell In [{found.group(1)}]'
  found = _READ_NOTEBOOK_CELL.match(filename)
  if found:
    return f'cell {found.group(2)} of {found.group(1)}'
  if not _IPYKERNEL_CELL.search(filename) or os.path.isfile(filename):
    return None  # a file (ipykernel's debugger writes cells to disk)
  count = _execution_count(filename)
  return (f'notebook cell In [{count}]' if count is not None
          else 'a notebook cell')


def _execution_count(filename: str) -> Optional[int]:
  """The execution count of the cell IPython compiled as `filename`: its
  own map where it keeps one (IPython 8), else the latest input in the
  history whose text is the cell's (identical cells share a file name)."""
  ipython = sys.modules.get('IPython')
  try:
    shell = ipython.get_ipython() if ipython else None
  except Exception:
    shell = None
  if shell is None:
    return None
  known = getattr(getattr(shell, 'compile', None), '_filename_map', None)
  if isinstance(known, dict) and isinstance(known.get(filename), int):
    return known[filename]
  entry = linecache.cache.get(filename)
  history = getattr(getattr(shell, 'history_manager', None),
                    'input_hist_parsed', None)
  if not entry or len(entry) < 3 or not history:
    return None
  text = ''.join(entry[2]).rstrip('\n')
  for count in range(len(history) - 1, 0, -1):
    if isinstance(history[count], str) and history[count].rstrip(
        '\n') == text:
      return count
  return None


def _origin_of(value, first: int) -> Optional[Origin]:
  """The Origin of a function or class whose source starts at `first`
  (a decorated function's own file, as inspect.getsourcelines reads it)."""
  value = inspect.unwrap(value)
  try:
    path = inspect.getsourcefile(value) or inspect.getfile(value)
  except (OSError, TypeError):
    return None
  return Origin(path, first, cell_label(path))


def _check_function(fn, label: str) -> None:
  if not inspect.isfunction(inspect.unwrap(fn)):
    raise SourceUnavailable(
        label, f'it is a {type(fn).__name__}, not a function defined with '
        'def', fix='pass a function defined with def')


def _label(fn) -> str:
  return getattr(fn, '__qualname__', None) or repr(fn)


class _Origin:
  """The source a function came from: its module file, or the notebook's
  cells; top-level import statements and definitions by name."""

  _cache: dict[tuple[str, int], '_Origin'] = {}

  def __init__(self, texts: list[str]):
    self.imports: dict[str, str] = {}
    self.definitions: dict[str, str] = {}
    for text in texts:
      try:
        tree = ast.parse(text)
      except SyntaxError:
        continue
      lines = text.splitlines(keepends=True)
      for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
          for alias in node.names:
            if alias.name == '*':
              continue
            statement = _import_statement(node, alias)
            if statement:
              bound = alias.asname or alias.name.split('.')[0]
              self.imports[bound] = statement
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                               ast.ClassDef)):
          start = min([node.lineno] + [d.lineno for d in node.decorator_list])
          self.definitions[node.name] = ''.join(
              lines[start - 1:node.end_lineno])

  @classmethod
  def of(cls, module: Optional[types.ModuleType]) -> '_Origin':
    texts = _origin_texts(module)
    key = (getattr(module, '__name__', '?'), hash(tuple(texts)))
    if key not in cls._cache:
      cls._cache[key] = cls(texts)
    return cls._cache[key]


def _origin_texts(module) -> list[str]:
  """The module's source, or for a notebook (no file) its cells in order."""
  path = getattr(module, '__file__', None)
  if path and path.endswith('.py') and os.path.isfile(path):
    with open(path, encoding='utf-8') as f:
      return [f.read()]
  cells = getattr(module, 'In', None) or vars(module).get('_ih') if module \
      else None
  return [c for c in (cells or []) if isinstance(c, str)]


def _import_statement(node, alias) -> Optional[str]:
  as_part = f' as {alias.asname}' if alias.asname else ''
  if isinstance(node, ast.Import):
    return f'import {alias.name}{as_part}'
  if node.level:  # relative: meaningless outside its package
    return None
  return f'from {node.module} import {alias.name}{as_part}'


class _Collector:
  """Walks one entry function and what it uses into the bundle."""

  def __init__(self, bundle: Bundle, where: str):
    self.bundle, self.where = bundle, where
    self.seen: set[int] = set()

  def function(self, fn) -> None:
    if id(fn) in self.seen:
      return
    self.seen.add(id(fn))
    label = _label(fn)
    _check_function(fn, label)
    if fn.__name__ == '<lambda>':
      raise SourceUnavailable(
          label, 'a lambda has no source of its own',
          fix=f'define it with def {self.where.split(".")[-1]}(...)')
    source, first = self._source(fn)
    # A decorated function: its def statement (decorators included) is the
    # source; what it uses is read from the function it wraps.
    inner = inspect.unwrap(fn)
    module = sys.modules.get(inner.__module__)
    tree = ast.parse(source).body[0]
    names = (_global_names(inner.__code__) | _definition_time_names(tree)
             | {n for n in _class_body_names(inner.__code__)
                if n in inner.__globals__})
    closure = dict(zip(inner.__code__.co_freevars,
                       [c.cell_contents for c in (inner.__closure__ or ())]))
    for name in sorted(names - {fn.__name__}):
      self.name(name, inner.__globals__, module, label)
    for name, value in sorted(closure.items()):
      text = format_literal(value, 0, len(name) + 3)
      if text is None:
        raise SourceUnavailable(
            label, f'it closes over {name!r}, a live '
            f'{type(value).__name__} object that source code cannot hold',
            fix=f'define {label.split(".")[-1]} at the top level of the '
            f'notebook or module, with {name} as a constant or created '
            'inside it')
      self.bundle.bind('constants', name, text, label)
    self.bundle.bind('definitions', fn.__name__, source, label)
    self._origin(fn.__name__, fn, first)

  def _origin(self, name: str, value, first: Optional[int]) -> None:
    origin = _origin_of(value, first) if first else None
    if origin is not None:
      self.bundle.origins[name] = origin

  def _source(self, fn) -> tuple[str, Optional[int]]:
    """The def statement's text and its first line in its file (None when
    only the notebook's cells hold it)."""
    label = _label(fn)
    first = None
    try:
      lines, first = inspect.getsourcelines(fn)
      source = textwrap.dedent(''.join(lines))
    except (OSError, TypeError):
      source = _Origin.of(sys.modules.get(fn.__module__)).definitions.get(
          fn.__name__)
      if source is None:
        raise SourceUnavailable(
            label, 'its source code is not available (defined at an '
            'interactive prompt, or with exec)',
            fix='define it in a notebook cell or a module file') from None
    try:
      tree = ast.parse(source)
    except SyntaxError:
      tree = None
    if tree is None or len(tree.body) != 1 or not isinstance(
        tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) or (
            tree.body[0].name != fn.__name__):
      raise SourceUnavailable(
          label, 'its source is not a def statement of its own',
          fix=f'define it with def {fn.__name__}(...) at the top level')
    return source, first

  def cls(self, value, label: str) -> None:
    if id(value) in self.seen:
      return
    self.seen.add(id(value))
    fn = made_of_function(value)
    if fn is not None:  # its source is the decorated def
      self.function(fn)
      return
    module = sys.modules.get(value.__module__)
    first = None
    try:
      lines, first = inspect.getsourcelines(value)
      source = textwrap.dedent(''.join(lines))
    except (OSError, TypeError):
      source = _Origin.of(module).definitions.get(value.__name__)
    if source is None:
      raise SourceUnavailable(
          label, f'the source of class {value.__name__} is not available',
          fix='define it in a notebook cell or a module file')
    tree = ast.parse(source).body[0]
    if not isinstance(tree, ast.ClassDef):
      raise SourceUnavailable(
          label, f'class {value.__name__} was made by a decorator of a '
          'function it does not keep, so its source cannot be written out',
          fix=f'define {value.__name__} with a class statement, or keep the '
          'function in the class under its own name')
    names = _class_level_names(tree)
    for member in vars(value).values():
      member = getattr(member, '__func__', member)  # static/classmethods
      if isinstance(member, property):
        member = member.fget
      code = getattr(inspect.unwrap(member), '__code__', None) \
          if callable(member) else None
      if code is not None:
        names |= _global_names(code)
    for name in sorted(names - {value.__name__}):
      if module is not None and name in vars(module):
        self.name(name, vars(module), module, label)
    self.bundle.bind('definitions', value.__name__, source, label)
    self._origin(value.__name__, value, first)

  def name(self, name: str, namespace: dict[str, Any], module,
           label: str) -> None:
    """Adds what global `name` of `label` needs to be bound in the module."""
    if name not in namespace:
      if hasattr(builtins, name):
        return
      raise SourceUnavailable(
          label, f'it uses {name!r}, which is not defined',
          fix=f'define {name} before exporting')
    value = namespace[name]
    statement = _Origin.of(module).imports.get(name)
    if statement is not None and _imports_value(statement, name, value):
      self._imported(name, value, statement, label)
      return
    if isinstance(value, types.ModuleType):
      self._imported(name, value, _module_import(name, value), label)
      return
    text = format_literal(value, 0, len(name) + 3)
    if text is not None:
      self.bundle.bind('constants', name, text, label)
      return
    home = sys.modules.get(getattr(value, '__module__', None) or '')
    own = user_module(home) and (
        home is None or home is module or home.__name__ == '__main__')
    if own and (inspect.isfunction(inspect.unwrap(value))
                or inspect.isclass(value)):
      if inspect.isclass(value):
        self.cls(value, label)
      else:
        self.function(value)
      if value.__name__ != name:  # used under another name: helper = _impl
        self.bundle.bind('aliases', name, value.__name__, label)
      return
    statement = _object_import(name, value)
    if statement is not None:
      self._imported(name, value, statement, label)
      return
    raise SourceUnavailable(
        label, f'it uses {name!r}, a live {type(value).__name__} object '
        'that source code cannot hold',
        fix=f'create {name} inside the function, or make it a constant')

  def _imported(self, name: str, value, statement: str, label: str) -> None:
    """Binds the import; a module of the user's own it names is copied."""
    self.bundle.bind('imports', name, statement, label)
    if isinstance(value, types.ModuleType):
      module = value
    else:  # `from module import value`: the module the statement names
      tree = ast.parse(statement).body[0]
      module = sys.modules.get(tree.module) if isinstance(
          tree, ast.ImportFrom) else None
    if module is not None and user_module(module):
      self._copy_module(module, label)

  def _copy_module(self, module, label: str) -> None:
    """A module of the user's own, imported by the code: copied beside it,
    with the user modules it imports in turn."""
    path = getattr(module, '__file__', None) or ''
    top = module.__name__.split('.')[0]
    if not path.endswith('.py') or '.' in module.__name__ or (
        os.path.basename(path) == '__init__.py'):
      raise SourceUnavailable(
          label, f'it imports {module.__name__}, code of yours that is not '
          'a single module file', fix=f'install {top} as a package (pip '
          'install -e) so it is imported, not copied')
    file_name = os.path.basename(path)
    if file_name in self.bundle.modules:
      return
    with open(path, encoding='utf-8', newline='') as f:
      self.bundle.modules[file_name] = f.read()
    self.bundle.module_origins[file_name] = os.path.abspath(path)
    for value in list(vars(module).values()):
      home = value if isinstance(value, types.ModuleType) else \
          sys.modules.get(getattr(value, '__module__', None) or '')
      if home is not None and home is not module and isinstance(
          home, types.ModuleType) and user_module(home) and getattr(
              home, '__file__', None):
        self._copy_module(home, label)


def _global_names(code: types.CodeType) -> set[str]:
  """Globals a code object (and the functions, comprehensions and classes
  nested in it) reads or writes."""
  names = set()
  for instruction in dis.get_instructions(code):
    if instruction.opname in ('LOAD_GLOBAL', 'STORE_GLOBAL', 'DELETE_GLOBAL'):
      names.add(instruction.argval)
  for const in code.co_consts:
    if isinstance(const, types.CodeType):
      names |= _global_names(const)
  return names


def _class_body_names(code: types.CodeType) -> set[str]:
  """Names read by class bodies nested in `code` (LOAD_NAME: a global, or a
  name of the class body itself)."""
  names = set()
  for const in code.co_consts:
    if isinstance(const, types.CodeType):
      names |= {i.argval for i in dis.get_instructions(const)
                if i.opname == 'LOAD_NAME'} | _class_body_names(const)
  return names


def _class_level_names(node) -> set[str]:
  """Names a class statement evaluates itself (bases, decorators, class
  attributes, its methods' decorators/defaults/annotations), not the names
  inside method bodies (read from their code objects instead)."""
  names: set[str] = set()
  todo = list(node.bases) + list(node.keywords) + list(node.decorator_list)
  todo += list(node.body)
  while todo:
    item = todo.pop()
    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
      names |= _definition_time_names(item)
    elif isinstance(item, ast.ClassDef):
      names |= _class_level_names(item)
    elif isinstance(item, ast.Lambda):
      continue  # its parameters are not globals
    elif isinstance(item, ast.Name) and isinstance(item.ctx, ast.Load):
      names.add(item.id)
    else:
      todo += list(ast.iter_child_nodes(item))
  return names


def _definition_time_names(node) -> set[str]:
  """Names a def statement evaluates when it runs: decorators, defaults,
  annotations."""
  parts = list(node.decorator_list) + list(node.args.defaults) + [
      d for d in node.args.kw_defaults if d is not None]
  for arg in (node.args.posonlyargs + node.args.args + node.args.kwonlyargs
              + [node.args.vararg, node.args.kwarg]):
    if arg is not None and arg.annotation is not None:
      parts.append(arg.annotation)
  if node.returns is not None:
    parts.append(node.returns)
  names = set()
  for part in parts:
    lambda_args = {a.arg for n in ast.walk(part) if isinstance(n, ast.Lambda)
                   for a in n.args.args + n.args.kwonlyargs}
    names |= {n.id for n in ast.walk(part) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Load)} - lambda_args
  return names


def _imports_value(statement: str, name: str, value) -> bool:
  """Whether running `statement` would bind `name` to `value` (the notebook
  may have rebound the name after importing it)."""
  tree = ast.parse(statement).body[0]
  alias = tree.names[0]
  try:
    if isinstance(tree, ast.Import):
      module = importlib.import_module(alias.name)
      if alias.asname:
        return module is value
      return sys.modules.get(name) is value
    module = importlib.import_module(tree.module)
    found = getattr(module, alias.name, None)
    if found is None:
      found = importlib.import_module(f'{tree.module}.{alias.name}')
    return found is value
  except Exception:
    return False


def _module_import(name: str, module: types.ModuleType) -> str:
  full = module.__name__
  if full == name:
    return f'import {name}'
  parent, _, last = full.rpartition('.')
  if parent and last == name:
    return f'from {parent} import {name}'
  return f'import {full} as {name}'


def _object_import(name: str, value) -> Optional[str]:
  """`from module import qualname as name` when that gives back `value`."""
  module_name = getattr(value, '__module__', None)
  qualname = getattr(value, '__qualname__', None)
  if not module_name or not qualname or '.' in qualname or '<' in qualname \
      or module_name == '__main__':
    return None
  module = sys.modules.get(module_name)
  if module is None or getattr(module, qualname, None) is not value:
    return None
  as_part = f' as {name}' if name != qualname else ''
  return f'from {module_name} import {qualname}{as_part}'


_SCALARS = (type(None), bool, int, str, bytes)


def _literal(value, depth: int = 0) -> Optional[str]:
  """`value` as a Python literal that evaluates back to it (sets sorted, so
  the text is the same in every process), or None."""
  if depth > 20:
    return None
  if isinstance(value, _SCALARS) and type(value) in _SCALARS:
    return repr(value)
  if type(value) is float:
    return repr(value) if math.isfinite(value) else f"float('{value}')"
  if type(value) in (list, tuple):
    items = [_literal(v, depth + 1) for v in value]
    if any(i is None for i in items):
      return None
    if type(value) is tuple:
      return '(' + ', '.join(items) + (',)' if len(items) == 1 else ')')
    return '[' + ', '.join(items) + ']'
  if type(value) is dict:
    pairs = [(_literal(k, depth + 1), _literal(v, depth + 1))
             for k, v in value.items()]
    if any(k is None or v is None for k, v in pairs):
      return None
    return '{' + ', '.join(f'{k}: {v}' for k, v in pairs) + '}'
  if type(value) in (set, frozenset):
    items = [_literal(v, depth + 1) for v in value]
    if any(i is None for i in items):
      return None
    inner = '{' + ', '.join(sorted(items)) + '}' if items else ''
    if type(value) is frozenset:
      return f'frozenset({inner})'
    return inner or 'set()'
  return None


def format_literal(value, indent: int = 0, column: int = 0,
                   width: int = 79) -> Optional[str]:
  """_literal, one item per line where it does not fit on one (black's
  style). `indent`: of the line it starts on; `column`: where it starts."""
  flat = _literal(value)
  if flat is None or column + len(flat) + 1 <= width or type(value) not in (
      dict, list, tuple):
    return flat
  inner = indent + 4
  if type(value) is dict:
    items = [f'{_literal(k)}: '
             f'{format_literal(v, inner, inner + len(_literal(k)) + 2, width)}'
             for k, v in value.items()]
    opening, closing = '{', '}'
  else:
    items = [format_literal(v, inner, inner, width) for v in value]
    opening, closing = ('[', ']') if type(value) is list else ('(', ')')
  body = ''.join(f'{" " * inner}{item},\n' for item in items)
  return f'{opening}\n{body}{" " * indent}{closing}'
