"""A user function defined in a notebook cell and run by TFX from the module
fluent_pipeline writes: a failure names the cell (its execution count) and
the line in it, not the generated module.

The cells are compiled as IPython compiles them (a `<ipython-input-N-...>`
file held by linecache); TFX's copy of the generated module is imported
from another folder, as its wheel installs it. tests/test_notebook_output.py
checks the same in a real Jupyter kernel.
"""

import importlib.util
import linecache
import os
import shutil
import sys
import types

import pytest

from fluent_pipeline import PipelineDef
from fluent_pipeline.orchestration import diagnose
from fluent_pipeline.usercode import code_location, function_source, user_code

HELPERS = ('# helpers\n'
           "SOUTH = ['south']\n"
           '\n'
           'def _region(features):\n'
           "  return features['regon']  # the slip: no such feature\n")
PREDICATE = ('def keep_south(features):\n'
             '  # the helper is in another cell\n'
             '  return _region(features) == SOUTH\n')


@pytest.fixture
def notebook():
  """A module whose functions come from cells In [3] and In [4]."""
  module = types.ModuleType('__fluent_test_cells__')
  sys.modules[module.__name__] = module
  names = []

  def run_cell(count, source, digest='0f1e2d3c'):
    name = f'<ipython-input-{count}-{digest}>'
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    names.append(name)
    exec(compile(source, name, 'exec'), module.__dict__)
  run_cell(3, HELPERS)
  run_cell(4, PREDICATE)
  module.run_cell = run_cell
  yield module
  sys.modules.pop(module.__name__, None)
  for name in names:
    linecache.cache.pop(name, None)


def _generated(fn, root):
  return user_code.resolve(fn, fn_name='predicate_fn',
                           step='filter_examples()', pipeline_root=str(root))


def _run_as_tfx_does(module_file, tmp_path):
  """Calls predicate_fn from a copy of the generated folder elsewhere (TFX
  installs a wheel of it into a temporary folder); returns the error."""
  copy = tmp_path / 'installed'
  shutil.copytree(os.path.dirname(module_file), copy)
  spec = importlib.util.spec_from_file_location(
      'predicate_fn_module', copy / os.path.basename(module_file))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  with pytest.raises(KeyError) as error:
    module.predicate_fn({'region': ['south']})
  return error.value


def test_the_cells_are_recorded_beside_the_module_not_in_it(notebook,
                                                            tmp_path):
  code = _generated(notebook.keep_south, tmp_path)
  text = open(code.module_file, encoding='utf-8').read()
  assert 'In [' not in text and 'ipython-input' not in text
  origins = user_code.origins(os.path.dirname(code.module_file))
  assert origins['module'] == 'predicate_fn_module.py'
  assert origins['definitions'] == {
      '_region': {'file': '<ipython-input-3-0f1e2d3c>', 'line': 4,
                  'cell': 'notebook cell In [3]'},
      'keep_south': {'file': '<ipython-input-4-0f1e2d3c>', 'line': 1,
                     'cell': 'notebook cell In [4]'}}
  # TFX packages and hashes the .py files only: the cache key is the code's.
  assert set(user_code.py_files(os.path.dirname(code.module_file))) == {
      'predicate_fn_module.py'}


def test_a_cell_run_again_keeps_the_module_and_updates_its_cell(notebook,
                                                                tmp_path):
  first = _generated(notebook.keep_south, tmp_path)
  notebook.run_cell(9, PREDICATE, digest='9a8b7c6d')  # the same text, In [9]
  again = _generated(notebook.keep_south, tmp_path)
  assert again.module_file == first.module_file  # same text, same cache key
  origins = user_code.origins(os.path.dirname(again.module_file))
  assert origins['definitions']['keep_south']['cell'] == (
      'notebook cell In [9]')
  assert origins['definitions']['_region']['cell'] == 'notebook cell In [3]'


def test_a_failure_names_the_cell_and_its_line(notebook, tmp_path,
                                               taxi_csv_dir):
  chain = (PipelineDef('cells', root=str(tmp_path / 'root'))
           .from_csv(taxi_csv_dir).filter_examples(notebook.keep_south))
  plan = chain._plan
  (_, step, _, fn_name), = plan.code_steps()
  code = user_code.resolve(step.opts['code'], fn_name=fn_name,
                           step=step.call, pipeline_root=plan.pipeline_root)
  error = _run_as_tfx_does(code.module_file, tmp_path)
  location = code_location.locate(error, plan, 'FilterExamples')
  assert location is not None
  assert location.cell == 'notebook cell In [3]'
  assert (location.path, location.lineno) == ('<ipython-input-3-0f1e2d3c>', 5)
  assert location.function == '_region'
  lines = location.lines()
  assert lines[:2] == [
      '  at notebook cell In [3], line 5, in _region:',
      "    return features['regon']  # the slip: no such feature"]
  generated, at = location.generated
  assert generated == code.module_file
  assert lines[2] == f'  (run as {generated}, line {at})'


def test_a_message_naming_the_generated_module_names_the_cell(notebook,
                                                              tmp_path):
  code = _generated(notebook.keep_south, tmp_path)
  lines = open(code.module_file, encoding='utf-8').read().splitlines()
  first = lines.index('def keep_south(features):') + 1
  text = (f'predicate keep_south returned 1 (int), not a bool: ... '
          f'[{code.module_file}, line {first + 2}]')
  assert diagnose.user_places(text) == (
      'predicate keep_south returned 1 (int), not a bool: ... '
      '[notebook cell In [4], line 3]')
  assert code_location.place(code.module_file, first) == (
      'notebook cell In [4], line 1')
  # Another file is left as it is.
  assert code_location.place('/x/y.py', 3) is None


def test_a_function_of_a_file_is_named_by_its_file(tmp_path):
  path = tmp_path / 'mine.py'
  path.write_text('\n\ndef keep(features):\n  return True\n')
  spec = importlib.util.spec_from_file_location('mine_cells_test', path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module
  try:
    spec.loader.exec_module(module)
    code = _generated(module.keep, tmp_path / 'root')
  finally:
    sys.modules.pop(spec.name)
  origins = user_code.origins(os.path.dirname(code.module_file))
  assert origins['definitions'] == {
      'keep': {'file': str(path), 'line': 3, 'cell': None}}
  lines = open(code.module_file, encoding='utf-8').read().splitlines()
  at = lines.index('  return True') + 1
  assert code_location.place(code.module_file, at) == f'{path}, line 4'
  # A file changed since: its line is no longer claimed.
  path.write_text('def keep(features):\n  return False\n')
  assert code_location.place(code.module_file, at) is None


@pytest.mark.parametrize('filename, label', [
    ('<ipython-input-12-ab12cd34ef>', 'notebook cell In [12]'),
    ('<analysis.ipynb cell 3>', 'cell 3 of analysis.ipynb'),
    ('/tmp/ipykernel_4242/123456789.py', 'a notebook cell'),  # no IPython
    ('/home/me/model.py', None),
    ('<string>', None),
])
def test_cell_labels(filename, label):
  assert function_source.cell_label(filename) == label

