"""User code for preprocess / tune / train, in the three forms users write it.

- a module file path ('taxi_utils.py'): cut to the step's function and what
  it uses (module_slice), written beside copies of the other .py files of
  its folder into a generated folder TFX packages, so a change to one
  function re-runs only the steps that use it; passed as it is when it is a
  URI, or when the slice could change what the code does (then a change to
  the file re-runs every step given it, as in TFX);
- a dotted path ('pkg.module.run_fn'): passed as TFX's `<fn>` argument; it
  must be importable wherever the component runs;
- a function object: an installed one becomes its dotted path; one of the
  user's own (a notebook, `__main__`, a file of theirs) is written out as
  source with what it uses (function_source) into a generated module file
  under the pipeline root, named by its content hash, so notebook prototypes
  run unchanged and an edit reaches TFX's cache (beside it, ORIGINS_FILE
  says where each definition was written, a notebook cell included, for
  the errors; it is not part of the hash). Only a function whose
  source cannot be written out (a closure over a live object) is pickled
  with cloudpickle instead: it runs here, but export() and the Kubeflow /
  Vertex compile refuse it.

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
import json
import os
import shutil
import struct
import sys
import tempfile
import textwrap
from collections.abc import Mapping
from typing import Any, Callable, Optional

from fluent_pipeline import _paths
from fluent_pipeline.errors import UserCodeError
from fluent_pipeline.usercode import function_source, module_slice, packages

GENERATED_DIR = '_fluent_user_code'
# Beside a generated module: where the user wrote each of its definitions
# (read by code_location). Not a .py file: TFX neither packages nor hashes
# it, so a cell's execution count never changes the cache key.
ORIGINS_FILE = 'origins.json'


@dataclasses.dataclass(frozen=True)
class UserCode:
  """How one step's user function reaches TFX, and what it was given as
  ('module_file', 'dotted_path' or 'function')."""
  fn_name: str
  module_file: Optional[str] = None
  fn_path: Optional[str] = None
  given_as: str = 'module_file'
  function: Any = dataclasses.field(default=None, compare=False, repr=False)
  recorded: Optional[dict[str, Any]] = dataclasses.field(
      default=None, compare=False, repr=False)  # set by Restored
  # Why a function was pickled rather than written out as source.
  unavailable_source: Optional[str] = dataclasses.field(
      default=None, compare=False, repr=False)
  # A slice of a module file: the user's file, the definitions it kept.
  sliced_from: Optional[str] = dataclasses.field(
      default=None, compare=False, repr=False)
  kept: tuple[str, ...] = dataclasses.field(
      default=(), compare=False, repr=False)
  # Why a module file is passed whole rather than sliced.
  whole_file: Optional[str] = dataclasses.field(
      default=None, compare=False, repr=False)

  def component_kwargs(self) -> dict[str, str]:
    if self.module_file:
      return {'module_file': self.module_file}
    return {self.fn_name: self.fn_path}

  def record(self) -> dict[str, Any]:
    """What the configuration artifact keeps of this code: what it was given
    as and where, the files TFX packages (a module file's slice for the
    step and every other .py file beside it, or the whole folder; the
    module of a dotted path), their content hash (TFX's, as in the
    user-code wheel's name) and, for a function, its source."""
    if self.recorded is not None:
      return dict(self.recorded)
    entry: dict[str, Any] = {'given_as': self.given_as}
    if self.function is not None:
      # Not the module: a notebook's function and the same function
      # exported to a module are the same code.
      entry['location'] = getattr(self.function, '__name__', '?')
      if self.module_file:
        entry['written_as'] = ('cloudpickle' if self.unavailable_source
                               else 'source')
    if self.module_file and _paths.is_uri(self.module_file):
      entry.update(location=self.module_file, module_file=self.module_file,
                   files={}, sha256=hashlib.sha256(
                       self.module_file.encode('utf-8')).hexdigest())
      return entry  # remote: its content is read where it runs
    if self.sliced_from:
      # Named by the user's file (show, diff); the files TFX packages.
      files = py_files(os.path.dirname(self.module_file))
      entry['location'] = entry['module_file'] = self.sliced_from
      entry['sliced'] = {'for': self.fn_name, 'kept': list(self.kept)}
    elif self.module_file:
      files = py_files(os.path.dirname(self.module_file))
      entry.setdefault('location', self.module_file)
      entry['module_file'] = self.module_file
      if self.whole_file:
        entry['whole_file'] = self.whole_file
    else:
      module = importlib.import_module(self.fn_path.rpartition('.')[0])
      folder, name = os.path.split(inspect.getsourcefile(module))
      files = py_files(folder, [name])
      entry['location'] = self.fn_path
    entry['sha256'] = content_hash(files)
    entry['files'] = files
    if self.function is not None:
      try:
        entry['source'] = textwrap.dedent(inspect.getsource(self.function))
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
    if _paths.is_uri(original):
      return UserCode(fn_name=fn_name, module_file=original,
                      given_as=entry['given_as'], recorded=entry)
    if 'sliced' in entry and original and os.path.isfile(original):
      try:  # the file still holds the recorded code for this step
        code = _module_file(original, fn_name, 'from_run', pipeline_root)
        if code.record()['sha256'] == entry['sha256']:
          return dataclasses.replace(code, recorded=entry)
      except UserCodeError:
        pass
    if original and os.path.isfile(original) and content_hash(
        py_files(os.path.dirname(original))) == entry['sha256']:
      path = original
    else:
      folder = os.path.join(generated_dir(pipeline_root),
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


@dataclasses.dataclass(frozen=True)
class InImage:
  """User code shipped as source inside the container image (the Kubeflow /
  Vertex compile): a dotted path into the image's build context, passed to
  TFX as is (no wheel is built, nothing is uploaded); `files` are the files
  that hold it, for the configuration."""
  path: str
  files: Mapping[str, str]

  def resolve(self, fn_name: str) -> UserCode:
    files = dict(self.files)
    return UserCode(fn_name=fn_name, fn_path=self.path, given_as='image',
                    recorded={'given_as': 'image', 'location': self.path,
                              'files': files,
                              'sha256': content_hash(files)})


def py_files(folder: str, names=None) -> dict[str, str]:
  """File name -> text of `names` in `folder` (default: every .py file, as
  TFX packages a module file's folder), newlines kept as they are; read
  again only when a file's size or modification time changed (a build reads
  a folder for each step, each record and each slice)."""
  return dict(_read_files(folder, _stamps(folder, names)))


def _stamps(folder: str, names=None) -> tuple[tuple[str, int, int], ...]:
  """(name, mtime_ns, size) of `names` in `folder` (default: its .py files)."""
  if names is None:
    names = sorted(f for f in os.listdir(folder) if f.endswith('.py'))
  found = []
  for name in names:
    stat = os.stat(os.path.join(folder, name))
    found.append((name, stat.st_mtime_ns, stat.st_size))
  return tuple(found)


@functools.lru_cache(maxsize=128)
def _read_files(folder: str, stamps: tuple[tuple[str, int, int], ...]
                ) -> dict[str, str]:
  files = {}
  for name, _, _ in stamps:
    with open(os.path.join(folder, name), encoding='utf-8', newline='') as f:
      files[name] = f.read()
  return files


def content_hash(files: dict[str, str]) -> str:
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
  if isinstance(code, InImage):
    return code.resolve(fn_name)
  if is_module_file(code):
    return _module_file(os.fspath(code), fn_name, step, pipeline_root)
  if isinstance(code, str):
    return _dotted_path(code, fn_name, step)
  if callable(code):
    return _function(code, fn_name, step, pipeline_root)
  raise UserCodeError(
      step, f'expected a module file, a dotted path or a function for '
      f'{fn_name}, got {type(code).__name__}',
      fix=f"pass 'path/to/module.py', 'pkg.module.{fn_name}' or the "
      'function itself')


def is_module_file(code: Any) -> bool:
  """Whether `code` names a module file (a path or URI), not a dotted path
  or a function."""
  return isinstance(code, os.PathLike) or (
      isinstance(code, str) and (code.endswith('.py') or os.sep in code))


def _module_file(path: str, fn_name: str, step: str,
                 pipeline_root: str) -> UserCode:
  if _paths.is_uri(path):  # TFX copies it when it packages it; not read here
    return UserCode(fn_name=fn_name, module_file=path)
  path = _paths.absolute(path)
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
      return _sliced(path, fn_name, pipeline_root)
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == fn_name for t in node.targets):
      return _sliced(path, fn_name, pipeline_root)
  raise UserCodeError(
      step, f'module file {path!r} does not define {fn_name}',
      fix=f'add def {fn_name}({_ARG_NAMES[fn_name]}): ... to the module, or '
      'pass the function itself')


# Other functions a step's component looks up in its module, if defined.
_ALSO_LOOKED_UP = {'preprocessing_fn': ('stats_options_updater_fn',)}


def _sliced(path: str, fn_name: str, pipeline_root: str) -> UserCode:
  """The module file cut to `fn_name` and what it uses, written with the
  other .py files of its folder (TFX packages them, and the module may
  import them) into a generated folder named by their content hash; the
  file itself where a slice could change what the code does. Cut again
  only when a file of the folder changed or the generated one is gone."""
  stamps = _stamps(os.path.dirname(path))
  made = _sliced_once(path, fn_name, pipeline_root, stamps)
  if not os.path.isfile(made.module_file):
    _sliced_once.cache_clear()
    made = _sliced_once(path, fn_name, pipeline_root, stamps)
  return made


@functools.lru_cache(maxsize=64)
def _sliced_once(path: str, fn_name: str, pipeline_root: str,
                 stamps: tuple[tuple[str, int, int], ...]) -> UserCode:
  folder, name = os.path.split(path)
  files = dict(_read_files(folder, stamps))
  entries = (fn_name,) + _ALSO_LOOKED_UP.get(fn_name, ())
  cut = module_slice.cut(files[name], entries, name, siblings={
      k: v for k, v in files.items() if k != name})
  if cut.text is None:
    return UserCode(fn_name=fn_name, module_file=path,
                    whole_file=cut.reason)
  files[name] = cut.text
  return UserCode(fn_name=fn_name, module_file=_write_generated(
      files, fn_name, pipeline_root, module=name), sliced_from=path,
                  kept=cut.kept)


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
  if importable and packages.installed(module):
    return UserCode(fn_name=fn_name, fn_path=f'{module_name}.{label}',
                    given_as='function', function=fn)
  try:
    files, bundle = _source_files(fn, fn_name)
  except (function_source.SourceUnavailable, OSError, SyntaxError) as e:
    # Runs here, but is bound to this Python and these package versions:
    # export() and the Kubeflow / Vertex compile refuse it.
    return UserCode(fn_name=fn_name,
                    module_file=_write_pickled_module(
                        fn, fn_name, label, pipeline_root,
                        by_value=module if importable else None),
                    given_as='function', function=fn,
                    unavailable_source=str(e))
  module_file = _write_generated(files, fn_name, pipeline_root)
  _write_origins(module_file, bundle)
  return UserCode(fn_name=fn_name, module_file=module_file,
                  given_as='function', function=fn)


def source_module(fn: Callable[..., Any], fn_name: str) -> dict[str, str]:
  """File name -> text of the generated module holding `fn` as source (as
  `fn_name`) and the user modules it imports; raises SourceUnavailable."""
  return _source_files(fn, fn_name)[0]


def _source_files(fn: Callable[..., Any], fn_name: str
                  ) -> tuple[dict[str, str], function_source.Bundle]:
  bundle = function_source.collect({fn_name: fn})
  label = getattr(fn, '__name__', fn_name)  # not where it is nested
  files = dict(bundle.modules)
  files[f'{fn_name}_module.py'] = bundle.render(
      f'{fn_name} for TFX: {label} and what it uses, as source code '
      '(written by fluent_pipeline).')
  return files, bundle


def _write_origins(module_file: str, bundle: function_source.Bundle) -> None:
  """Writes ORIGINS_FILE beside `module_file`: for each definition the
  user's file (or notebook cell) and first line, for each copied module
  the user's file. Rewritten when it changed (a cell run again has a new
  execution count; the module's text, and folder, stay the same)."""
  data = {'module': os.path.basename(module_file),
          'definitions': {name: dataclasses.asdict(origin) for name, origin
                          in sorted(bundle.origins.items())},
          'modules': dict(sorted(bundle.module_origins.items()))}
  text = json.dumps(data, indent=1) + '\n'
  path = os.path.join(os.path.dirname(module_file), ORIGINS_FILE)
  try:
    with open(path, encoding='utf-8') as f:
      if f.read() == text:
        return
  except OSError:
    pass
  temp = f'{path}.{os.getpid()}.tmp'
  try:
    with open(temp, 'w', encoding='utf-8') as f:
      f.write(text)
    os.replace(temp, path)
  except OSError:  # a read-only root: errors then name the generated module
    pass


def origins(folder: str) -> Optional[dict[str, Any]]:
  """What _write_origins wrote in a generated module's folder, or None."""
  try:
    with open(os.path.join(folder, ORIGINS_FILE), encoding='utf-8') as f:
      data = json.load(f)
  except (OSError, ValueError):
    return None
  return data if isinstance(data, dict) else None


def generated_dir(pipeline_root: str) -> str:
  """Where generated modules go: under a local root; for a remote root, a
  local folder (TFX packages the module into a wheel under the root)."""
  if _paths.is_uri(pipeline_root):
    return os.path.join(tempfile.gettempdir(), 'fluent_pipeline_user_code')
  return os.path.join(pipeline_root, GENERATED_DIR)


def _write_generated(files: dict[str, str], fn_name: str,
                     pipeline_root: str, module: Optional[str] = None) -> str:
  """Writes `files` into a folder named by their content hash (TFX's), once;
  returns the path of the module (`module`, default <fn_name>_module.py)."""
  folder = os.path.join(generated_dir(pipeline_root),
                        f'{fn_name}_{content_hash(files)[:16]}')
  path = os.path.join(folder, module or f'{fn_name}_module.py')
  if os.path.exists(path):
    return path
  temp = f'{folder}.{os.getpid()}.tmp'
  os.makedirs(temp, exist_ok=True)
  for name, text in files.items():
    with open(os.path.join(temp, name), 'w', encoding='utf-8',
              newline='') as f:
      f.write(text)
  try:
    os.rename(temp, folder)
  except OSError:  # written meanwhile by another process
    shutil.rmtree(temp, ignore_errors=True)
  return path



def _write_pickled_module(fn, fn_name: str, label: str, pipeline_root: str,
                          by_value=None) -> str:
  """A module file holding `fn` pickled by value, for a function whose
  source cannot be written out (a closure over a live object). A function
  of the user's own importable module (`by_value`) is pickled by value
  too, with its module's code: passed by its dotted path, a change to it
  would not reach TFX's cache."""
  import cloudpickle
  if by_value is not None:
    cloudpickle.register_pickle_by_value(by_value)
  try:
    payload = cloudpickle.dumps(fn)
  finally:
    if by_value is not None:
      cloudpickle.unregister_pickle_by_value(by_value)
  encoded = base64.b64encode(payload).decode('ascii')
  lines = [f'"""{fn_name} from {label}, serialized by fluent_pipeline."""',
           'import base64', 'import cloudpickle', '',
           f'{fn_name} = cloudpickle.loads(base64.b64decode(']
  lines += [f"    '{encoded[i:i + 76]}'" for i in range(0, len(encoded), 76)]
  lines += ['))', '']
  return _write_generated({f'{fn_name}_module.py': '\n'.join(lines)},
                          fn_name, pipeline_root)


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
    'predicate_fn': 'features',
    'key_fn': 'features',
    'batch_predicate_fn': 'df',
    'batch_key_fn': 'df',
}
