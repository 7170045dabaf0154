"""fluent_pipeline.dsl.tfx_v1 hands out tfx.v1's own objects: the package
uses TFX's public API, imported without tfx.v1's extensions."""

import subprocess
import sys
import types

from tfx import v1 as tfx

from fluent_pipeline.dsl import tfx_v1


def _leaves(space, path=()):
  for name, value in vars(space).items():
    if isinstance(value, types.SimpleNamespace):
      yield from _leaves(value, path + (name,))
    else:
      yield path + (name,), value


def _in_v1(path):
  value = tfx
  for name in path:
    value = getattr(value, name)
  return value


def test_every_name_is_the_object_tfx_v1_exports():
  spaces = [tfx_v1.load(), types.SimpleNamespace(
      orchestration=tfx_v1.orchestration())]
  checked = 0
  for space in spaces:
    for path, value in _leaves(space):
      if path == ('types', 'standard_artifacts'):  # a module: its classes
        for name in ('Model', 'HyperParameters', 'Examples', 'Schema'):
          assert getattr(value, name) is getattr(
              tfx.types.standard_artifacts, name), name
      else:
        assert value is _in_v1(path), '.'.join(path)
      checked += 1
  assert checked >= 27  # the walk reached every name
  assert tfx_v1.big_query_example_gen() is (
      tfx.extensions.google_cloud_big_query.BigQueryExampleGen)


def test_the_names_load_without_tfx_v1_and_its_extensions():
  code = ('import fluent_pipeline, sys\n'
          'from fluent_pipeline.dsl import tfx_v1\n'
          'tfx_v1.load(); tfx_v1.orchestration()\n'
          "print(sorted(m for m in sys.modules if m == 'tfx.v1' or "
          "m.startswith(('tfx.v1.', 'google.cloud.aiplatform'))))")
  done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, check=True)
  assert done.stdout.strip().splitlines()[-1] == '[]', done.stdout
