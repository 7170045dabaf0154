"""PipelineDef.export: a notebook prototype as a project you can review and
ship.

The directory it writes:
- `<name>_functions.py`: every user function of the chain as source, with
  the imports, constants and helpers it uses (usercode.function_source), plus the
  user modules it imports, copied beside it; components added with
  add_component that were defined in a notebook cell or `__main__` (a
  `@component` function, a component class, a function making one) are
  written there the same way;
- `user_modules/`: module files given by path, with the .py files beside
  them (what TFX packages);
- `pipeline.py`: the same chain, calling those functions; run by
  `fluent-pipeline run pipeline.py` or `python pipeline.py`, it builds the
  same components with the same exec properties as the original, so TFX's
  cache serves it. A chain made by a pipeline file's `create_pipeline(...)`
  keeps it (`Factory`): its parameters, with the values used as defaults,
  go where they went, so `--set` still works;
- `requirements.txt` (what the code imports, pinned) and `constraints.txt`
  (every installed distribution, pinned).

Files already there are only replaced by identical text: an export never
overwrites other work.
"""

import ast
import dataclasses
import importlib
import importlib.metadata
import inspect
import io
import os
import re
import sys
import tokenize
from collections.abc import Mapping
from typing import Any, Callable, Optional

from fluent_pipeline import _paths
from fluent_pipeline.dsl import chain_code, configuration
from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.project import chain_source
from fluent_pipeline.usercode import function_source, packages, user_code

USER_MODULES_DIR = 'user_modules'
PIPELINE_FILE = 'pipeline.py'
FACTORY_NAME = 'create_pipeline'


@dataclasses.dataclass
class Project:
  """An exported project: file name -> text, and where the user code of
  each step went (`code_refs`: step kind -> how pipeline.py refers to it)."""
  name: str
  functions_module: str
  files: dict[str, str] = dataclasses.field(default_factory=dict)
  imports: set[str] = dataclasses.field(default_factory=set)
  code_refs: dict[str, str] = dataclasses.field(default_factory=dict)
  # step kind -> dotted path of its function inside the project
  dotted_paths: dict[str, str] = dataclasses.field(default_factory=dict)
  # Components written as source into the functions module, by name.
  components: list[str] = dataclasses.field(default_factory=list)
  # The secrets pipeline.py reads: variable -> (value, where it was given).
  secrets: dict[str, tuple[Any, list[str]]] = dataclasses.field(
      default_factory=dict)
  # What the user should know about the export (the CLI prints them).
  notes: list[str] = dataclasses.field(default_factory=list)

  def code_files(self) -> dict[str, str]:
    """The .py files holding user code (all but pipeline.py)."""
    return {k: v for k, v in self.files.items()
            if k.endswith('.py') and k != PIPELINE_FILE}


@dataclasses.dataclass(frozen=True)
class Factory:
  """The `create_pipeline(...)` of a pipeline file that made the chain, for
  pipeline.py to keep: its parameters in order (name -> type: 'int',
  'float', 'bool', 'str', 'path' or None) and `remake`, which makes the
  chain's plan with other values (name -> typed value)."""
  parameters: Mapping[str, Optional[str]]
  remake: Callable[[dict[str, Any]], Any]


def functions_module_name(pipeline_name: str) -> str:
  name = re.sub(r'\W', '_', pipeline_name)
  return f'{name}_functions' if name[:1].isalpha() else f'p_{name}_functions'


def make(plan, *, where: str = 'export',
         factory: Optional[Factory] = None) -> Project:
  """The project of `plan` (nothing written); `factory`: the
  create_pipeline(...) that made it, which pipeline.py then keeps."""
  project = Project(plan.name, functions_module_name(plan.name))
  bundle = function_source.Bundle()
  entries: list[tuple[str, str, Callable[..., Any]]] = []
  for kind, step, _, fn_name in plan.code_steps():
    code = step.opts.get('code')
    fn = _function_of(code, fn_name, step.call, where)
    if fn is not None:
      entries.append((kind, fn_name, fn))
    elif _paths.is_uri(code):
      project.code_refs[kind] = repr(code)
    elif user_code.is_module_file(code):
      _copy_module_file(project, kind, fn_name, _paths.absolute(code),
                        f'{where}: {step.call}()')
    elif callable(code):  # an installed function
      project.imports.add(f'from {code.__module__} import {code.__qualname__}')
      project.code_refs[kind] = code.__qualname__
      project.dotted_paths[kind] = f'{code.__module__}.{code.__qualname__}'
    else:  # an installed dotted path
      project.code_refs[kind] = repr(code)
      project.dotted_paths[kind] = code
  for kind, _fn_name, fn in entries:
    try:
      function_source.collect({fn.__name__: fn}, bundle)
    except function_source.SourceUnavailable as e:
      raise PipelineDefinitionError(
          f'{where}: {plan.steps[kind].call}()', f'the source of '
          f'{e.function} cannot be written out: {e.problem}', fix=e.fix
      ) from None
    project.code_refs[kind] = fn.__name__
    project.dotted_paths[kind] = f'{project.functions_module}.{fn.__name__}'
  refs = _component_refs(plan, project, bundle, where)
  names = sorted({fn.__name__ for _, _, fn in entries} |
                 set(project.components))
  if names:
    project.imports.add(f'from {project.functions_module} import '
                        f'{", ".join(names)}')
    module_file = f'{project.functions_module}.py'
    for file_name, text in bundle.modules.items():
      _add(project, file_name, text, where)
    _add(project, module_file, bundle.render(
        f'User functions of pipeline {plan.name!r}, with what they use '
        '(exported by fluent_pipeline).'), where)
  _add(project, PIPELINE_FILE,
       _pipeline_text(plan, project, refs, where, factory), where)
  requirements, constraints = _requirements(project.code_files())
  project.files['requirements.txt'] = requirements
  project.files['constraints.txt'] = constraints
  return project


def _function_of(code, fn_name: str, call: str, where: str):
  """The user function object behind `code`, if it is one to write out (a
  function of the user's own, or a dotted path into their own module)."""
  if isinstance(code, user_code.Restored):
    raise PipelineDefinitionError(
        f'{where}: {call}()', 'the user code comes from a past run '
        '(PipelineDef.from_run)', fix='export the chain from the notebook '
        'or file that defines it')
  if callable(code) and not isinstance(code, (str, os.PathLike)):
    module = sys.modules.get(getattr(code, '__module__', '') or '')
    if function_source.user_module(module):
      return code
    return None
  if isinstance(code, str) and not user_code.is_module_file(code):
    # The same checks (and errors) as a build.
    resolved = user_code.resolve(code, fn_name=fn_name, step=f'{call}()',
                                  pipeline_root='')
    module_name, _, attr = resolved.fn_path.rpartition('.')
    module = importlib.import_module(module_name)
    if function_source.user_module(module):
      return getattr(module, attr)
  return None


def _copy_module_file(project: Project, kind: str, fn_name: str, path: str,
                      where: str) -> None:
  if not os.path.isfile(path):
    raise PipelineDefinitionError(
        where, f'module file {path!r} does not exist',
        fix='pass the path of an existing .py file')
  folder, file_name = os.path.split(path)
  for name, text in user_code.py_files(folder).items():
    _add(project, f'{USER_MODULES_DIR}/{name}', text, where)
  project.code_refs[kind] = (
      f"os.path.join(HERE, {USER_MODULES_DIR!r}, {file_name!r})")
  project.imports.add('import os')
  project.dotted_paths[kind] = f'{file_name[:-len(".py")]}.{fn_name}'


def _add(project: Project, name: str, text: str, where: str) -> None:
  if project.files.get(name, text) != text:
    raise PipelineDefinitionError(
        where, f'two different files would be written as {name}',
        fix='rename one of the modules')
  project.files[name] = text


# ---------------------------------------------------------- added components
def added_components(plan) -> list[Any]:
  """What add_component added: the replacement factories, in pipeline
  order, then the added components."""
  found = [step.opts['factory'] for _, step in plan.ordered()
           if 'factory' in step.opts]
  return found + list(plan.extra_components)


def source_module(module) -> bool:
  """Whether code of `module` exists only in this process, so it is written
  out as source: a notebook's cells, `__main__`, a notebook or pipeline
  file read by the CLI, a module without a file."""
  if module is None:
    return True
  name = module.__name__
  if name == '__main__' or name.startswith(
      function_source.USER_MODULE_PREFIXES):
    return True
  return not getattr(module, '__file__', None) and \
      function_source.user_module(module)


def _component_refs(plan, project: Project, bundle, where: str
                    ) -> dict[int, str]:
  """How pipeline.py names each added component (id -> name)."""
  refs: dict[int, str] = {}
  collector = function_source._Collector(bundle, where)
  for factory in added_components(plan):
    if id(factory) not in refs:
      refs[id(factory)] = _added_component(project, factory, collector,
                                           where)
  return refs


def _component_function(value) -> Optional[Callable[..., Any]]:
  """The function a TFX `@component` class was made of, else None."""
  fn = getattr(value, 'test_call', None) if isinstance(value, type) else None
  if inspect.isfunction(fn) and fn.__name__ == value.__name__:
    return fn
  return None


def _added_component(project: Project, factory: Any, collector,
                     where: str) -> str:
  """How pipeline.py names an added component: a component class or a
  function defined at the top of a module, imported from it (a module of
  the user's own is copied beside pipeline.py, so the image has it too);
  one defined in a notebook cell or `__main__`, written as source into the
  functions module."""
  from fluent_pipeline.dsl import channels
  label = channels.label(factory)
  if channels.is_component(factory):
    raise PipelineDefinitionError(
        where, f'add_component({label}): a component instance cannot be '
        'written as source', fix='add its class, or a function making it '
        'from the channels (def make(examples): return MyComponent('
        'examples=examples, ...))')
  name = getattr(factory, '__qualname__', '')
  module = sys.modules.get(getattr(factory, '__module__', None) or '')
  if not name.isidentifier() or (
      module is not None and getattr(module, name, None) is not factory):
    raise PipelineDefinitionError(
        where, f'add_component({label}): only a component class or a '
        'function defined at the top of a notebook or module can be '
        'written as source', fix='define it (or a function returning it) '
        'with def or class at the top level, and add that')
  if source_module(module):
    _collect_component(collector, factory, name, where)
    if name not in project.components:
      project.components.append(name)
    executor = getattr(getattr(factory, 'EXECUTOR_SPEC', None),
                       'executor_class', None)
    if executor is None or source_module(sys.modules.get(
        executor.__module__)):
      project.notes.append(
          f'add_component({name}): defined in {_home(module)}, it is '
          f'written into {project.functions_module}.py; TFX keys its cache '
          "on the executor's class path, which moves with it, so the first "
          'run of the exported pipeline runs it again')
    return name
  if not packages.installed(module):
    path = getattr(module, '__file__', None)
    if '.' in module.__name__ or not path:
      raise PipelineDefinitionError(
          where, f'add_component({name}): its module {module.__name__} is '
          'part of a package of your own, which is not copied',
          fix='install the package in the image, or define the component '
          'in a module file beside the pipeline')
    with open(path, encoding='utf-8', newline='') as f:
      _add(project, f'{module.__name__}.py', f.read(), where)
  project.imports.add(f'from {module.__name__} import {name}')
  return name


def _home(module) -> str:
  name = getattr(module, '__name__', '')
  if name == '__main__':
    return '__main__'
  if name.startswith(function_source.NOTEBOOK_MODULE_PREFIX) or not name:
    return 'the notebook'
  return f'{name} (which has no file)'


def _collect_component(collector, factory: Any, name: str,
                       where: str) -> None:
  """Writes the source of a component defined in a notebook or `__main__`
  into the bundle: a `@component` as its decorated def, a component class
  as its class statement, a function making one as its def; with what
  each uses."""
  collector.where = name
  try:
    for value in _components_used(factory) + [factory]:
      if id(value) in collector.seen:
        continue
      fn = _component_function(value)
      if fn is not None:
        collector.function(fn)  # the def, its @component line included
        collector.seen.add(id(value))  # code naming the class finds it
      elif isinstance(value, type):
        collector.cls(value, name)
      else:
        collector.function(value)
  except function_source.SourceUnavailable as e:
    raise PipelineDefinitionError(
        f'{where}: add_component({name})', f'the source of {e.function} '
        f'cannot be written out: {e.problem}', fix=e.fix) from None


def _components_used(factory: Any) -> list[Any]:
  """The `@component` classes of the same module that a function making a
  component names (collected as their def, before the function)."""
  code = getattr(factory, '__code__', None)
  if code is None:
    return []
  names = set(code.co_names)
  for const in code.co_consts:
    if hasattr(const, 'co_names'):
      names |= set(const.co_names)
  found = []
  for name in sorted(names):
    value = factory.__globals__.get(name)
    if _component_function(value) is not None and getattr(
        value, '__module__', None) == factory.__module__:
      found.append(value)
  return found


# --------------------------------------------------------------- pipeline.py
def _pipeline_text(plan, project: Project, refs: dict[int, str], where: str,
                   factory: Optional[Factory]) -> str:
  """pipeline.py: the chain as chain_code writes it for export, with its
  imports, its big literals as constants and the environment variables its
  secrets are read from; inside `create_pipeline(...)` when `factory` made
  it."""
  values: dict[str, Any] = {}
  if factory is not None:
    values = {k: v for k, v in plan.parameters.items()
              if k in factory.parameters}
    plan = plan.replace(parameters={
        k: v for k, v in plan.parameters.items()
        if k not in factory.parameters})
  renderer, calls = _render(plan, project, refs, where)
  parameters: list[_Parameter] = []
  function_constants: set[int] = set()
  if factory is not None:
    parameters, calls, function_constants = _parameters(
        values, project, refs, where, factory, renderer, calls)
  imports = ({'from fluent_pipeline import PipelineDef'} | project.imports |
             renderer.imports)
  if any(p.written is not _SUBSTITUTED and not p.omitted
         for p in parameters):
    imports.add('from fluent_pipeline import PipelineDefinitionError')
  plain = sorted(i for i in imports if i.startswith('import '))
  froms = sorted(i for i in imports if i.startswith('from ')
                 and not i.startswith(f'from {project.functions_module} '))
  own = sorted(i for i in imports
               if i.startswith(f'from {project.functions_module} '))
  run = 'fluent-pipeline run pipeline.py'
  if parameters:
    run += ' [--set NAME=VALUE]'
  lines = [f'"""Pipeline {plan.name!r}, exported by fluent_pipeline.', '',
           f'Run it:      {run}   (or python pipeline.py)',
           'Ship it:     fluent-pipeline compile pipeline.py --runner vertex '
           '--image IMAGE \\',
           '                 --root gs://BUCKET/pipelines -o build/']
  if parameters:
    lines += ['', f'{FACTORY_NAME}() takes the parameters of the pipeline '
              'file it was exported', 'from, with the values used as '
              'defaults.']
  if renderer.environment:
    width = max(len(v) for v in renderer.environment)
    lines += ['', 'Its secrets are not written here: it reads them from '
              'these environment', 'variables, which must be set to run or '
              'compile it:']
    lines += [f'    {variable:<{width}}  {", ".join(labels)}'
              for variable, labels in renderer.environment.items()]
  lines += ['"""', '']
  lines += plain + ([''] if plain else []) + froms + [''] + own
  if 'import os' in imports:
    lines += ['', 'HERE = os.path.dirname(os.path.abspath(__file__))']
  for i, constant in enumerate(renderer.constants):
    if i not in function_constants:
      lines += ['', constant]
  if factory is None:
    chain = '\n    .'.join(calls)
    lines += ['', f'pipeline = (\n    {chain}\n)', '', '',
              "if __name__ == '__main__':", '    print(pipeline.run())', '']
  else:
    lines += ['', ''] + _factory_lines(
        parameters, [renderer.constants[i] for i in sorted(
            function_constants)], calls)
    lines += ['', '', "if __name__ == '__main__':",
              f'    print({FACTORY_NAME}().run())', '']
  project.secrets = {variable: (renderer.secret_value(variable), labels)
                     for variable, labels in renderer.environment.items()}
  return '\n'.join(lines)


def _render(plan, project: Project, refs: dict[int, str], where: str):
  """The renderer and the chain calls of `plan`."""
  def component(factory):
    if id(factory) not in refs:
      raise PipelineDefinitionError(
          where, 'a component the chain was not exported with',
          fix='add it with add_component')
    return refs[id(factory)]
  renderer = chain_source.SourceRenderer(project.code_refs, component, where)
  return renderer, chain_code.chain_calls(plan, Chain, renderer)


# --------------------------------------------------- create_pipeline(**params)
_SUBSTITUTED = object()  # a parameter written where it goes in the chain


@dataclasses.dataclass
class _Parameter:
  name: str
  annotation: str
  default: str  # as source
  value: Any  # the value used
  # _SUBSTITUTED, or the reason it is written into the chain as its value
  written: Any = _SUBSTITUTED
  read: Optional[str] = None  # a secret: the read of its variable
  omitted: bool = False  # not in the signature: its name is taken


_ANNOTATIONS = {'int': 'int', 'float': 'float', 'bool': 'bool', 'str': 'str',
                'path': 'str'}
_PROBE_INT, _PROBE_FLOAT = 7919, 0.7919
_PROBE_URI = 'gs://fluent-export-probe/p7919'


def _parameters(values: dict[str, Any], project: Project,
                refs: dict[int, str], where: str, factory: Factory, renderer,
                calls: list[str]):
  """The parameters of create_pipeline(...) in pipeline.py, and the chain
  calls with each written where it goes.

  Where a parameter goes is found by making the chain again with another
  value of it (`factory.remake`): the tokens of the calls that change from
  the value used to the other one are that parameter. A parameter that
  changes anything else (a computed value, a condition) or nothing is kept
  in the signature, written into the chain as its value, and refused with
  another value; a secret is read from its environment variable."""
  parts = list(calls) + list(renderer.constants)
  taken = _names_taken(parts, project, renderer)
  found: list[_Parameter] = []
  edits: list[tuple[int, int, int, str]] = []
  for name, kind in factory.parameters.items():
    value = values.get(name)
    annotation = _ANNOTATIONS.get(kind or '', 'str')
    parameter = _Parameter(name, annotation, _literal(value), value)
    found.append(parameter)
    if configuration.is_secret(name, value):
      parameter.written = 'a secret, read from the environment'
      parameter.read = renderer.read_secret(chain_code.Secret(
          value, chain_code.env_name(name), f'{FACTORY_NAME}({name}=...)'))
      # The default is the variable's value, so that the parameter is
      # recorded as the original's was (masked).
      parameter.default = re.sub(r'os\.environ\[(.*?)\]',
                                 r'os.environ.get(\1)', parameter.read)
      continue
    if parameter.default is None:
      parameter.default = 'None'
      parameter.written = 'not a plain value'
      continue
    if name in taken:  # recorded by with_parameters(...) instead
      parameter.written = f'its name is taken in {PIPELINE_FILE}'
      parameter.omitted = True
      continue
    positions, why = _positions_of(name, kind, value, values, parts,
                                   project, refs, where, factory)
    if positions is None:
      parameter.written = why
      continue
    edits += [(part, start, end, name) for part, start, end, _ in positions]
  edited = _edit(parts, edits)
  function_constants = {i - len(calls) for i, _, _, _ in edits
                        if i >= len(calls)}
  renderer.constants[:] = edited[len(calls):]
  calls = edited[:len(calls)]
  omitted = [p for p in found if p.omitted]
  if omitted:
    calls.append('with_parameters(' + ', '.join(
        f'{p.name}={p.default}' for p in omitted) + ')')
  for parameter in found:
    if parameter.omitted:
      project.notes.append(
          f'parameter {parameter.name} of {FACTORY_NAME}() is not a '
          f'parameter of the exported one: its name is taken in '
          f'{PIPELINE_FILE}; it is recorded as {parameter.default}')
    elif parameter.written is not _SUBSTITUTED and parameter.read is None:
      project.notes.append(
          f'parameter {parameter.name} of {FACTORY_NAME}() is fixed at '
          f'{parameter.default} in {PIPELINE_FILE} ({parameter.written}, so '
          'its chain is written as that value made it): another value is '
          'refused; edit the chain to use it')
  return [p for p in found if not p.omitted], calls, function_constants


def _literal(value: Any) -> Optional[str]:
  text = function_source.format_literal(value)
  return text if text is not None and '\n' not in text else None


def _names_taken(parts: list[str], project: Project, renderer) -> set[str]:
  """Names pipeline.py binds or reads: a parameter must not shadow one."""
  taken = {'os', 'HERE', 'PipelineDef', 'PipelineDefinitionError', 'inputs',
           'latest', 'tfx', FACTORY_NAME, 'pipeline'}
  for statement in project.imports | renderer.imports:
    tree = ast.parse(statement).body[0]
    taken |= {(a.asname or a.name).split('.')[0] for a in tree.names}
  for part in parts:
    try:
      tree = ast.parse(part)
    except SyntaxError:
      continue
    taken |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
  return taken


def _positions_of(name: str, kind: Optional[str], value: Any,
                  values: dict[str, Any], parts: list[str], project: Project,
                  refs: dict[int, str], where: str, factory: Factory):
  """Where parameter `name` goes in `parts`: (part, start, end, 'raw' or
  'absolute') of each token, or (None, why not)."""
  pairs_of = []
  for probe in _probes(kind, value):
    pairs = {'raw': (repr(value), repr(probe))}
    if isinstance(value, str):
      absolute = (repr(_paths.absolute(value)), repr(_paths.absolute(probe)))
      if absolute != pairs['raw']:
        pairs['absolute'] = absolute
    pairs_of.append((probe, pairs))
  if not pairs_of:
    return None, 'its value has no other value to try'
  why = 'another value of it could not make the chain'
  for probe, pairs in pairs_of:
    try:
      other = factory.remake({**values, name: probe})
      other = other.replace(parameters={
          k: v for k, v in other.parameters.items()
          if k not in factory.parameters})
      other_renderer, other_calls = _render(other, project, refs, where)
      other_parts = list(other_calls) + list(other_renderer.constants)
    except Exception:  # the factory's own check of the value, often
      continue
    positions = _diff(parts, other_parts, pairs)
    if positions is None:
      why = 'it changes more of the chain than its own value'
    elif not positions:
      why = 'another value of it did not change the chain'
    elif len({k for _, _, _, k in positions}) > 1:
      why = 'it goes in both as given and made absolute'
    else:
      return positions, ''
  return None, why


def _probes(kind: Optional[str], value: Any) -> list[Any]:
  """Other values of a parameter to make the chain with."""
  if isinstance(value, bool):
    return [not value]
  if isinstance(value, int) and kind in ('int', None) and value >= 0:
    return [value + _PROBE_INT]
  if isinstance(value, float) and value >= 0:
    return [value + _PROBE_FLOAT]
  if isinstance(value, str) and value:
    return [_PROBE_URI, f'{value}_p{_PROBE_INT}']
  return []


def _tokens(text: str) -> Optional[list[tuple[str, int, int]]]:
  """(token, start, end) of the Python tokens of `text`; None if it does
  not tokenize."""
  starts = [0]
  for line in text.splitlines(keepends=True):
    starts.append(starts[-1] + len(line))
  skip = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
          tokenize.DEDENT, tokenize.COMMENT)
  try:
    return [(t.string, starts[t.start[0] - 1] + t.start[1],
             starts[t.end[0] - 1] + t.end[1])
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in skip]
  except (tokenize.TokenError, IndentationError, SyntaxError):
    return None


def _diff(parts: list[str], others: list[str],
          pairs: dict[str, tuple[str, str]]):
  """The tokens of `parts` that `others` has as the probe: (part, start,
  end, kind); None when anything else differs."""
  if len(parts) != len(others):
    return None
  found = []
  for i, (part, other) in enumerate(zip(parts, others)):
    if part == other:
      continue
    ours, theirs = _tokens(part), _tokens(other)
    if ours is None or theirs is None or len(ours) != len(theirs):
      return None
    for (a, start, end), (b, _, _) in zip(ours, theirs):
      if a == b:
        continue
      kind = next((k for k, pair in pairs.items() if pair == (a, b)), None)
      if kind is None:
        return None
      found.append((i, start, end, kind))
  return found


def _edit(parts: list[str], edits: list[tuple[int, int, int, str]]
          ) -> list[str]:
  """`parts` with each (part, start, end) span replaced by its name."""
  parts = list(parts)
  for i, start, end, name in sorted(edits, reverse=True):
    parts[i] = parts[i][:start] + name + parts[i][end:]
  return parts


def _factory_lines(parameters: list[_Parameter], constants: list[str],
                   calls: list[str]) -> list[str]:
  """`def create_pipeline(...)`: its parameters, the checks of those written
  into the chain as values, its constants that use a parameter, and the
  chain."""
  signature = [f'{p.name}: {p.annotation} = {p.default}' for p in parameters]
  one_line = f'def {FACTORY_NAME}({", ".join(signature)}):'
  if len(one_line) <= 79:
    lines = [one_line]
  else:
    lines = [f'def {FACTORY_NAME}('] + [f'        {s},' for s in signature] \
        + ['):']
  fixed = [p for p in parameters
           if p.written is not _SUBSTITUTED and p.read is None]
  if fixed:
    lines += ['    # The chain below was made with these values: another '
              'one would', '    # change nothing, so it is refused.']
  for p in fixed + [p for p in parameters if p.read is not None]:
    if p.read is None:
      problem = (f'{p.name} is fixed at {p.default}, the value the chain '
                 'below was made with')
      fix = (f'edit the chain of {PIPELINE_FILE} to use {p.name}, or leave '
             f'it at {p.default}')
    else:
      problem = f'{p.name} is a secret, read from the environment'
      fix = 'set it there (see the docstring), not with --set'
    lines += [f'    if {p.name} != {p.default}:',
              '        raise PipelineDefinitionError(',
              f'            {FACTORY_NAME + "()"!r}, {problem!r},',
              f'            fix={fix!r})']
  for constant in constants:
    lines += ['    ' + line if line else line for line in
              constant.splitlines()]
  chain = '\n        .'.join(calls)
  lines += ['    return (', f'        {chain}', '    )']
  return lines


# -------------------------------------------------------------- requirements
def _requirements(python_files: dict[str, str]) -> tuple[str, str]:
  """requirements.txt (the distributions the code imports, and TFX, pinned)
  and constraints.txt (every installed distribution, pinned)."""
  local = {name[:-len('.py')].split('/')[-1] for name in python_files}
  tops: set[str] = set()
  for text in python_files.values():
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, ast.Import):
        tops |= {a.name.split('.')[0] for a in node.names}
      elif isinstance(node, ast.ImportFrom) and node.module and not \
          node.level:
        tops.add(node.module.split('.')[0])
  by_module = importlib.metadata.packages_distributions()
  wanted = {'tfx'}
  for top in tops - local - set(sys.stdlib_module_names):
    wanted |= set(by_module.get(top, ()))
  if _installed_version('tf-keras'):
    wanted.add('tf-keras')
  wanted.discard('fluent-pipeline')
  pins = sorted(f'{canonical_name(d)}=={_installed_version(d)}' for d in wanted
                if _installed_version(d))
  from fluent_pipeline._version import __version__
  requirements = '\n'.join([
      '# What the exported code imports, pinned to the versions it ran with.',
      '# pip install -r requirements.txt -c constraints.txt',
      f'# and fluent_pipeline {__version__} (pip install <its checkout>).',
      *pins, ''])
  everything = sorted({f'{canonical_name(d.metadata["Name"])}=={d.version}'
                       for d in importlib.metadata.distributions()
                       if d.metadata['Name'] and canonical_name(
                           d.metadata['Name']) != 'fluent-pipeline'})
  constraints = '\n'.join(['# Every distribution installed when the pipeline '
                           'was exported.', *everything, ''])
  return requirements, constraints


def canonical_name(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def _installed_version(dist: str) -> Optional[str]:
  try:
    return importlib.metadata.version(dist)
  except importlib.metadata.PackageNotFoundError:
    return None


# ----------------------------------------------------------------- writing
def write(project: Project, directory: str, where: str = 'export') -> str:
  """Writes the project's files; refuses to replace a file whose text
  differs. Returns the path of pipeline.py."""
  if _paths.is_uri(directory):
    raise PipelineDefinitionError(
        where, f'{directory!r} is remote; the project is written locally',
        fix='pass a local directory (and copy it yourself)')
  clashes = []
  for name, text in project.files.items():
    path = os.path.join(directory, name)
    if os.path.exists(path):
      with open(path, encoding='utf-8', newline='') as f:
        if f.read() != text:
          clashes.append(path)
  if clashes:
    raise PipelineDefinitionError(
        where, f'{", ".join(clashes)} already exist with other content',
        fix='export to a new or empty directory (nothing was written)')
  for name, text in project.files.items():
    path = os.path.join(directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='') as f:
      f.write(text)
  return os.path.join(directory, PIPELINE_FILE)
