"""User functions written out as source: what a function uses comes along,
the module runs, and writing out the written-out module gives the same text
(the notebook and its export share TFX's cache key)."""

import importlib.util
import sys
import textwrap

import pytest

from fluent_pipeline.usercode import function_source as _function_source
from fluent_pipeline.usercode import user_code as _user_code


@pytest.fixture
def module_of(tmp_path, monkeypatch):
  """Imports source text as a module of the user's own (a file of theirs)."""
  monkeypatch.syspath_prepend(str(tmp_path))
  made = []

  def make(name, text):
    path = tmp_path / f'{name}.py'
    path.write_text(textwrap.dedent(text))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    made.append(name)
    spec.loader.exec_module(module)
    return module
  yield make
  for name in made:
    sys.modules.pop(name, None)


def written(fn, fn_name='run_fn'):
  return _user_code.source_module(fn, fn_name)[f'{fn_name}_module.py']


def load(text, name, tmp_path):
  path = tmp_path / f'{name}.py'
  path.write_text(text)
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  return module


SOURCE = '''
    import functools
    import math as m
    from os import sep
    from os.path import join as joined

    LIMIT = float('nan')
    TAGS = frozenset({'b', 'a', 'c'})

    def _twice(x):
      return 2 * x

    helper = _twice  # used under another name

    def memo(fn):
      @functools.wraps(fn)
      def wrapper(*args):
        return fn(*args)
      return wrapper

    class Scaler:
      factor = 3

      def __init__(self, model=None):  # a parameter named like a global
        self.model = model

      def scale(self, x):
        return helper(x) * self.factor

    model = object()  # a live object, never used by the functions

    @memo
    def run_fn(fn_args, default=len(TAGS)):
      def inner(y):
        return joined('a', y) + sep
      return (Scaler().scale(fn_args), m.isnan(LIMIT), sorted(TAGS),
              inner('b'), default, later())

    def later():
      return 'defined after'
    '''


def test_what_a_function_uses_comes_along_and_runs(module_of, tmp_path):
  module = module_of('tricky', SOURCE)
  text = written(module.run_fn)
  for line in ('import functools', 'import math as m',
               'from os import sep', 'from os.path import join as joined',
               "LIMIT = float('nan')", "TAGS = frozenset({'a', 'b', 'c'})",
               'helper = _twice', 'class Scaler:', '@memo',
               'def later():'):
    assert line in text, line
  assert '\nmodel = ' not in text and 'object()' not in text
  generated = load(text, 'generated_tricky', tmp_path)
  assert generated.run_fn(5) == (30, True, ['a', 'b', 'c'], 'a/b/', 3,
                                 'defined after')


def test_writing_out_is_a_fixed_point(module_of, tmp_path):
  """A function written out, imported and written out again gives the same
  text: the same wheel, the same cache key."""
  first = written(module_of('tricky2', SOURCE).run_fn)
  again = load(first, 'tricky2_again', tmp_path)
  assert written(again.run_fn) == first


def test_what_cannot_be_written_out_is_named(module_of):
  module = module_of('bad', '''
      import functools
      LIVE = object()

      def uses_live(fn_args):
        return LIVE

      def two(a, b):
        return a

      partial = functools.partial(two, 1)
      ''')
  with pytest.raises(_function_source.SourceUnavailable,
                     match="uses 'LIVE', a live object"):
    written(module.uses_live)
  with pytest.raises(_function_source.SourceUnavailable,
                     match='it is a partial, not a function'):
    written(module.partial)
  # Both still run locally: pickled.
  code = _user_code.resolve(module.partial, fn_name='run_fn', step='train()',
                            pipeline_root='/tmp/fp_partial')
  assert code.record()['written_as'] == 'cloudpickle'


def test_a_notebook_read_by_the_cli_keeps_its_magics_apart(tmp_path):
  """%%writefile writes its module (TFX notebooks do); !pip is skipped; only
  the cells up to run() count."""
  import nbformat

  from fluent_pipeline.project import notebook as _notebook
  data = tmp_path / 'data'
  data.mkdir()
  (data / 'x.csv').write_text('a,b\n1,2\n')
  cells = [
      '%%writefile module.py\ndef preprocessing_fn(inputs):\n'
      '  return inputs\n',
      '!pip install nothing\nX = (1\n     % 1)\n',
      'from fluent_pipeline import PipelineDef\n'
      f'p = PipelineDef("nb", root={str(tmp_path / "runs")!r})'
      f'.from_csv({str(data)!r}).generate_statistics().infer_schema()'
      '.preprocess("module.py")\np.run()\n',
      'raise RuntimeError("after run(): never executed")\n',
  ]
  notebook = nbformat.v4.new_notebook(
      cells=[nbformat.v4.new_code_cell(c) for c in cells])
  path = tmp_path / 'nb.ipynb'
  nbformat.write(notebook, str(path))
  pdef = _notebook.load(str(path))
  assert pdef.name == 'nb'
  assert (tmp_path / 'module.py').read_text().startswith(
      'def preprocessing_fn(inputs):')
  assert not (tmp_path / 'runs').exists()  # run() was not run


COMPONENT_SOURCE = '''
    LIMIT = 5

    def component(fn):
      """Makes a class of a function and keeps the function in it, as TFX's
      @component does (as test_call)."""
      return type(fn.__name__, (), {'__module__': fn.__module__,
                                    'test_call': staticmethod(fn)})

    def opaque(fn):
      """Makes a class of a function without keeping it."""
      return type(fn.__name__, (), {})

    @component
    def CountRows(rows, limit=LIMIT):
      return min(len(rows), limit)

    @opaque
    def Hidden(rows):
      return rows

    def make_count(rows):
      return CountRows.test_call(rows)

    def make_hidden(rows):
      return Hidden(rows)
    '''


def test_a_class_made_of_a_function_is_written_as_its_def(module_of,
                                                           tmp_path):
  """A function using a class a decorator made of a function (a @component
  that was not itself added) gets that decorated def, with what it uses;
  so does the class collected on its own. A class whose function is not
  kept is named, not an AttributeError."""
  module = module_of('components_used', COMPONENT_SOURCE)
  text = written(module.make_count, 'make_count')
  for line in ('LIMIT = 5', 'def component(fn):',
               '@component\ndef CountRows(rows, limit=LIMIT):',
               'def make_count(rows):'):
    assert line in text, line
  assert 'class CountRows' not in text
  assert text.index('def component(') < text.index('def CountRows(') < \
      text.index('def make_count(')
  generated = load(text, 'generated_components_used', tmp_path)
  assert generated.make_count([1, 2, 3, 4, 5, 6, 7]) == 5
  assert isinstance(generated.CountRows, type)

  bundle = _function_source.Bundle()
  _function_source.collect_definition(module.CountRows, bundle, 'CountRows')
  assert list(bundle.definitions) == ['component', 'CountRows']
  assert bundle.definitions['CountRows'].startswith('@component\ndef ')

  with pytest.raises(_function_source.SourceUnavailable,
                     match='class Hidden was made by a decorator of a '
                     'function it does not keep'):
    written(module.make_hidden, 'make_hidden')
