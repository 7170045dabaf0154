"""One step's function cut out of a module file, with what it uses.

TFX packages a module file's folder into a wheel whose hash is in the cache
key of each step given that file: with preprocessing_fn and run_fn in one
file, an edit to run_fn would re-run Transform. The slice of the file for a
step holds the statements that step's function needs: its def, the
top-level definitions, constants and imports it uses, transitively, kept
verbatim and in source order. The file is parsed, never imported (user
modules import TensorFlow; a build takes milliseconds).

Conservative wherever a slice could change behaviour:
- kept, with what it uses, whatever cannot be shown to be a plain binding:
  a top-level call, an `if` / `try` / `with` / `for` block, an assignment to
  an attribute or an item, an assignment whose value calls something, a
  star import, an import nothing in the file uses (imported for its
  effect), a `from __future__` import, a definition whose decorators are
  not plain wrappers (one may fill a registry), a class with bases,
  keywords or a call in its body, a top-level statement that reads
  `__name__` or
  `__file__` (but for `if __name__ == '__main__':`, which never runs in a
  module TFX imports);
- the whole file, when the kept code reads names at run time (`globals()`,
  `eval`, `exec`, `__import__`, `sys.modules`, ...), the file defines a
  module `__getattr__` / `__dir__`, or a file of its folder that the slice
  imports imports the file back.
"""

import ast
import collections
import dataclasses
import functools
import os
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Optional

# Calls that read a module's names by string: a slice cannot see which.
_DYNAMIC = {'globals', 'locals', 'eval', 'exec', '__import__', 'vars',
            'import_module'}
# Module attributes Python looks up by name, past the slice.
_MODULE_HOOKS = {'__getattr__', '__dir__'}
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclasses.dataclass(frozen=True)
class Slice:
  """The slice of one file for some entry functions: `text` (None: use the
  whole file, `reason` says why) and the definitions it kept, in source
  order."""
  text: Optional[str]
  kept: tuple[str, ...] = ()
  reason: Optional[str] = None


@dataclasses.dataclass
class _Unit:
  """Top-level statements sharing lines (`a = 1; b = 2` is one unit), with
  the comment lines right above them."""
  nodes: list[ast.stmt]
  first: int  # 1-based, the first attached comment or decorator line
  start: int  # the first line of the statement itself (or its decorator)
  end: int
  binds: set[str] = dataclasses.field(default_factory=set)
  uses: set[str] = dataclasses.field(default_factory=set)
  always: bool = False  # kept whatever the entries need
  definition: bool = False  # a def or class (two blank lines around it)


def cut(text: str, entries: Iterable[str], file_name: str,
        siblings: Optional[Mapping[str, str]] = None) -> Slice:
  """The slice of `text` (the file `file_name`) for `entries`, the names the
  step's component looks up in the module. `siblings`: file name -> text of
  the .py files beside it (the module may import them)."""
  return _cut(text, tuple(entries), file_name,
              tuple(sorted((siblings or {}).items())))


@functools.lru_cache(maxsize=64)
def _cut(text: str, entries: tuple[str, ...], file_name: str,
         siblings: tuple[tuple[str, str], ...]) -> Slice:
  tree = ast.parse(text, filename=file_name)
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
        node.name in _MODULE_HOOKS):
      return Slice(None, reason=f'it defines a module {node.name} (line '
                   f'{node.lineno}), which looks names up at run time')
  lines = text.splitlines(keepends=True)
  units = _units(tree, lines)
  for unit in units:
    for node in unit.nodes:
      unit.uses |= _names(node)
  users = collections.Counter(n for u in units for n in u.uses)
  for unit in units:
    _classify(unit, lambda name, u=unit: users[name] > (name in u.uses),
              docstring=tree.body[0] if tree.body else None)
  kept = _needed(units, entries)
  for unit in kept:
    reason = _dynamic(unit)
    if reason:
      return Slice(None, reason=reason)
  module = os.path.splitext(file_name)[0]
  reason = _imported_back(kept, module, dict(siblings))
  if reason:
    return Slice(None, reason=reason)
  names = tuple(n.name for u in kept for n in u.nodes
                if isinstance(n, _DEFINITIONS))
  entry_names = [e for e in entries if any(e in u.binds for u in kept)]
  return Slice(_render(kept, lines, file_name, entry_names, names), names)


def _units(tree: ast.Module, lines: list[str]) -> list[_Unit]:
  units: list[_Unit] = []
  for node in tree.body:
    start = min([node.lineno] + [d.lineno for d in getattr(
        node, 'decorator_list', [])])
    if units and start <= units[-1].end:
      units[-1].nodes.append(node)
      units[-1].end = max(units[-1].end, node.end_lineno)
      continue
    first = start
    floor = units[-1].end if units else 0
    while first - 1 > floor and lines[first - 2].lstrip().startswith('#'):
      first -= 1
    units.append(_Unit([node], first, start, node.end_lineno))
  return units


def _classify(unit: _Unit, used_elsewhere: Callable[[str], bool],
              docstring: Optional[ast.stmt]) -> None:
  """What the unit binds and whether it must be kept; `used_elsewhere`:
  whether another unit uses a name."""
  for node in unit.nodes:
    if isinstance(node, _DEFINITIONS):
      unit.binds.add(node.name)
      unit.definition = True
      if _runs_at_definition(node):
        unit.always = True  # e.g. a registry filled by a decorator
      continue
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      if isinstance(node, ast.ImportFrom) and (
          node.module == '__future__' or any(a.name == '*'
                                             for a in node.names)):
        unit.always = True
        continue
      bound = {a.asname or a.name.split('.')[0] for a in node.names}
      unit.binds |= bound
      if not any(used_elsewhere(name) for name in bound):
        unit.always = True  # imported for its effect
      continue
    if _main_block(node):
      continue  # never runs in a module TFX imports
    if _top_level_magic(node):
      unit.always = True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
      if node is docstring and isinstance(node.value.value, str):
        unit.binds.add('__doc__')  # the module docstring
      continue  # a bare constant does nothing
    if isinstance(node, ast.Pass):
      continue
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
      targets = (node.targets if isinstance(node, ast.Assign)
                 else [node.target])
      names = [_target_names(t) for t in targets]
      if any(n is None for n in names) or _calls(node):
        unit.always = True
      for found in names:
        unit.binds |= found or set()
      continue
    if isinstance(node, ast.Delete):
      names = [_target_names(t) for t in node.targets]
      if any(n is None for n in names):
        unit.always = True
      for found in names:
        unit.binds |= found or set()
      continue
    unit.always = True  # a call, a block, raise, assert...: cannot tell


def _needed(units: list[_Unit], entries: tuple[str, ...]) -> list[_Unit]:
  """The units the entries need: every unit binding a needed name, the
  units kept always, and what those use, transitively."""
  keep = [u.always for u in units]
  needed = set(entries)
  for i, unit in enumerate(units):
    if keep[i]:
      needed |= unit.uses
  changed = True
  while changed:
    changed = False
    for i, unit in enumerate(units):
      if not keep[i] and unit.binds & needed:
        keep[i] = changed = True
        needed |= unit.uses
  return [u for u, k in zip(units, keep) if k]


def _names(node: ast.AST) -> set[str]:
  """Every name the statement mentions (loaded, stored or declared global,
  in any scope inside it: an over-approximation is safe), with the names
  in string annotations."""
  found: set[str] = set()
  for item in ast.walk(node):
    if isinstance(item, ast.Name):
      found.add(item.id)
    elif isinstance(item, (ast.Global, ast.Nonlocal)):
      found.update(item.names)
    elif isinstance(item, ast.arg) and item.annotation is not None:
      found |= _string_names(item.annotation)
    elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
        item.returns is not None):
      found |= _string_names(item.returns)
    elif isinstance(item, ast.AnnAssign):
      found |= _string_names(item.annotation)
  return found


def _string_names(annotation: ast.AST) -> set[str]:
  """Names in a string annotation ('MyClass'), which typing may evaluate."""
  found: set[str] = set()
  for item in ast.walk(annotation):
    if isinstance(item, ast.Constant) and isinstance(item.value, str):
      try:
        parsed = ast.parse(item.value, mode='eval')
      except SyntaxError:
        continue
      found |= {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)}
  return found


def _identifiers(node: ast.AST) -> set[str]:
  return {n.id if isinstance(n, ast.Name) else n.attr
          for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute))}


def _target_names(target: ast.AST) -> Optional[set[str]]:
  """The names an assignment target binds; None for an attribute, an item
  or anything else that changes an object rather than binding a name."""
  if isinstance(target, ast.Name):
    return {target.id}
  if isinstance(target, ast.Starred):
    return _target_names(target.value)
  if isinstance(target, (ast.Tuple, ast.List)):
    found: set[str] = set()
    for item in target.elts:
      names = _target_names(item)
      if names is None:
        return None
      found |= names
    return found
  return None


def _calls(node: ast.AST) -> bool:
  """Whether evaluating the statement may run code: a call, a walrus, an
  await or yield (a lambda's body runs only when called)."""
  todo = list(ast.iter_child_nodes(node))
  while todo:
    item = todo.pop()
    if isinstance(item, ast.Lambda):
      todo += list(item.args.defaults) + [
          d for d in item.args.kw_defaults if d is not None]
      continue
    if isinstance(item, (ast.Call, ast.NamedExpr, ast.Await, ast.Yield,
                         ast.YieldFrom)):
      return True
    todo += list(ast.iter_child_nodes(item))
  return False


def _main_block(node: ast.stmt) -> bool:
  """`if __name__ == '__main__':` without an else: a script's part."""
  if not isinstance(node, ast.If) or node.orelse or not isinstance(
      node.test, ast.Compare) or len(node.test.ops) != 1 or not isinstance(
          node.test.ops[0], ast.Eq):
    return False
  sides = [node.test.left, node.test.comparators[0]]
  return any(isinstance(s, ast.Name) and s.id == '__name__' for s in sides) \
      and any(isinstance(s, ast.Constant) and s.value == '__main__'
              for s in sides)


# Decorators that only wrap what they decorate: a definition that has no
# other runs nothing when its module is imported.
_PLAIN_DECORATORS = {
    'staticmethod', 'classmethod', 'property', 'overload', 'typing.overload',
    'functools.wraps', 'wraps', 'functools.lru_cache', 'lru_cache',
    'functools.cache', 'cache', 'functools.cached_property',
    'cached_property', 'dataclass', 'dataclasses.dataclass', 'tf.function',
    'tensorflow.function'}


def _runs_at_definition(node: ast.stmt) -> bool:
  """Whether defining `node` may run user code with effects beyond binding
  its name: a decorator that is not a plain wrapper (it may register the
  definition in a registry another function reads), a class with bases or
  keywords (`__init_subclass__`, a metaclass) or with a call in its body.
  Such a definition is kept in every slice, not only where it is used."""
  for decorator in node.decorator_list:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if ast.unparse(target) not in _PLAIN_DECORATORS:
      return True
  if isinstance(node, ast.ClassDef):
    if node.keywords or any(not (isinstance(b, ast.Name) and b.id == 'object')
                            for b in node.bases):
      return True
    return any(_calls(item) for item in node.body
               if not isinstance(item, _DEFINITIONS))
  return False


def _top_level_magic(node: ast.stmt) -> bool:
  """Whether a statement outside a def reads __name__ or __file__."""
  return any(isinstance(n, ast.Name) and n.id in ('__name__', '__file__')
             for n in ast.walk(node))


def _dynamic(unit: _Unit) -> Optional[str]:
  """Why the unit makes the slice unsafe: it reads names by string."""
  for node in unit.nodes:
    for item in ast.walk(node):
      called = (item.func.id if isinstance(item, ast.Call) and isinstance(
          item.func, ast.Name) else item.func.attr if isinstance(
              item, ast.Call) and isinstance(item.func, ast.Attribute)
                and item.func.attr == 'import_module' else None)
      if called in _DYNAMIC and not (called == 'vars' and item.args):
        return (f'line {item.lineno} calls {called}(), which reads '
                "the module's names at run time")
      if isinstance(item, ast.Attribute) and item.attr == 'modules' and (
          isinstance(item.value, ast.Name) and item.value.id == 'sys'):
        return (f'line {item.lineno} reads sys.modules, which reaches the '
                "module's names at run time")
  return None


def _imported_back(kept: list[_Unit], module: str,
                   siblings: dict[str, str]) -> Optional[str]:
  """Why the slice is unsafe when a file of its folder it imports (in turn)
  imports the module itself: that file would get the slice."""
  by_module = {os.path.splitext(name)[0]: text
               for name, text in siblings.items()}
  todo = [m for u in kept for n in u.nodes for m in _imported_modules(n)]
  seen: set[str] = set()
  while todo:
    name = todo.pop()
    if name in seen or name not in by_module or name == module:
      continue
    seen.add(name)
    try:
      tree = ast.parse(by_module[name])
    except SyntaxError:
      continue
    for node in ast.walk(tree):
      imported = _imported_modules(node)
      if module in imported:
        return f'{name}.py, imported by the slice, imports {module} back'
      todo += imported
  return None


def _imported_modules(node: ast.AST) -> list[str]:
  """Top-level module names an import statement (anywhere inside `node`)
  reads; `from . import x` names x."""
  found = []
  for item in ast.walk(node):
    if isinstance(item, ast.Import):
      found += [a.name.split('.')[0] for a in item.names]
    elif isinstance(item, ast.ImportFrom):
      if item.module:
        found.append(item.module.split('.')[0])
      if item.level:
        found += [a.name for a in item.names]
  return found


def _render(kept: list[_Unit], lines: list[str], file_name: str,
            entries: list[str], names: tuple[str, ...]) -> str:
  """The slice's text: a header saying where it came from, then the kept
  units verbatim."""
  others = [n for n in names if n not in entries]
  what = ' and '.join(entries) or 'the module'
  used = (f' ({", ".join(others)}, and the imports and constants they use)'
          if others else ' (its imports and constants)')
  header = textwrap.fill(
      f'From {file_name}, for {what}: the statements of {file_name} that '
      f'{what} uses{used}, verbatim and in source order (line numbers differ '
      'from the file). The rest of the file is left out, so editing it '
      'does not re-run this step. Written by fluent_pipeline.',
      width=77, initial_indent='# ', subsequent_indent='# ')
  parts = [header + '\n']
  previous: Optional[_Unit] = None
  for unit in kept:
    if previous is None:
      gap = '\n'
    elif unit.definition or previous.definition:
      gap = '\n\n'
    elif unit.first == previous.end + 1:
      gap = ''
    else:
      gap = '\n'
    body = ''.join(lines[unit.first - 1:unit.end])
    if not body.endswith('\n'):
      body += '\n'
    parts.append(gap + body)
    previous = unit
  return ''.join(parts)


def original_line(slice_text: str, original_text: str,
                  lineno: int) -> Optional[int]:
  """The line of the original file that line `lineno` of its slice is: the
  slice holds each statement verbatim, so the statement holding the line is
  found in the file by its text, and the offset inside it is the same."""
  try:
    tree = ast.parse(slice_text)
  except SyntaxError:
    return None
  lines = slice_text.splitlines()
  for node in tree.body:
    start = min([node.lineno] + [d.lineno for d in getattr(
        node, 'decorator_list', [])])
    if not start <= lineno <= node.end_lineno:
      continue
    block = lines[start - 1:node.end_lineno]
    original = original_text.splitlines()
    for i in range(len(original) - len(block) + 1):
      if original[i:i + len(block)] == block:
        return i + 1 + lineno - start
    return None
  return None
