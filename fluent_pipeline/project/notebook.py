"""The pipeline a notebook builds, read without running it.

`fluent-pipeline export notebook.ipynb` executes the notebook's code cells in
order, in a fresh module, with their source registered as IPython does (so
the functions they define have source), and stops at the first `run()` or
`export()` call: the PipelineDef it was called on is the pipeline. Without
such a call, the one PipelineDef variable (or `--name`) is. Magics and shell
lines are turned into calls by IPython's own transformer; `%%writefile`
writes its file (TFX notebooks write module files that way), the others
(`!pip install`, `%time`, ...) are skipped.
"""

import contextlib
import json
import linecache
import os
import sys
import types
from collections.abc import Iterator
from typing import Any, Optional

from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.usercode import function_source

MODULE_PREFIX = function_source.NOTEBOOK_MODULE_PREFIX


class _Stop(BaseException):
  """Raised by run() / export() while a notebook is read."""

  def __init__(self, pipeline_def):
    super().__init__()
    self.pipeline_def = pipeline_def


_capturing: list[bool] = []


def capturing() -> bool:
  return bool(_capturing)


def stop_at(pipeline_def) -> None:
  """Called by PipelineDef.run / export while a notebook is being read."""
  raise _Stop(pipeline_def)


@contextlib.contextmanager
def _capture() -> Iterator[None]:
  _capturing.append(True)
  try:
    yield
  finally:
    _capturing.pop()


def code_cells(path: str) -> list[str]:
  """The code cells as Python, magics turned into get_ipython() calls."""
  with open(path, encoding='utf-8') as f:
    notebook = json.load(f)
  from IPython.core.inputtransformer2 import TransformerManager
  transform = TransformerManager().transform_cell
  cells = []
  for cell in notebook.get('cells', []):
    if cell.get('cell_type') != 'code':
      continue
    source = cell.get('source', '')
    source = ''.join(source) if isinstance(source, list) else source
    cells.append(transform(source))
  return cells


class _Shell:
  """What get_ipython() gives the cells: %%writefile writes its file; other
  magics and shell commands do nothing (reading a notebook installs nothing
  and runs no shell)."""

  def run_cell_magic(self, name: str, line: str, cell: str) -> None:
    if name != 'writefile':
      return
    args = line.split()
    append = '-a' in args or '--append' in args
    path = [a for a in args if not a.startswith('-')][0]
    with open(os.path.expanduser(path), 'a' if append else 'w',
              encoding='utf-8') as f:
      f.write(cell)

  def run_line_magic(self, *args, **kwargs) -> None:
    del args, kwargs

  def system(self, *args, **kwargs) -> None:
    del args, kwargs

  getoutput = system


def load(path: str, name: Optional[str] = None,
         notes: Optional[list[str]] = None):
  """The PipelineDef the notebook at `path` builds (see the module doc).
  When the notebook holds other PipelineDefs than the one taken, a note
  saying which it took and how to pick another is added to `notes`."""
  where = os.path.basename(path)
  if not os.path.isfile(path):
    raise PipelineDefinitionError(where, 'no such notebook',
                                  fix='pass the path of an .ipynb file')
  cells = code_cells(path)
  module_name = f'{MODULE_PREFIX}{abs(hash(os.path.abspath(path)))}'
  module = types.ModuleType(module_name)
  module.__dict__['In'] = ['']  # as IPython keeps them, cell by cell
  module.__dict__['get_ipython'] = _Shell
  sys.modules[module_name] = module
  folder = os.path.dirname(os.path.abspath(path))
  saved_cwd = os.getcwd()
  os.chdir(folder)  # a notebook runs in its own folder
  if folder not in sys.path:
    sys.path.insert(0, folder)
  found: Any = None
  stopped_in = 0
  try:
    with _capture():
      for number, source in enumerate(cells, 1):
        module.__dict__['In'].append(source)
        file_name = f'<{where} cell {number}>'
        linecache.cache[file_name] = (len(source), None,
                                      source.splitlines(True), file_name)
        try:
          exec(compile(source, file_name, 'exec'), module.__dict__)
        except _Stop as stop:
          found, stopped_in = stop.pipeline_def, number
          break
        except Exception as e:
          raise PipelineDefinitionError(
              where, f'cell {number} failed before the pipeline was built: '
              f'{type(e).__name__}: {e}', fix='run the notebook once and '
              'fix the cell') from e
  finally:
    os.chdir(saved_cwd)
  if name:
    found = module.__dict__.get(name)
    if not isinstance(found, Chain):
      upto = (f' (its cells up to cell {stopped_in}, whose run() or '
              'export() call ends the reading)' if stopped_in else '')
      raise PipelineDefinitionError(
          where, f'{name!r} is not a PipelineDef in the notebook{upto}',
          fix='pass --name with the variable holding the chain: '
          + (', '.join(_chains(module.__dict__)) or 'it holds none'))
    return found
  if found is not None and notes is not None:
    chains = _chains(module.__dict__)
    took = [k for k, v in chains.items() if v is found]
    others = [k for k, v in chains.items() if v is not found]
    if others:
      taken = (f'the PipelineDef {", ".join(took)}' if took
               else 'the PipelineDef')
      notes.append(
          f'{where}: took {taken}, whose run() or export() in cell '
          f'{stopped_in} is the first; the notebook also holds '
          f'{", ".join(others)}: pick one with --name {others[0]}')
  if found is None:
    defs = {k: v for k, v in module.__dict__.items()
            if isinstance(v, Chain)}
    if len(defs) != 1:
      raise PipelineDefinitionError(
          where, f'the notebook calls no run() and holds {len(defs)} '
          f'PipelineDefs ({", ".join(defs) or "none"})',
          fix='pick one with --name')
    found = next(iter(defs.values()))
  return found


def _chains(namespace: dict[str, Any]) -> dict[str, Any]:
  """The notebook's PipelineDef variables, by name."""
  return {k: v for k, v in namespace.items()
          if isinstance(v, Chain) and not k.startswith('_')}
