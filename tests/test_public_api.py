"""The public surface: its names resolve, it is fully annotated, and importing
it loads no TFX (fast: nothing here builds or runs a pipeline).

The public surface is `fluent_pipeline.__all__` and the facades `inputs`,
`beam` and `airflow`. PipelineDef's chain calls, the facades' functions and
RunResult's methods and properties must annotate every parameter and their
return. Names imported only under `if TYPE_CHECKING:` (TFX, Airflow) are
checked to be imported there by the module that uses them.
"""

import ast
import importlib
import inspect
import json
import subprocess
import sys
import typing

import pytest

import fluent_pipeline
from fluent_pipeline import PipelineDef, RunResult

FACADES = ('fluent_pipeline', 'fluent_pipeline.inputs', 'fluent_pipeline.beam',
           'fluent_pipeline.airflow')

# Never loaded by `import fluent_pipeline` (nor the facades): TFX and what it
# pulls in load only when a pipeline is built or run.
HEAVY = ('tfx', 'tfx_bsl', 'tensorflow', 'apache_beam', 'airflow',
         'ml_metadata')


# ------------------------------------------------------------- the names
@pytest.mark.parametrize('module_name', FACADES)
def test_every_name_in_all_resolves(module_name):
  """TFX's own v1 facade once listed a name it never imported."""
  module = importlib.import_module(module_name)
  assert module.__all__, f'{module_name}.__all__ is empty'
  assert len(set(module.__all__)) == len(module.__all__), (
      f'{module_name}.__all__ repeats a name')
  missing = [name for name in module.__all__ if not hasattr(module, name)]
  assert not missing, f'{module_name}.__all__ names what it lacks: {missing}'
  namespace: dict = {}
  exec(f'from {module_name} import *', namespace)  # what users get
  assert set(module.__all__) <= set(namespace)


# ------------------------------------------------------- the annotations
def _members(cls: type) -> list[tuple[str, object]]:
  """(name, raw attribute) of a class's public methods and properties,
  inherited ones too, and its __init__."""
  names = sorted(n for n in dir(cls) if not n.startswith('_'))
  return [(n, inspect.getattr_static(cls, n)) for n in ['__init__'] + names]


def _callables() -> list[tuple[str, object, bool, bool]]:
  """(label, function, is a method (its first parameter is self or cls),
  only the return is checked (a property))."""
  found = []
  for cls in (PipelineDef, RunResult, fluent_pipeline.inputs.Source):
    for name, attr in _members(cls):
      label = f'{cls.__name__}.{name}'
      if isinstance(attr, property):
        found.append((label, attr.fget, True, True))
      elif isinstance(attr, (classmethod, staticmethod)):
        found.append((label, attr.__func__, isinstance(attr, classmethod),
                      False))
      elif inspect.isfunction(attr):
        found.append((label, attr, True, False))
  for module_name in FACADES:
    module = importlib.import_module(module_name)
    for name in module.__all__:
      value = getattr(module, name)
      if inspect.isfunction(value):
        found.append((f'{module_name}.{name}', value, False, False))
  return found


CALLABLES = _callables()


def test_the_surface_checked_is_the_surface():
  """The lists above reach what users call (a refactor that hid the chain
  calls from them would make the checks below pass vacuously)."""
  labels = {label for label, *_ in CALLABLES}
  assert {'PipelineDef.__init__', 'PipelineDef.from_csv', 'PipelineDef.train',
          'PipelineDef.run', 'PipelineDef.build', 'PipelineDef.from_run',
          'PipelineDef.steps', 'RunResult.report', 'RunResult.metrics_by_slice',
          'fluent_pipeline.inputs.from_csv', 'fluent_pipeline.beam.local',
          'fluent_pipeline.airflow.dag', 'fluent_pipeline.read_run'} <= labels


@pytest.mark.parametrize('label,fn,is_method,only_return', CALLABLES,
                         ids=[c[0] for c in CALLABLES])
def test_every_parameter_and_return_is_annotated(label, fn, is_method,
                                                 only_return):
  signature = inspect.signature(fn)
  parameters = list(signature.parameters.values())
  if is_method:
    parameters = parameters[1:]
  unannotated = [] if only_return else [
      p.name for p in parameters if p.annotation is inspect.Parameter.empty]
  assert not unannotated, f'{label}: parameters without a type: {unannotated}'
  assert signature.return_annotation is not inspect.Signature.empty, (
      f'{label}: no return type')


def _type_checking_names(module_name: str) -> set[str]:
  """The names a module (and the fluent_pipeline modules it imports from,
  whose type aliases it uses) imports under `if TYPE_CHECKING:`."""
  module = sys.modules[module_name]
  tree = ast.parse(inspect.getsource(module))
  names: set[str] = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
      for inner in ast.walk(node):
        if isinstance(inner, (ast.Import, ast.ImportFrom)):
          names.update((a.asname or a.name).split('.')[0]
                       for a in inner.names)
    elif (isinstance(node, ast.ImportFrom) and node.level == 0 and
          node.module and node.module.startswith('fluent_pipeline.') and
          node.module != module_name and node.module in sys.modules and
          node in tree.body):
      names |= _type_checking_names(node.module)
  return names


@pytest.mark.parametrize('label,fn,is_method,only_return', CALLABLES,
                         ids=[c[0] for c in CALLABLES])
def test_every_annotation_names_a_type(label, fn, is_method, only_return):
  """typing.get_type_hints evaluates the string annotations: every name
  resolves, those of TFX and Airflow to a name the module imports under
  TYPE_CHECKING (stood in for here: importing them would load TFX)."""
  del is_method, only_return
  stand_ins = {name: type(name, (), {})
               for name in _type_checking_names(fn.__module__)}
  try:
    hints = typing.get_type_hints(fn, localns=stand_ins)
  except NameError as e:
    pytest.fail(f'{label}: an annotation names what {fn.__module__} neither '
                f'imports nor imports under TYPE_CHECKING: {e}')
  assert 'return' in hints, label


# ------------------------------------------------------------ the import
def test_importing_the_package_loads_no_tfx():
  """`import fluent_pipeline` stays instant: TFX, TensorFlow, Beam and
  Airflow load when a pipeline is built or run, not before."""
  code = (
      'import json, sys\n'
      'def heavy():\n'
      f'  return sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}'
      ' or m.startswith("tensorflow"))\n'
      'import fluent_pipeline\n'
      'package = heavy()\n'
      'import fluent_pipeline.inputs, fluent_pipeline.beam, '
      'fluent_pipeline.airflow\n'
      'print(json.dumps([package, heavy()]))\n')
  done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, timeout=120, check=True)
  package, facades = json.loads(done.stdout.strip().splitlines()[-1])
  assert package == [], f'import fluent_pipeline loaded {package}'
  assert facades == [], f'importing the facades loaded {facades}'
