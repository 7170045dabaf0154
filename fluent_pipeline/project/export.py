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
overwrites other work. Added components are named or written as source by
project.component_source, and a kept `create_pipeline(...)` places its
parameters with project.factory_parameters.
"""

import ast
import dataclasses
import importlib
import importlib.metadata
import os
import re
import sys
from typing import Any, Callable, Optional

from fluent_pipeline import _paths
from fluent_pipeline.dsl import chain_code
from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.project import (
    chain_source,
    component_source,
    factory_parameters,
)
from fluent_pipeline.project.chain_source import PIPELINE_FILE
from fluent_pipeline.project.factory_parameters import FACTORY_NAME, Factory
from fluent_pipeline.usercode import function_source, user_code

USER_MODULES_DIR = 'user_modules'


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

  def add(self, name: str, text: str, where: str) -> None:
    """Adds file `name`; two different texts for one name are an error."""
    if self.files.get(name, text) != text:
      raise PipelineDefinitionError(
          where, f'two different files would be written as {name}',
          fix='rename one of the modules')
    self.files[name] = text


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
  refs = component_source.component_refs(plan, project, bundle, where)
  names = sorted({fn.__name__ for _, _, fn in entries} |
                 set(project.components))
  if names:
    project.imports.add(f'from {project.functions_module} import '
                        f'{", ".join(names)}')
    module_file = f'{project.functions_module}.py'
    for file_name, text in bundle.modules.items():
      project.add(file_name, text, where)
    project.add(module_file, bundle.render(
        f'User functions of pipeline {plan.name!r}, with what they use '
        '(exported by fluent_pipeline).'), where)
  project.add(PIPELINE_FILE,
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
    project.add(f'{USER_MODULES_DIR}/{name}', text, where)
  project.code_refs[kind] = (
      f"os.path.join(HERE, {USER_MODULES_DIR!r}, {file_name!r})")
  project.imports.add('import os')
  project.dotted_paths[kind] = f'{file_name[:-len(".py")]}.{fn_name}'


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
  parameters: list[factory_parameters.Parameter] = []
  function_constants: set[int] = set()
  if factory is not None:
    parameters, calls, function_constants = factory_parameters.place(
        factory, values, renderer, calls,
        render=lambda other: _render(other, project, refs, where),
        imports=project.imports, notes=project.notes)
  imports = ({'from fluent_pipeline import PipelineDef'} | project.imports |
             renderer.imports)
  if any(p.checked for p in parameters):
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
    lines += ['', ''] + factory_parameters.factory_lines(
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
