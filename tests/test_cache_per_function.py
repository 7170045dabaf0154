"""Cache per function: a module file is cut, for each step, to the step's
function and what it uses (usercode/module_slice), so an edit to run_fn does
not re-run Transform and an edit to a helper both use re-runs both.

The slicing rules are tested on source text (milliseconds, nothing runs);
the cache on real runs of one short chain, edited twice."""

import importlib.util
import json
import os
import shutil
import sys
import textwrap

import pytest
from conftest import TAXI_MODULE

from fluent_pipeline import PipelineDef
from fluent_pipeline.usercode import code_location as _code_location
from fluent_pipeline.usercode import module_slice as _module_slice
from fluent_pipeline.usercode import user_code as _user_code

MODULE = '''\
"""A module with two steps' functions."""

import json
import math as m
from os import path as ospath

import registers_ops_on_import

SCALE = 2.5
NAMES = ['a', 'b']
EPOCHS = 3


def shared(x):
  return x * SCALE


# Used by run_fn only.
def _fit(fn_args):
  return json.dumps([fn_args, EPOCHS])


def preprocessing_fn(inputs):
  """Scales every input."""
  return {k: shared(v) + m.floor(0.5) for k, v in inputs.items()
          if k in NAMES}


def run_fn(fn_args):
  return _fit(shared(fn_args)), ospath.sep
'''


def cut(text, *entries, siblings=None):
  return _module_slice.cut(textwrap.dedent(text), entries or ('run_fn',),
                           'model.py', siblings)


def body(found):
  """The slice's statements, without its header comment."""
  return ''.join(line for line in found.text.splitlines(keepends=True)
                 if not line.startswith('# ') or 'Used by' in line)


def load(text, name, tmp_path):
  path = tmp_path / f'{name}.py'
  path.write_text(text)
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


# ------------------------------------------------------------ slicing rules
def test_a_slice_keeps_what_the_function_uses_in_source_order():
  found = cut(MODULE, 'preprocessing_fn')
  assert found.reason is None
  assert found.kept == ('shared', 'preprocessing_fn')
  assert body(found) == textwrap.dedent('''\

      import math as m

      import registers_ops_on_import

      SCALE = 2.5
      NAMES = ['a', 'b']


      def shared(x):
        return x * SCALE


      def preprocessing_fn(inputs):
        """Scales every input."""
        return {k: shared(v) + m.floor(0.5) for k, v in inputs.items()
                if k in NAMES}
      ''')
  # run_fn's side: its function, helper, constant, imports; the docstring.
  train = cut(MODULE, 'run_fn')
  assert train.kept == ('shared', '_fit', 'run_fn')
  for line in ('import json', 'from os import path as ospath',
               'EPOCHS = 3', '# Used by run_fn only.\ndef _fit(fn_args):'):
    assert line in train.text and line not in found.text, line
  assert 'with two steps' not in train.text + found.text


def test_the_header_names_the_file_and_the_functions():
  header = cut(MODULE, 'preprocessing_fn').text.split('\n\n')[0]
  assert header.startswith('# From model.py, for preprocessing_fn: ')
  assert '(shared, and the imports and constants they use)' in header
  assert 'line numbers differ' in header
  assert all(len(line) <= 79 for line in header.splitlines())


def test_a_slice_runs_like_the_file(tmp_path):
  text = MODULE.replace('import registers_ops_on_import\n', '')
  whole = load(text, 'whole_module', tmp_path)
  for entry, arg in (('preprocessing_fn', {'a': 2, 'c': 1}), ('run_fn', 4)):
    sliced = load(cut(text, entry).text, f'sliced_{entry}', tmp_path)
    assert getattr(sliced, entry)(arg) == getattr(whole, entry)(arg)


def test_an_edit_reaches_only_the_slices_that_use_it():
  slices = {e: cut(MODULE, e).text for e in ('preprocessing_fn', 'run_fn')}
  run_fn_edited = MODULE.replace('ospath.sep', 'ospath.sep, 1')
  assert cut(run_fn_edited, 'preprocessing_fn').text == slices[
      'preprocessing_fn']
  assert cut(run_fn_edited, 'run_fn').text != slices['run_fn']
  for edit in (('x * SCALE', 'SCALE * x'), ('SCALE = 2.5', 'SCALE = 3')):
    edited = MODULE.replace(*edit)
    for entry, text in slices.items():
      assert cut(edited, entry).text != text, (edit, entry)
  # Reordering what the slice drops, or adding a function, changes nothing.
  moved = MODULE.replace('EPOCHS = 3\n', '') + '\nEPOCHS = 3\n\n\ndef new():\n  pass\n'
  assert cut(moved, 'preprocessing_fn').text == slices['preprocessing_fn']


def test_what_a_component_also_looks_up_comes_along():
  text = MODULE + '\n\ndef stats_options_updater_fn(kind, options):\n  return options\n'
  found = cut(text, 'preprocessing_fn', 'stats_options_updater_fn')
  assert 'def stats_options_updater_fn' in found.text
  assert 'for preprocessing_fn and stats_options_updater_fn' in found.text
  # Not defined: nothing to keep, no error.
  assert cut(MODULE, 'run_fn', 'missing_fn').kept == cut(MODULE, 'run_fn').kept


@pytest.mark.parametrize('statement', [
    'print("loaded")',  # a call at the top level
    'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"',  # changes an object
    'CACHE = load_cache()',  # a value that calls something
    'if os.name == "nt":\n  SEP = "\\\\"',  # a block
    'try:\n  import fast\nexcept ImportError:\n  fast = None',
    'with open(os.devnull) as f:\n  pass',
    'for i in range(2):\n  pass',
    'from helpers import *',  # binds names no one can see
    'import tensorflow_text  # registers its ops',  # used by nothing
    'LOGGER_NAME = __name__',
    'HERE = __file__',
    'assert os.sep',
])
def test_statements_that_cannot_be_classified_are_kept(statement):
  text = f'import os\n\n{statement}\n\n\ndef run_fn(fn_args):\n  return 1\n'
  found = cut(text)
  assert found.reason is None
  assert statement in found.text
  if 'os.' in statement:  # and what they use
    assert 'import os' in found.text


def test_what_a_kept_statement_uses_is_kept():
  found = cut('''
      import os
      DEFAULT = 'x'
      UNUSED = 'y'

      def make():
        return DEFAULT

      VALUE = make()

      def unused():
        return os.sep, UNUSED

      def run_fn(fn_args):
        return 1
      ''')
  assert 'VALUE = make()' in found.text and 'def make' in found.text
  assert "DEFAULT = 'x'" in found.text
  assert 'UNUSED' not in found.text and 'import os' not in found.text


def test_registering_decorators_and_future_imports_are_kept():
  found = cut('''
      from __future__ import annotations
      import functools
      import keras

      @keras.saving.register_keras_serializable()
      class Layer(keras.layers.Layer):
        pass

      @functools.lru_cache()
      def cached():
        return 1

      def run_fn(fn_args):
        return 1
      ''')
  assert found.text.split('\n\n')[1].startswith('from __future__')
  assert 'class Layer' in found.text and 'import keras' in found.text
  assert 'def cached' not in found.text and 'functools' not in found.text


def test_a_registry_filled_at_definition_keeps_its_entries(tmp_path):
  """A decorator that registers, or a subclass hook, runs when the module is
  imported: what it registers is kept although no function names it, and
  preprocessing_fn sees the same registry in its slice as in the file."""
  text = textwrap.dedent('''
      FEATURES = {}

      def feature(fn):
        FEATURES[fn.__name__] = fn
        return fn

      @feature
      def fare_bucket(x):
        return x // 10

      class Base:
        kinds = []
        def __init_subclass__(cls):
          Base.kinds.append(cls.__name__)

      class Cash(Base):
        pass

      @functools.lru_cache()
      def unused_cached():
        return 1

      def preprocessing_fn(inputs):
        return {name: fn(inputs) for name, fn in FEATURES.items()}, Base.kinds
      ''').replace('FEATURES = {}', 'import functools\nFEATURES = {}')
  found = cut(text, 'preprocessing_fn')
  assert 'def fare_bucket' in found.text and 'class Cash(Base)' in found.text
  assert 'def unused_cached' not in found.text  # a plain wrapper
  whole = load(text, 'whole_module', tmp_path)
  sliced = load(found.text, 'sliced_module', tmp_path)
  assert sliced.preprocessing_fn(42) == whole.preprocessing_fn(42) == (
      {'fare_bucket': 4}, ['Cash'])


def test_every_binding_of_a_used_name_is_kept():
  found = cut('''
      LIMIT = 1
      OTHER = 5
      LIMIT += OTHER
      del OTHER
      X, (Y, *Z) = 1, (2, 3)

      def run_fn(fn_args):
        return LIMIT, Y

      LIMIT = 2
      ''')
  for line in ('LIMIT = 1', 'OTHER = 5', 'LIMIT += OTHER', 'del OTHER',
               'X, (Y, *Z) = 1, (2, 3)', 'LIMIT = 2'):
    assert line in found.text, line


def test_names_in_annotations_decorators_and_defaults_are_used():
  found = cut('''
      import typing
      from dataclasses import dataclass
      SIZE = 3

      class Config:
        pass

      def deco(fn):
        return fn

      @deco
      def run_fn(fn_args: 'Config', size=SIZE) -> typing.Any:
        return size

      @dataclass
      class Other:
        x: int
      ''')
  for name in ('import typing', 'SIZE = 3', 'class Config', 'def deco'):
    assert name in found.text, name
  assert 'dataclass' not in found.text and 'Other' not in found.text


def test_a_script_part_is_left_out():
  found = cut('''
      import argparse

      def main():
        return argparse.ArgumentParser()

      def run_fn(fn_args):
        return 1

      if __name__ == '__main__':
        main()
      ''')
  assert found.kept == ('run_fn',) and '__main__' not in found.text
  other = cut("def run_fn(fn_args):\n  return 1\n\nif __name__ == 'x':\n"
              "  pass\nelse:\n  pass\n")
  assert "if __name__ == 'x':" in other.text


def test_statements_on_one_line_stay_together():
  found = cut('A = 1; B = 2\nC = 3\n\ndef run_fn(fn_args):\n  return B\n')
  assert 'A = 1; B = 2\n' in found.text and 'C = 3' not in found.text


@pytest.mark.parametrize('text, reason', [
    ('def run_fn(fn_args):\n  return globals()["helper"](fn_args)\n'
     '\ndef helper(x):\n  return x\n', 'calls globals()'),
    ('def run_fn(fn_args):\n  return eval("helper")(fn_args)\n',
     'calls eval()'),
    ('import sys\ndef run_fn(fn_args):\n'
     '  return getattr(sys.modules[__name__], "h")\n', 'reads sys.modules'),
    ('exec("X = 1")\ndef run_fn(fn_args):\n  return 1\n', 'calls exec()'),
    ('import importlib\ndef run_fn(fn_args):\n'
     '  return importlib.import_module(__name__).h\n', 'calls import_module()'),
    ('def __getattr__(name):\n  return name\n\ndef run_fn(fn_args):\n'
     '  return 1\n', 'defines a module __getattr__'),
])
def test_names_read_at_run_time_make_it_the_whole_file(text, reason):
  found = cut(text)
  assert found.text is None and reason in found.reason


def test_dynamic_code_the_slice_drops_does_not_matter():
  found = cut('''
      def debug():
        return eval('1 + 1')

      def run_fn(fn_args):
        return vars(fn_args)
      ''')
  assert found.reason is None and 'eval' not in found.text


def test_a_neighbour_that_imports_the_module_back_makes_it_the_whole_file():
  text = 'import helpers\n\ndef run_fn(fn_args):\n  return helpers.f()\n'
  back = {'helpers.py': 'import other\n',
          'other.py': 'from model import run_fn\n'}
  assert cut(text, siblings=back).reason == (
      'other.py, imported by the slice, imports model back')
  fine = {'helpers.py': 'import json\n', 'model_test.py': 'import model\n'}
  assert cut(text, siblings=fine).reason is None


def test_a_line_of_a_slice_maps_back_to_the_file():
  found = cut(MODULE, 'preprocessing_fn')
  ran = found.text.splitlines()
  at = ran.index('  return x * SCALE') + 1
  original = MODULE.splitlines()
  assert original[_module_slice.original_line(found.text, MODULE, at) - 1] \
      == '  return x * SCALE'
  at = next(i for i, line in enumerate(ran) if 'if k in NAMES' in line) + 1
  assert 'if k in NAMES' in original[
      _module_slice.original_line(found.text, MODULE, at) - 1]
  assert _module_slice.original_line(found.text, 'x = 1\n', at) is None


# ----------------------------------------------------- module files for TFX
@pytest.fixture
def module(tmp_path):
  folder = tmp_path / 'code'
  folder.mkdir()
  (folder / 'model.py').write_text(MODULE.replace(
      'import registers_ops_on_import\n', 'import neighbour\n').replace(
          'return x * SCALE', 'return x * SCALE * neighbour.ONE'))
  (folder / 'neighbour.py').write_text('ONE = 1\n')
  return folder / 'model.py'


def resolve(path, fn_name, root):
  return _user_code.resolve(str(path), fn_name=fn_name, step='train()',
                            pipeline_root=str(root))


def test_each_step_gets_its_slice_beside_its_neighbours(module, tmp_path):
  from tfx.components.util import udf_utils
  root = tmp_path / 'root'
  transform = resolve(module, 'preprocessing_fn', root)
  trainer = resolve(module, 'run_fn', root)
  assert transform.module_file != trainer.module_file
  for code in (transform, trainer):
    folder, name = os.path.split(code.module_file)
    assert folder.startswith(str(root / '_fluent_user_code'))
    assert name == 'model.py'  # the module keeps its name
    assert sorted(os.listdir(folder)) == ['model.py', 'neighbour.py']
    assert open(os.path.join(folder, 'neighbour.py')).read() == 'ONE = 1\n'
    # The record: the user's file, and what TFX packages with its hash.
    entry = code.record()
    assert entry['given_as'] == 'module_file'
    assert entry['location'] == entry['module_file'] == str(module)
    assert entry['sha256'] == udf_utils._get_version_hash(
        folder, ['model.py', 'neighbour.py'])
    assert entry['files']['model.py'] == open(code.module_file).read()
    assert entry['sliced']['for'] == code.fn_name
  assert 'def run_fn' not in open(transform.module_file).read()
  # An edit to run_fn changes Trainer's code only.
  module.write_text(module.read_text().replace('ospath.sep', 'ospath.sep, 2'))
  assert resolve(module, 'preprocessing_fn', root).module_file == \
      transform.module_file
  assert resolve(module, 'run_fn', root).module_file != trainer.module_file
  # And the slice runs, importing its neighbour.
  sys.path.insert(0, os.path.dirname(transform.module_file))
  try:
    spec = importlib.util.spec_from_file_location('model_slice',
                                                  transform.module_file)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    assert loaded.preprocessing_fn({'a': 2}) == {'a': 5.0}
  finally:
    sys.path.remove(os.path.dirname(transform.module_file))
    sys.modules.pop('neighbour', None)


def test_a_module_that_cannot_be_sliced_is_passed_whole(tmp_path):
  path = tmp_path / 'dynamic.py'
  path.write_text('def run_fn(fn_args):\n  return globals()\n')
  code = resolve(path, 'run_fn', tmp_path / 'root')
  assert code.module_file == str(path)
  assert 'calls globals()' in code.record()['whole_file']
  assert not (tmp_path / 'root').exists()


def test_a_module_uri_is_passed_as_it_is(tmp_path):
  code = resolve('gs://bucket/code/model.py', 'run_fn', tmp_path)
  assert code.component_kwargs() == {'module_file': 'gs://bucket/code/model.py'}
  assert os.listdir(tmp_path) == []


def test_a_restored_slice_is_the_same_code(module, tmp_path):
  root = tmp_path / 'root'
  code = resolve(module, 'run_fn', root)
  entry = code.record()
  restored = _user_code.Restored(entry).resolve('run_fn', str(root))
  assert restored.module_file == code.module_file
  assert restored.record() == entry
  # The file changed since: the recorded files are written out instead.
  module.write_text(module.read_text().replace('EPOCHS = 3', 'EPOCHS = 4'))
  restored = _user_code.Restored(entry).resolve('run_fn', str(root))
  assert restored.module_file != code.module_file
  assert open(restored.module_file).read() == entry['files']['model.py']
  assert _user_code.content_hash(_user_code.py_files(
      os.path.dirname(restored.module_file))) == entry['sha256']


def test_a_failure_in_a_slice_names_the_users_line(module, tmp_path):
  text = module.read_text().replace(
      '  return {k: shared(v)', '  raise ValueError("bad input")\n'
      '  return {k: shared(v)')
  module.write_text(text)
  pdef = (PipelineDef('sliced', root=str(tmp_path / 'root'))
          .from_csv(str(tmp_path)).preprocess(str(module)))
  code = resolve(module, 'preprocessing_fn', pdef.pipeline_root)
  spec = importlib.util.spec_from_file_location('model', code.module_file)
  loaded = importlib.util.module_from_spec(spec)
  sys.path.insert(0, os.path.dirname(code.module_file))
  try:
    spec.loader.exec_module(loaded)
    with pytest.raises(ValueError) as failure:
      loaded.preprocessing_fn({})
  finally:
    sys.path.remove(os.path.dirname(code.module_file))
    sys.modules.pop('neighbour', None)
  found = _code_location.locate(failure.value, pdef._plan, 'Transform')
  line = text.splitlines().index('  raise ValueError("bad input")') + 1
  assert (found.path, found.lineno) == (str(module), line)
  assert found.line == 'raise ValueError("bad input")'
  assert found.generated[0] == code.module_file
  assert found.generated[1] != line  # the slice is shorter


def test_the_configuration_records_one_entry_per_step(module, tmp_path,
                                                     taxi_csv_dir):
  pdef = (PipelineDef('sliced', root=str(tmp_path / 'root'))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .preprocess(str(module)).train(str(module), train_args=5))
  [config] = [json.loads(c.exec_properties['configuration_json'])
              for c in pdef.build().components
              if c.id == 'PipelineConfigurationGen']
  steps = config['steps']
  shas = (steps['preprocess']['preprocessing_fn']['user_code'],
          steps['train']['run_fn']['user_code'])
  assert shas[0] != shas[1]
  for sha in shas:
    assert config['user_code'][sha]['location'] == str(module)


# -------------------------------------------------------------- real runs
@pytest.fixture(scope='module')
def edited_runs(tmp_path_factory, taxi_csv_dir):
  """The taxi module file (preprocessing_fn and run_fn share `xf`, a
  helper, and LABEL) run three times: as it is, with run_fn edited, with
  the shared helper edited."""
  from fluent_pipeline import read_run
  base = tmp_path_factory.mktemp('cache_per_function')
  module = base / 'code' / 'my_taxi.py'
  module.parent.mkdir()
  shutil.copy(TAXI_MODULE, module)
  pdef = (PipelineDef('per_function', root=str(base / 'runs'))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .preprocess(str(module)).train(str(module), train_args=2,
                                         eval_args=1)
          .cache())
  edits = [None, ('      verbose=2)', '      verbose=0)'),
           ("return f'{name}_xf'", "return name + '_xf'")]
  runs = []
  for edit in edits:
    if edit is not None:
      text = module.read_text()
      assert text.count(edit[0]) == 1, edit
      module.write_text(text.replace(*edit))
    runs.append(read_run(pdef, pdef.run().run_id))
  return module, runs


@pytest.mark.e2e
def test_editing_run_fn_reruns_only_the_trainer(edited_runs):
  from fluent_pipeline.recorded import diff as _diff
  module, (first, second, _) = edited_runs
  assert first.states['Transform'] == first.states['Trainer'] == 'COMPLETE'
  assert second.states['Transform'] == 'CACHED', second.states
  assert second.states['Trainer'] == 'COMPLETE', second.states
  # The record names the user's file; only train.run_fn changed, and the
  # diff shows the edited line of run_fn in that file.
  found = _diff.compare(first, second)
  assert [c.where for c in found.user_code] == ['train.run_fn']
  assert '+      verbose=0)' in found.user_code[0].diff
  assert 'a/my_taxi.py' in found.user_code[0].diff
  for result in (first, second):
    for code in result.configuration['user_code'].values():
      assert code['location'] == str(module)


@pytest.mark.e2e
def test_editing_a_shared_helper_reruns_every_step_using_it(edited_runs):
  from fluent_pipeline.recorded import diff as _diff
  _, (_, second, third) = edited_runs
  assert third.states['Transform'] == 'COMPLETE', third.states
  assert third.states['Trainer'] == 'COMPLETE', third.states
  assert third.states['SchemaGen'] == 'CACHED', third.states
  found = _diff.compare(second, third)
  assert sorted(c.where for c in found.user_code) == [
      'preprocess.preprocessing_fn', 'train.run_fn']
