"""The e2e marker names exactly the tests that run something real: a
pipeline (run(), a TFX DagRunner, Airflow, a notebook through nbclient,
`fluent-pipeline run` or a script in a subprocess), headless Chromium
(tests/browser.py), or a virtualenv built from the package index. `make
unit` (`pytest -m 'not e2e'`) runs all the others, which need nothing of
that.

Read from the tests' code with `ast`, without running it: a test runs what
its body uses, what the fixtures it asks for use (its module's and
conftest.py's, and theirs in turn), and what the functions of its module
that it names use.
"""

import ast
import glob
import os

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

# Names whose use runs something real.
RUNNERS = {
    'LocalDagRunner': 'TFX LocalDagRunner',
    'BeamDagRunner': 'TFX BeamDagRunner',
    'AirflowDagRunner': 'TFX AirflowDagRunner',
    'NotebookClient': 'a notebook, through nbclient',
    'nbclient': 'a notebook, through nbclient',
    'browser': 'headless Chromium (tests/browser.py)',
    'training_run': '`fluent-pipeline run` in a subprocess '
                    '(tests/training_run.py)',
    'run_example_gens': 'ExampleGens in a TFX LocalDagRunner pipeline '
                        '(tests/example_gens.py)',
}
# Words of a command line (an argument of a call, or an item of a list that
# is one) that run something: `fluent-pipeline run`, `python -m pip|venv`.
COMMANDS = {
    'run': 'the `run` command',
    'pip': 'pip (the package index)',
    'venv': 'a virtualenv',
}
# In a string, code that calls run() (run by `python -c`, say).
RUN_CALL = '.run('

# Tests that match one of the rules above but run nothing: each says why.
NOT_E2E = {
    'test_airflow.py::'
    'test_a_triggered_run_resolves_relative_values_where_it_was_compiled':
        "airflow_ir.ir_for compiles a trigger's pipeline, nothing runs",
    'test_runners.py::test_kubeflow_v2_runner_compiles_a_pipeline_spec':
        "KubeflowV2DagRunner's run() writes the spec, nothing runs",
    'test_configuration.py::'
    'test_a_tfx_runtime_parameter_becomes_a_kubeflow_pipeline_parameter':
        "KubeflowV2DagRunner's run() writes the spec, nothing runs",
    'test_kfp_loader.py::test_every_reference_in_the_spec_resolves':
        "its specs come from KubeflowV2DagRunner's run(), which writes "
        "them; kfp's venv is not used",
    'test_export.py::test_a_remote_sqlite_store_is_refused_at_run':
        'run() refuses the pipeline before anything runs',
    'test_cli.py::test_unknown_parameter_and_bad_value_are_clear_errors':
        '`run` refuses a bad parameter value before anything runs',
    'test_function_source.py::'
    'test_a_notebook_read_by_the_cli_keeps_its_magics_apart':
        "the notebook's run() is read by the loader, never executed",
    'test_airflow.py::test_metadata_passwords_stay_out_of_dag_files':
        'writes DAG files; Airflow does not run',
}


# ------------------------------------------------------------- the survey
def _is_e2e(expr) -> bool:
  """`pytest.mark.e2e` (or called, or in a list of marks)."""
  if isinstance(expr, (ast.List, ast.Tuple)):
    return any(_is_e2e(e) for e in expr.elts)
  if isinstance(expr, ast.Call):
    expr = expr.func
  return ast.unparse(expr) in ('pytest.mark.e2e', 'mark.e2e')


def _fixture_decorator(fn):
  for decorator in fn.decorator_list:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if ast.unparse(target) in ('pytest.fixture', 'fixture'):
      return decorator
  return None


def _keyword(call, name):
  if isinstance(call, ast.Call):
    for keyword in call.keywords:
      if keyword.arg == name and isinstance(keyword.value, ast.Constant):
        return keyword.value.value
  return None


def _used_fixtures(fn) -> list:
  """The fixtures a function asks for: its arguments and usefixtures."""
  names = [a.arg for a in fn.args.posonlyargs + fn.args.args +
           fn.args.kwonlyargs]
  for decorator in fn.decorator_list:
    if (isinstance(decorator, ast.Call) and
        ast.unparse(decorator.func).endswith('mark.usefixtures')):
      names += [a.value for a in decorator.args
                if isinstance(a, ast.Constant)]
  return names


def _command_words(arg):
  items = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg]
  return [i.value for i in items
          if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def _direct_uses(fn) -> set:
  """What a function's own body (nested functions included) runs."""
  found = set()
  for node in (n for statement in fn.body for n in ast.walk(statement)):
    if isinstance(node, ast.Call):
      func = node.func
      if (isinstance(func, ast.Attribute) and func.attr == 'run' and
          ast.unparse(func.value) != 'subprocess'):
        receiver = ast.unparse(func.value)
        found.add(f'{receiver[:40]}{"..." * (len(receiver) > 40)}.run()')
      for arg in node.args:
        found.update(COMMANDS[w] for w in _command_words(arg)
                     if w in COMMANDS)
    name = (node.id if isinstance(node, ast.Name) else
            node.attr if isinstance(node, ast.Attribute) else None)
    if name in RUNNERS:
      found.add(RUNNERS[name])
    elif name and 'airflow' in name.lower():
      found.add(f'Airflow ({name})')
    if (isinstance(node, ast.Constant) and isinstance(node.value, str) and
        RUN_CALL in node.value):
      found.add('code that calls run()')
  return found


class _Module:
  """A test module's functions and fixtures (and conftest.py's fixtures)."""

  def __init__(self, tree, shared=None):
    self.functions = {n.name: n for n in tree.body
                      if isinstance(n, ast.FunctionDef)}
    self.fixtures = dict(shared.fixtures) if shared else {}
    self.autouse = list(shared.autouse) if shared else []
    self.owner = {}  # function -> the _Module whose functions it sees
    if shared:
      self.owner.update(shared.owner)
    for fn in self.functions.values():
      self.owner[fn] = self
      decorator = _fixture_decorator(fn)
      if decorator is not None:
        self.fixtures[_keyword(decorator, 'name') or fn.name] = fn
        if _keyword(decorator, 'autouse'):
          self.autouse.append(fn)
    self.marked = False  # pytestmark = pytest.mark.e2e (or a list with it)
    for node in tree.body:
      if (isinstance(node, ast.Assign) and
          any(isinstance(t, ast.Name) and t.id == 'pytestmark'
              for t in node.targets)):
        self.marked = self.marked or _is_e2e(node.value)
    self.tests = [fn for name, fn in self.functions.items()
                  if name.startswith('test')]
    self.classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)
                    and n.name.startswith('Test')]

  def uses(self, fn, seen=None) -> set:
    """What fn runs: directly, through its fixtures, and through the
    functions of its module it names."""
    seen = set() if seen is None else seen
    if fn in seen:
      return set()
    seen.add(fn)
    home = self.owner[fn]
    found = _direct_uses(fn)
    for name in _used_fixtures(fn):
      if name in home.fixtures:
        found |= self.uses(home.fixtures[name], seen)
    for node in (n for statement in fn.body for n in ast.walk(statement)):
      if isinstance(node, ast.Name) and node.id in home.functions:
        found |= self.uses(home.functions[node.id], seen)
    if _fixture_decorator(fn) is None:  # a test: the autouse fixtures too
      for fixture in home.autouse:
        found |= self.uses(fixture, seen)
    return found


def survey(sources: dict, conftest: str = '') -> dict:
  """'file::test' -> (marked e2e, what it runs), for test files given as
  {file name: source}."""
  shared = _Module(ast.parse(conftest))
  found = {}
  for file, source in sorted(sources.items()):
    module = _Module(ast.parse(source), shared)
    assert not module.classes, (
        f'{file}: test classes {module.classes}; teach survey() their marks')
    for fn in module.tests:
      marked = module.marked or any(_is_e2e(d) for d in fn.decorator_list)
      found[f'{file}::{fn.name}'] = (marked, module.uses(fn))
  return found


def _read(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


@pytest.fixture(scope='module', name='tests')
def _tests():
  files = glob.glob(os.path.join(TESTS, '**', 'test_*.py'), recursive=True)
  assert len(files) > 20
  return survey({os.path.relpath(f, TESTS): _read(f) for f in files},
                _read(os.path.join(TESTS, 'conftest.py')))


# ---------------------------------------------------------------- the tests
def test_every_test_that_runs_something_is_marked_e2e(tests):
  unmarked = {test: sorted(uses) for test, (marked, uses) in tests.items()
              if uses and not marked and test not in NOT_E2E}
  assert unmarked == {}, (
      'mark these @pytest.mark.e2e (or, if they run nothing, say why in '
      'NOT_E2E)')


def test_every_e2e_test_runs_something(tests):
  idle = [test for test, (marked, uses) in tests.items()
          if marked and (not uses or test in NOT_E2E)]
  assert idle == [], 'e2e, yet they run nothing: unmark them'


def test_each_exception_is_a_test_that_matches_a_rule(tests):
  stale = {test for test in NOT_E2E if not tests.get(test, (0, None))[1]}
  assert stale == set(), 'not a test, or it matches no rule: drop it'


# A test module and a conftest.py the survey must read right: each test's
# name says what it should find.
SAMPLE_CONFTEST = '''
import pytest

@pytest.fixture(scope='session')
def shared_runs(tmp_path_factory):
  return make_pipeline().run()
'''

SAMPLE = '''
import subprocess, sys
import pytest

@pytest.fixture
def built():
  return make_pipeline().build()

@pytest.fixture(name='ran')
def _ran(built):
  return helper(built)

def helper(pdef):
  return pdef.run()

def cli(*args):
  return subprocess.run(['fluent-pipeline', *args], check=True)

def test_quiet_builds_only(built):
  assert built

def test_quiet_subprocess_without_a_run():
  subprocess.run([sys.executable, '-c', 'print(1)'], check=True)

def test_loud_calls_run(tmp_path):
  assert make_pipeline().run()

def test_loud_through_a_named_fixture_and_a_helper(ran):
  assert ran

def test_loud_through_a_conftest_fixture(shared_runs):
  assert shared_runs

def test_loud_through_the_run_command():
  cli('run', 'pipeline.py')

def test_loud_code_in_a_subprocess():
  subprocess.run([sys.executable, '-c', 'p.run()'], check=True)

def test_loud_in_a_notebook():
  from nbclient import NotebookClient
  NotebookClient(nb).execute()

def test_loud_in_the_browser():
  with browser.open_page(html='<p>'):
    pass

def test_loud_on_airflow():
  _airflow('dags', 'test')

def test_loud_builds_a_venv():
  subprocess.run([sys.executable, '-m', 'venv', 'env'], check=True)

@pytest.mark.e2e
def test_marked_loud_calls_run():
  make_pipeline().run()

@pytest.mark.e2e
def test_marked_quiet(built):
  assert built
'''


def test_the_survey_finds_what_runs_however_it_is_reached():
  found = survey({'test_sample.py': SAMPLE}, SAMPLE_CONFTEST)
  names = {test.split('::')[1]: value for test, value in found.items()}
  assert len(names) == 13
  for name, (marked, uses) in names.items():
    assert marked == name.startswith('test_marked'), name
    assert bool(uses) == ('_loud_' in name), (name, uses)
  assert names['test_loud_through_the_run_command'][1] == {
      'the `run` command'}
  assert names['test_loud_in_the_browser'][1] == {
      'headless Chromium (tests/browser.py)'}
  # A whole module marked by pytestmark.
  marked = survey({'test_m.py': 'import pytest\npytestmark = [pytest.mark.e2e]'
                   '\ndef test_x():\n  pass\n'})
  assert marked == {'test_m.py::test_x': (True, set())}
