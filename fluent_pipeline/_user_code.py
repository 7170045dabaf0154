"""User code for preprocess / tune / train, in the three forms users write it.

- a module file path ('taxi_utils.py'): passed to TFX as `module_file`, so TFX
  packages it and a change to the file invalidates the cache;
- a dotted path ('pkg.module.run_fn'): passed as TFX's `<fn>` argument; it
  must be importable wherever the component runs;
- a function object: an importable one becomes its dotted path; one defined
  in `__main__`, a notebook or another function is serialized by value with
  cloudpickle into a generated module file under the pipeline root (named by
  its content hash), so notebook prototypes run unchanged.

Everything is checked without running the user's code: a module file is
parsed, not imported, and signatures are checked with `inspect`.
"""

import ast
import base64
import dataclasses
import functools
import hashlib
import importlib
import inspect
import os
import site
import struct
import sys
import sysconfig
from typing import Any, Callable, Dict, Mapping, Optional

from fluent_pipeline.errors import UserCodeError

GENERATED_DIR = '_fluent_user_code'


@dataclasses.dataclass(frozen=True)
class UserCode:
  """How one step's user function reaches TFX, and what it was given as
  ('module_file', 'dotted_path' or 'function')."""
  fn_name: str
  module_file: Optional[str] = None
  fn_path: Optional[str] = None
  given_as: str = 'module_file'
  function: Any = dataclasses.field(default=None, compare=False, repr=False)
  recorded: Optional[Dict[str, Any]] = dataclasses.field(
      default=None, compare=False, repr=False)  # set by Restored

  def component_kwargs(self) -> Dict[str, str]:
    if self.module_file:
      return {'module_file': self.module_file}
    return {self.fn_name: self.fn_path}

  def record(self) -> Dict[str, Any]:
    """What the configuration artifact keeps of this code: what it was given
    as and where, the files TFX packages (every .py file beside a module
    file; the module of a dotted path), their content hash (TFX's, as in
    the user-code wheel's name) and, for a function, its source."""
    if self.recorded is not None:
      return dict(self.recorded)
    entry: Dict[str, Any] = {'given_as': self.given_as}
    if self.function is not None:
      entry['location'] = (f'{getattr(self.function, "__module__", "?")}.'
                           f'{getattr(self.function, "__qualname__", "?")}')
    if self.module_file:
      files = _py_files(os.path.dirname(self.module_file))
      entry.setdefault('location', self.module_file)
      entry['module_file'] = self.module_file
    else:
      module = importlib.import_module(self.fn_path.rpartition('.')[0])
      folder, name = os.path.split(inspect.getsourcefile(module))
      files = _py_files(folder, [name])
      entry['location'] = self.fn_path
    entry['sha256'] = _content_hash(files)
    entry['files'] = files
    if self.function is not None:
      try:
        entry['source'] = inspect.getsource(self.function)
      except (OSError, TypeError):
        pass
    return entry


@dataclasses.dataclass(frozen=True)
class Restored:
  """User code restored from a run's configuration (PipelineDef.from_run):
  the recorded entry; it resolves to the original file or dotted path while
  that still has the recorded content, else to the recorded files written
  under the pipeline root. Either way TFX packages the same content."""
  entry: Mapping[str, Any]

  def resolve(self, fn_name: str, pipeline_root: str) -> UserCode:
    entry = dict(self.entry)
    if entry['given_as'] == 'dotted_path' or 'module_file' not in entry:
      try:
        code = _dotted_path(entry['location'], fn_name, 'from_run')
        if code.record()['sha256'] == entry['sha256']:
          return dataclasses.replace(code, recorded=entry)
      except UserCodeError:
        pass
    original = entry.get('module_file')
    if original and os.path.isfile(original) and _content_hash(
        _py_files(os.path.dirname(original))) == entry['sha256']:
      path = original
    else:
      folder = os.path.join(pipeline_root, GENERATED_DIR,
                            f'restored_{entry["sha256"][:16]}')
      os.makedirs(folder, exist_ok=True)
      for file_name, text in entry['files'].items():
        with open(os.path.join(folder, file_name), 'w', encoding='utf-8',
                  newline='') as f:
          f.write(text)
      module = (os.path.basename(original) if original else
                next(iter(entry['files'])))
      path = os.path.join(folder, module)
    return UserCode(fn_name=fn_name, module_file=path,
                    given_as=entry['given_as'], recorded=entry)


def _py_files(folder: str, names=None) -> Dict[str, str]:
  """File name -> text of `names` in `folder` (default: every .py file, as
  TFX packages a module file's folder), newlines kept as they are."""
  if names is None:
    names = sorted(f for f in os.listdir(folder) if f.endswith('.py'))
  files = {}
  for name in names:
    with open(os.path.join(folder, name), encoding='utf-8', newline='') as f:
      files[name] = f.read()
  return files


def _content_hash(files: Dict[str, str]) -> str:
  """TFX's user-module version hash (udf_utils._get_version_hash): sha256
  over the sorted file names and contents, each prefixed by its length."""
  digest = hashlib.sha256()
  for name in sorted(files):
    for part in (name.encode('utf-8'), files[name].encode('utf-8')):
      digest.update(struct.pack('>Q', len(part)))
      digest.update(part)
  return digest.hexdigest()


def resolve(code: Any, *, fn_name: str, step: str,
            pipeline_root: str) -> UserCode:
  """Checks `code` and says how to hand it to the TFX component."""
  if isinstance(code, Restored):
    return code.resolve(fn_name, pipeline_root)
  if isinstance(code, os.PathLike) or (
      isinstance(code, str) and (code.endswith('.py') or os.sep in code)):
    return _module_file(os.fspath(code), fn_name, step)
  if isinstance(code, str):
    return _dotted_path(code, fn_name, step)
  if callable(code):
    return _function(code, fn_name, step, pipeline_root)
  raise UserCodeError(
      step, f'expected a module file, a dotted path or a function for '
      f'{fn_name}, got {type(code).__name__}',
      fix=f"pass 'path/to/module.py', 'pkg.module.{fn_name}' or the "
      'function itself')


def _module_file(path: str, fn_name: str, step: str) -> UserCode:
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise UserCodeError(
        step, f'module file {path!r} does not exist',
        fix='pass the path of an existing .py file (relative paths are '
        'resolved against the current directory)')
  if not path.endswith('.py'):
    raise UserCodeError(step, f'module file {path!r} is not a .py file',
                        fix='pass a Python source file ending in .py')
  stat = os.stat(path)
  try:
    tree = _parse(path, stat.st_mtime_ns, stat.st_size)
  except SyntaxError as e:
    raise UserCodeError(
        step, f'module file {path!r} has a syntax error at line {e.lineno}: '
        f'{e.msg}', fix='fix the syntax error') from None
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
        node.name == fn_name):
      args = node.args
      positional = len(args.posonlyargs) + len(args.args)
      required = positional - len(args.defaults)
      if not args.vararg and (positional < 1 or required > 1):
        raise UserCodeError(
            step, f'{fn_name} in {path!r} takes {required} required '
            'arguments; TFX calls it with exactly one',
            fix=f'define it as def {fn_name}({_ARG_NAMES[fn_name]}): ...')
      return UserCode(fn_name=fn_name, module_file=path)
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == fn_name for t in node.targets):
      return UserCode(fn_name=fn_name, module_file=path)
  raise UserCodeError(
      step, f'module file {path!r} does not define {fn_name}',
      fix=f'add def {fn_name}({_ARG_NAMES[fn_name]}): ... to the module, or '
      'pass the function itself')


@functools.lru_cache(maxsize=64)
def _parse(path: str, mtime_ns: int, size: int) -> ast.Module:
  """The module's syntax tree; cached while the file is unchanged (one build
  checks the same module file for several steps)."""
  del mtime_ns, size  # cache keys only
  with open(path, encoding='utf-8') as f:
    return ast.parse(f.read(), filename=path)


def _dotted_path(path: str, fn_name: str, step: str) -> UserCode:
  module_name, _, attr = path.rpartition('.')
  if not module_name:
    raise UserCodeError(
        step, f'{path!r} is neither a .py file nor a dotted path',
        fix=f"pass 'pkg.module.{fn_name}' or 'path/to/module.py'")
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise UserCodeError(
        step, f'cannot import module {module_name!r} of {path!r}: {e}',
        fix='make the package importable (pip install -e . or PYTHONPATH) '
        'or pass the module file path instead') from None
  fn = getattr(module, attr, None)
  if fn is None:
    raise UserCodeError(
        step, f'module {module_name!r} has no attribute {attr!r}',
        fix=f'check the spelling of {path!r}')
  _check_signature(fn, fn_name, step, path)
  return UserCode(fn_name=fn_name, fn_path=path, given_as='dotted_path')


def _function(fn: Callable[..., Any], fn_name: str, step: str,
              pipeline_root: str) -> UserCode:
  label = getattr(fn, '__qualname__', repr(fn))
  _check_signature(fn, fn_name, step, label)
  module_name = getattr(fn, '__module__', None)
  module = sys.modules.get(module_name) if module_name else None
  importable = (module is not None and module_name != '__main__'
                and '<' not in label and getattr(module, label, None) is fn)
  if importable and _installed(module):
    return UserCode(fn_name=fn_name, fn_path=f'{module_name}.{label}',
                    given_as='function', function=fn)
  return UserCode(fn_name=fn_name,
                  module_file=_write_pickled_module(
                      fn, fn_name, label, pipeline_root,
                      by_value=module if importable else None),
                  given_as='function', function=fn)


def _installed(module) -> bool:
  """Whether `module` comes from an installed package (site-packages or the
  standard library) rather than the user's own files."""
  path = getattr(module, '__file__', None)
  if not path:
    return True  # built in
  path = os.path.realpath(path)
  roots = {os.path.realpath(p) for key in ('stdlib', 'platstdlib', 'purelib',
                                           'platlib')
           for p in [sysconfig.get_paths().get(key)] if p}
  roots |= {os.path.realpath(p) for p in site.getsitepackages()}
  return any(path.startswith(root + os.sep) for root in roots)


def _write_pickled_module(fn, fn_name: str, label: str, pipeline_root: str,
                          by_value=None) -> str:
  """A module file holding `fn` pickled by value. A function of the user's
  own importable module (`by_value`) is pickled by value too, with its
  module's code: passed by its dotted path, a change to it would not reach
  TFX's cache, and the same file would be passed differently when run by
  the CLI and when imported."""
  import cloudpickle  # pylint: disable=g-import-not-at-top
  if by_value is not None:
    cloudpickle.register_pickle_by_value(by_value)
  try:
    payload = cloudpickle.dumps(fn)
  finally:
    if by_value is not None:
      cloudpickle.unregister_pickle_by_value(by_value)
  digest = hashlib.sha256(payload).hexdigest()[:16]
  folder = os.path.join(pipeline_root, GENERATED_DIR, f'{fn_name}_{digest}')
  path = os.path.join(folder, f'{fn_name}_module.py')
  if os.path.exists(path):
    return path
  os.makedirs(folder, exist_ok=True)
  encoded = base64.b64encode(payload).decode('ascii')
  lines = [f'"""{fn_name} from {label}, serialized by fluent_pipeline."""',
           'import base64', 'import cloudpickle', '',
           f'{fn_name} = cloudpickle.loads(base64.b64decode(']
  lines += [f"    '{encoded[i:i + 76]}'" for i in range(0, len(encoded), 76)]
  lines += ['))', '']
  temp = f'{path}.{os.getpid()}.tmp'
  with open(temp, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines))
  os.replace(temp, path)
  return path


def _check_signature(fn, fn_name: str, step: str, label: str) -> None:
  if not callable(fn):
    raise UserCodeError(step, f'{label} is not callable',
                        fix=f'point at a function like {fn_name}')
  try:
    signature = inspect.signature(fn)
  except (TypeError, ValueError):
    return  # builtins and C functions: nothing to check.
  try:
    signature.bind(object())
  except TypeError:
    raise UserCodeError(
        step, f'{label}{signature} cannot be called with one argument; '
        f'TFX calls {fn_name}({_ARG_NAMES[fn_name]})',
        fix=f'define it as def {fn_name}({_ARG_NAMES[fn_name]}): ...'
    ) from None


_ARG_NAMES = {
    'preprocessing_fn': 'inputs',
    'run_fn': 'fn_args',
    'tuner_fn': 'fn_args',
}
