"""The components add_component added, as an exported pipeline.py names
them.

A component class or a function making one, defined at the top of a module,
is imported from it (a module of the user's own is copied beside
pipeline.py, so the image has it too). One defined in a notebook cell or
`__main__` (a `@component` function, a component class, a function making
one) exists only in that process: it is written as source into the
functions module, with what it uses (usercode.function_source), so the
exported project and the Vertex compile carry it.
"""

import sys
from typing import Any

from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.usercode import function_source, packages


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


def component_refs(plan, project, bundle: function_source.Bundle,
                   where: str) -> dict[int, str]:
  """How pipeline.py names each added component (id -> name). `project`,
  export's Project, gets the imports, copied modules, components written
  as source (into `bundle`) and notes."""
  refs: dict[int, str] = {}
  for factory in added_components(plan):
    if id(factory) not in refs:
      refs[id(factory)] = _added_component(project, factory, bundle, where)
  return refs


def _added_component(project, factory: Any, bundle: function_source.Bundle,
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
    _collect(bundle, factory, name, where)
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
      project.add(f'{module.__name__}.py', f.read(), where)
  project.imports.add(f'from {module.__name__} import {name}')
  return name


def _home(module) -> str:
  name = getattr(module, '__name__', '')
  if name == '__main__':
    return '__main__'
  if name.startswith(function_source.NOTEBOOK_MODULE_PREFIX) or not name:
    return 'the notebook'
  return f'{name} (which has no file)'


def _collect(bundle: function_source.Bundle, factory: Any, name: str,
             where: str) -> None:
  """Writes the source of a component defined in a notebook or `__main__`
  into the bundle: a `@component` as its decorated def, a component class
  as its class statement, a function making one as its def; with what
  each uses (the `@component` classes it names included)."""
  try:
    function_source.collect_definition(factory, bundle, name)
  except function_source.SourceUnavailable as e:
    raise PipelineDefinitionError(
        f'{where}: add_component({name})', f'the source of {e.function} '
        f'cannot be written out: {e.problem}', fix=e.fix) from None
