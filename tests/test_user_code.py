"""User code in its three forms: module file, dotted path, function object."""

import importlib.util
import os
import textwrap

import pytest
from conftest import TAXI_MODULE
from ir import compile_ir, nodes, params

from fluent_pipeline import PipelineDef, UserCodeError
from fluent_pipeline.usercode import user_code as _user_code


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
  """An importable package `mycode` with a tuner_fn and a run_fn."""
  pkg = tmp_path / 'pkgs' / 'mycode'
  pkg.mkdir(parents=True)
  (pkg / '__init__.py').write_text('')
  (pkg / 'model.py').write_text(textwrap.dedent('''
      def run_fn(fn_args):
        return fn_args

      def tuner_fn(fn_args):
        return fn_args

      def two_args(a, b):
        return a
      '''))
  monkeypatch.syspath_prepend(str(tmp_path / 'pkgs'))
  return 'mycode.model'


@pytest.fixture
def start(tmp_path, taxi_csv_dir):
  return (PipelineDef('code', root=str(tmp_path / 'root'))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema())


def resolve(code, fn_name='run_fn', root='/tmp/unused'):
  return _user_code.resolve(code, fn_name=fn_name, step='train()',
                            pipeline_root=root)


def test_all_three_forms_in_one_chain(start, user_pkg):
  def run_fn(fn_args):  # defined here: not importable, so written out
    return fn_args
  pdef = (start.preprocess(TAXI_MODULE)
          .tune(f'{user_pkg}.tuner_fn')
          .train(run_fn))
  n = nodes(compile_ir(pdef.build()))
  # The module file cut to preprocessing_fn (test_cache_per_function).
  sliced = params(n['Transform'])['module_file']
  assert sliced.startswith(os.path.join(
      pdef.pipeline_root, '_fluent_user_code', 'preprocessing_fn_'))
  assert os.path.basename(sliced) == os.path.basename(TAXI_MODULE)
  assert params(n['Tuner'])['tuner_fn'] == f'{user_pkg}.tuner_fn'
  generated = params(n['Trainer'])['module_file']
  assert generated.startswith(os.path.join(pdef.pipeline_root,
                                           '_fluent_user_code', 'run_fn_'))
  assert os.path.isfile(generated)


def test_installed_function_is_passed_by_dotted_path():
  from tfx.examples.chicago_taxi_pipeline import taxi_utils_native_keras
  code = resolve(taxi_utils_native_keras.run_fn)
  path = 'tfx.examples.chicago_taxi_pipeline.taxi_utils_native_keras.run_fn'
  assert code.component_kwargs() == {'run_fn': path}


def test_own_importable_function_is_written_out_as_source(user_pkg,
                                                          tmp_path):
  """A function of the user's own module is written out with its code, so
  an edit to it changes what TFX gets (and its cache key)."""
  module = importlib.import_module(user_pkg)
  before = resolve(module.run_fn, root=str(tmp_path)).component_kwargs()
  assert before['module_file'].startswith(
      os.path.join(str(tmp_path), '_fluent_user_code', 'run_fn_'))
  assert resolve(module.run_fn, root=str(tmp_path)).component_kwargs() == \
      before  # deterministic
  source = open(module.__file__).read().replace('return fn_args',
                                                'return [fn_args]')
  with open(module.__file__, 'w') as f:
    f.write(source)
  importlib.reload(module)
  after = resolve(module.run_fn, root=str(tmp_path)).component_kwargs()
  assert after['module_file'] != before['module_file']
  spec = importlib.util.spec_from_file_location('generated',
                                                after['module_file'])
  generated = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(generated)
  assert generated.run_fn(7) == [7]
  with open(after['module_file']) as f:
    assert 'def run_fn(fn_args):\n  return [fn_args]\n' in f.read()


def test_a_closure_over_constants_is_written_out(tmp_path):
  offset = 3

  def preprocessing_fn(inputs):
    return {k: v + offset for k, v in inputs.items()}

  code = resolve(preprocessing_fn, 'preprocessing_fn', str(tmp_path))
  path = code.component_kwargs()['module_file']
  spec = importlib.util.spec_from_file_location('generated', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.preprocessing_fn({'x': 1, 'y': 2}) == {'x': 4, 'y': 5}
  # Same function, same file; a changed function, a new one.
  assert resolve(preprocessing_fn, 'preprocessing_fn',
                 str(tmp_path)).module_file == path
  offset = 4
  assert resolve(preprocessing_fn, 'preprocessing_fn',
                 str(tmp_path)).module_file != path


@pytest.mark.parametrize('source,message', [
    ('def other(fn_args):\n  pass\n', 'does not define run_fn'),
    ('def run_fn(fn_args:\n', 'has a syntax error at line 1'),
    ('def run_fn(a, b):\n  pass\n', 'takes 2 required arguments; TFX calls it '
     'with exactly one'),
])
def test_bad_module_files(tmp_path, source, message):
  module = tmp_path / 'bad_module.py'
  module.write_text(source)
  with pytest.raises(UserCodeError, match=message) as error:
    resolve(str(module))
  assert str(error.value).startswith('train(): ')
  assert str(module) in str(error.value)
  assert error.value.fix


def test_missing_module_file(tmp_path):
  with pytest.raises(UserCodeError, match='does not exist') as error:
    resolve(str(tmp_path / 'nowhere.py'))
  assert 'existing .py file' in error.value.fix


def test_bad_dotted_paths(user_pkg):
  with pytest.raises(UserCodeError,
                     match="cannot import module 'nopkg.mod' of "
                     "'nopkg.mod.run_fn'"):
    resolve('nopkg.mod.run_fn')
  with pytest.raises(UserCodeError,
                     match=f"module '{user_pkg}' has no attribute 'runfn'"):
    resolve(f'{user_pkg}.runfn')
  with pytest.raises(UserCodeError,
                     match='cannot be called with one argument'):
    resolve(f'{user_pkg}.two_args')
  with pytest.raises(UserCodeError, match='neither a .py file nor a dotted'):
    resolve('run_fn')


def test_wrong_kinds_of_code():
  with pytest.raises(UserCodeError, match='got int'):
    resolve(42)
  with pytest.raises(UserCodeError,
                     match=r'cannot be called with one argument; TFX calls '
                     r'run_fn\(fn_args\)'):
    resolve(lambda a, b: a)


def test_module_file_is_checked_by_the_chain(start, tmp_path):
  module = tmp_path / 'm.py'
  module.write_text('def preprocessing_fn(inputs):\n  return inputs\n')
  with pytest.raises(UserCodeError, match=r'^train\(\): .* does not define '
                     'run_fn'):
    start.train(str(module)).build()
  pdef = start.preprocess(str(module))  # it defines that one
  transform = next(c for c in pdef.build().components if c.id == 'Transform')
  sliced = transform.exec_properties['module_file']
  assert sliced.startswith(os.path.join(pdef.pipeline_root,
                                        '_fluent_user_code', ''))
  with open(sliced) as f:
    assert f.read().endswith(module.read_text())


def test_a_closure_over_a_live_object_is_pickled_and_still_runs(tmp_path):
  """The one case source cannot hold: it runs locally (cloudpickle), and
  export() / the Kubeflow compile refuse it (test_export)."""
  table = {'a': 1}.items  # a live bound method

  def preprocessing_fn(inputs):
    return dict(table()) | inputs

  code = resolve(preprocessing_fn, 'preprocessing_fn', str(tmp_path))
  assert "closes over 'table'" in code.unavailable_source
  path = code.component_kwargs()['module_file']
  with open(path) as f:
    assert 'cloudpickle.loads' in f.read()
  spec = importlib.util.spec_from_file_location('pickled', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.preprocessing_fn({'b': 2}) == {'a': 1, 'b': 2}
