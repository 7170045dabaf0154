"""What a step's user code was, as text to read: the source of a function
or the module file recorded in the run's configuration.

Read from the configuration's user-code records (plain dicts), not from
artifact files, so nothing here imports TFX.
"""

import posixpath
from typing import Any, Optional


def function_source(code: dict[str, Any]) -> tuple[str, Optional[str]]:
  """(name, source) of the function a user-code record of the run's
  configuration holds (a predicate, a key, a run_fn): the source recorded
  with a function object, else its definition in the recorded files (a
  dotted path's module, a generated module, a module file's slice); the
  source is None when neither holds it (a function pickled because Python
  kept no source of it)."""
  location = str(code.get('location') or '')
  name = ((code.get('sliced') or {}).get('for') or
          location.rpartition('.')[2])
  if code.get('source'):
    return location or name or 'source', code['source']
  for file_name, text in sorted((code.get('files') or {}).items()):
    found = _definition(text, name)
    if found is not None:
      return f'{file_name}:{name}', found
  return location or name or 'function', None


def _definition(text: str, name: str) -> Optional[str]:
  """The source of top-level function or class `name` in module `text`."""
  import ast
  if not name:
    return None
  try:
    tree = ast.parse(text)
  except SyntaxError:
    return None
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)) and node.name == name:
      lines = text.splitlines(keepends=True)
      start = min([node.lineno] + [d.lineno for d in node.decorator_list])
      return ''.join(lines[start - 1:node.end_lineno])
  return None


def code_source(code: dict[str, Any]) -> dict[str, Optional[str]]:
  """What a step's user code was, as text to read: {'title', 'text',
  'why'}. A function's source; a module file's packaged text (the slice
  cut for the step when it was cut); a dotted path's function. `why`
  says why there is no text."""
  given = code.get('given_as')
  module = code.get('module_file') or ''
  files = code.get('files') or {}
  if given == 'module_file' and files:
    base = posixpath.basename(module.replace('\\', '/'))
    text = files.get(base)
    if text is None and len(files) == 1:
      base, text = next(iter(files.items()))
    if text is not None:
      cut = code.get('sliced')
      title = (f'{base}, cut to {cut["for"]} and what it uses' if cut
               else base)
      return {'title': title, 'text': text, 'why': None}
  name, text = function_source(code)
  if text is not None:
    return {'title': name, 'text': text, 'why': None}
  if code.get('written_as') == 'cloudpickle':
    why = ('pickled with cloudpickle: it was defined where Python keeps no '
           'source (exec, an interactive prompt)')
  elif module and not files:
    why = f'read where it runs ({module}); its text is not recorded'
  else:
    why = 'no source recorded'
  return {'title': name, 'text': None, 'why': why}

