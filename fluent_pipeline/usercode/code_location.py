"""Where in the user's own code a run failed, as the user wrote it.

A failure inside preprocessing_fn, run_fn or tuner_fn names the user's file,
line and code in the error's first lines: TFX runs a copy of the code,
installed from a wheel into a temporary folder (or a module fluent_pipeline
generated from a function), so the innermost frame of the user's code is
mapped back to the file they wrote (a module file's slice too: the line's
statement is found in the user's file by its text). A function defined in
a notebook cell is named by the cell ('notebook cell In [5]') and the line
in it, read from what user_code recorded beside the generated module when
it captured the function (user_code.ORIGINS_FILE).
"""

import ast
import dataclasses
import inspect
import linecache
import os
import sys
import traceback
from typing import Any, Optional

from fluent_pipeline import _paths
from fluent_pipeline.usercode import (
  function_source,
  module_slice,
  packages,
  user_code,
)

# The user function each TFX component calls, by the component's default id.
_STEPS = (('transform', 'Transform', 'preprocessing_fn'),
          ('tuner', 'Tuner', 'tuner_fn'),
          ('trainer', 'Trainer', 'run_fn'))


@dataclasses.dataclass(frozen=True)
class CodeLocation:
  """The line of the user's code a run failed at, as the user wrote it.

  `generated` is (path, line) in the module fluent_pipeline wrote for a
  function object, when `path` is the function's own file. `cell` names
  the notebook cell `path` is (IPython's name for it is no file the user
  can open), and `lineno` is then the line in that cell.
  """
  fn_name: str  # what TFX called: preprocessing_fn, run_fn or tuner_fn
  function: str  # the function the line is in
  path: str
  lineno: int
  line: str
  generated: Optional[tuple[str, int]] = None
  cell: Optional[str] = None  # e.g. 'notebook cell In [5]'

  def lines(self) -> list[str]:
    where = self.cell or self.path
    found = [f'  at {where}, line {self.lineno}, in {self.function}:']
    if self.line:
      found.append(f'    {self.line}')
    if self.generated:
      found.append(f'  (run as {self.generated[0]}, line '
                   f'{self.generated[1]})')
    return found


@dataclasses.dataclass(frozen=True)
class _Known:
  """A file of the plan's user code, and the step function it serves."""
  path: str
  fn_name: str
  function: Any = None  # the function object a generated module holds
  generated: bool = False
  # The user's file a slice (or its copied neighbour) was made from.
  original: Optional[str] = None


def locate(error: BaseException, plan, component_id: Optional[str] = None
           ) -> Optional[CodeLocation]:
  """The innermost frame of the user's code in `error`'s chain, or None.

  The root cause's traceback is searched first. Frames of installed
  packages, the standard library and fluent_pipeline are never the user's;
  a copy TFX installed of the user's module is mapped back to the module.
  """
  try:
    return _locate(error, plan, component_id)
  except Exception:
    return None  # a diagnosis must not fail the report of a failure


def _locate(error: BaseException, plan, component_id: Optional[str]
            ) -> Optional[CodeLocation]:
  linecache.checkcache()  # the user may have edited a file since
  try:
    known = _known_files(plan)
  except Exception:
    known = []  # still: frames of the user's own files outside the venv
  chain = [error]
  while True:
    nxt = chain[-1].__cause__ or chain[-1].__context__
    if nxt is None or any(nxt is e for e in chain):
      break
    chain.append(nxt)
  default = _default_fn_name(component_id, plan)
  for exc in reversed(chain):
    frames = traceback.extract_tb(exc.__traceback__)
    # One module may serve two steps: the step whose function is on the
    # stack (or the failed component's) first.
    names = {f.name for f in frames}
    known.sort(key=lambda k: (k.fn_name not in names, k.fn_name != default))
    mapped = [(f, _match(f, known)) for f in frames if _is_users(f, known)]
    if not mapped:
      continue
    # The innermost frame of a file the plan names; only without one, the
    # innermost of any other file outside the installed packages (which may
    # be a library on PYTHONPATH or installed in editable mode, so it comes
    # second).
    frame, match = ([m for m in mapped if m[1] is not None] or mapped)[-1]
    fn_name = next((m.fn_name for _, m in mapped if m is not None), default)
    return _location(frame, match, fn_name)
  return None


def _known_files(plan) -> list[_Known]:
  """The files of the plan's user code: every .py file beside a module file
  (TFX packages the folder), a dotted path's module, a function's file."""
  known = []
  for _kind, step, _, fn_name in plan.code_steps():
    if 'code' not in step.opts:
      continue
    code = user_code.resolve(step.opts['code'], fn_name=fn_name,
                              step=step.call,
                              pipeline_root=plan.pipeline_root)
    function = code.function
    if code.sliced_from:
      folder = os.path.dirname(code.module_file)
      mine = os.path.dirname(code.sliced_from)
      known += [_Known(os.path.join(folder, name), fn_name,
                       original=os.path.join(mine, name))
                for name in sorted(os.listdir(folder)) if name.endswith('.py')]
    elif code.module_file and not _paths.is_uri(code.module_file):
      folder = os.path.dirname(code.module_file)
      generated = function is not None and not code.unavailable_source
      for name in sorted(os.listdir(folder)):
        if name.endswith('.py'):
          path = os.path.join(folder, name)
          known.append(_Known(path, fn_name, function if generated and (
              path == code.module_file) else None, generated))
    elif code.fn_path:
      module = sys.modules.get(code.fn_path.rpartition('.')[0])
      path = getattr(module, '__file__', None)
      if path:
        known.append(_Known(path, fn_name))
    if function is not None:  # pickled, or a dotted path: its own file
      try:
        known.append(_Known(inspect.getsourcefile(function), fn_name))
      except (OSError, TypeError):
        pass
  return known


def _is_users(frame: traceback.FrameSummary, known: list[_Known]) -> bool:
  path = frame.filename
  if function_source.cell_label(path) and linecache.getline(path, 1):
    return True  # a notebook cell's code (a pickled function runs it)
  # Not '<string>', Beam's compiled modules ('apache_beam/...', relative)
  # nor TF's autograph copies: no file of the user's to show.
  if not os.path.isabs(path) or not os.path.isfile(path) or (
      os.path.basename(path).startswith('__autograph_generated_file')):
    return False
  real = os.path.realpath(path)
  if any(os.path.realpath(k.path) == real for k in known):
    return True  # even installed: the plan names it
  excluded = packages.install_roots() | {_PACKAGE_DIR}
  return not any(real.startswith(root + os.sep) for root in excluded)


# fluent_pipeline/ itself: its own frames are never the user's.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _match(frame: traceback.FrameSummary, known: list[_Known]
           ) -> Optional[_Known]:
  """The known file `frame` runs: the file itself, or TFX's installed copy
  of it (same name, same line)."""
  real = os.path.realpath(frame.filename)
  name = os.path.basename(real)
  line = _line(real, frame.lineno)
  for entry in known:
    if os.path.realpath(entry.path) == real:
      return entry
  for entry in known:
    if os.path.basename(entry.path) == name and line and _line(
        entry.path, frame.lineno) == line:
      return entry
  return None


def _line(path: str, lineno: Optional[int]) -> str:
  return linecache.getline(path, lineno or 0).strip()


def _default_fn_name(component_id: Optional[str], plan) -> str:
  """The step function of the failed component, for a frame of the user's
  own files that are not the step's module (a helper they imported)."""
  for kind, default_id, fn_name in _STEPS:
    if component_id and component_id.startswith(default_id) and (
        kind in plan.steps):
      return fn_name
  if component_id and component_id.startswith('FilterExamples'):
    return 'predicate_fn'
  if component_id and component_id.startswith('StratifiedSample'):
    return 'key_fn'
  return 'code'


def _location(frame: traceback.FrameSummary, match: Optional[_Known],
              fn_name: str) -> CodeLocation:
  line = _line(frame.filename, frame.lineno) or (frame.line or '').strip()
  if match is None or not (match.original or match.generated):
    path = match.path if match else frame.filename
    return CodeLocation(fn_name, frame.name, path, frame.lineno, line,
                        cell=function_source.cell_label(path))
  if match.original:
    lineno = _sliced_line(match, frame.lineno)
    if lineno is None:
      return CodeLocation(fn_name, frame.name, match.path, frame.lineno, line)
    return CodeLocation(fn_name, frame.name, match.original, lineno, line,
                        generated=(match.path, frame.lineno))
  original = _original_line(match, frame)
  if original is None:
    return CodeLocation(fn_name, frame.name, match.path, frame.lineno, line)
  path, lineno, cell = original
  return CodeLocation(fn_name, frame.name, path, lineno, line,
                      generated=(match.path, frame.lineno), cell=cell)


def _sliced_line(match: _Known, lineno: int) -> Optional[int]:
  """The line of the user's file that line `lineno` of a slice (or of a
  neighbour copied with it, line for line) is, if the file still holds it."""
  if not os.path.isfile(match.original):
    return None
  with open(match.path, encoding='utf-8') as f:
    ran = f.read()
  with open(match.original, encoding='utf-8') as f:
    mine = f.read()
  if ran == mine:
    return lineno
  found = module_slice.original_line(ran, mine, lineno)
  if found is None or _line(match.original, found) != _line(match.path,
                                                            lineno):
    return None
  return found


def _original_line(match: _Known, frame: traceback.FrameSummary
                   ) -> Optional[tuple[str, int, Optional[str]]]:
  """Where the user wrote the line a generated module runs, as (file, line,
  notebook cell or None): the generated module holds each definition as
  its source text, so the line's offset in its definition is the same in
  the user's file or cell. Read from the origins recorded when the module
  was written, else from the live function."""
  if match.function is None:  # a module of the user's, copied beside it
    name = os.path.basename(match.path)
    recorded = ((user_code.origins(os.path.dirname(match.path)) or {})
                .get('modules') or {}).get(name)
    module = sys.modules.get(os.path.splitext(name)[0])
    for path in (recorded, getattr(module, '__file__', None)):
      if path and _line(path, frame.lineno) == _line(match.path,
                                                     frame.lineno):
        return path, frame.lineno, None
    return None
  found = _recorded_origin(match.path, frame.lineno)
  if found is not None:
    return found
  node = _definition_at(match.path, frame.lineno)
  if node is None:
    return None
  fn = inspect.unwrap(match.function)
  obj = match.function if node[0] == fn.__name__ else (
      fn.__globals__.get(node[0]))
  if obj is None:
    return None
  try:
    path = inspect.getsourcefile(obj)
    _, first = inspect.getsourcelines(obj)
  except (OSError, TypeError):
    return None
  lineno = first + frame.lineno - node[1]
  if not path or _line(path, lineno) != _line(match.path, frame.lineno):
    return None
  cell = function_source.cell_label(path)
  # A file must be on disk to be shown; a cell is held by IPython.
  if cell is None and not os.path.isfile(path):
    return None
  return path, lineno, cell


def _definition_at(path: str, lineno: int) -> Optional[tuple[str, int]]:
  """(name, first line, decorators included) of the top-level definition
  of the module at `path` that holds line `lineno`."""
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read())
  for node in tree.body:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
      continue
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    if start <= lineno <= node.end_lineno:
      return node.name, start
  return None


def _recorded_origin(module_file: str, lineno: int
                     ) -> Optional[tuple[str, int, Optional[str]]]:
  """Line `lineno` of a generated module as (file, line, cell), from the
  origins user_code wrote beside it; a file's line must still be there."""
  data = user_code.origins(os.path.dirname(module_file))
  if not data or data.get('module') != os.path.basename(module_file):
    return None
  node = _definition_at(module_file, lineno)
  origin = (data.get('definitions') or {}).get(node[0]) if node else None
  if not isinstance(origin, dict) or not origin.get('file') or not (
      isinstance(origin.get('line'), int)):
    return None
  line = origin['line'] + lineno - node[1]
  if origin.get('cell'):
    return origin['file'], line, origin['cell']
  linecache.checkcache(origin['file'])  # the user may have edited it
  if os.path.isfile(origin['file']) and _line(origin['file'], line) == (
      _line(module_file, lineno)):
    return origin['file'], line, None
  return None


def place(path: str, lineno: int) -> Optional[str]:
  """'notebook cell In [5], line 3' (or the user's file and line) for line
  `lineno` of a module generated under the pipeline root, as an error
  naming that module can say instead; None for any other file."""
  if user_code.GENERATED_DIR not in path.split(os.sep):
    return None
  try:
    found = _recorded_origin(path, lineno)
  except (OSError, SyntaxError, ValueError):
    return None
  if found is None:
    return None
  return f'{found[2] or found[0]}, line {found[1]}'
