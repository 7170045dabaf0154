"""`fluent-pipeline compile --runner vertex|kubeflow_v2`: the PipelineJob
spec and the build context of the image it runs in, with no cloud access.

Docker and Google Cloud are not available here: everything up to building
the image and submitting the spec is checked (the spec parses as a
kfp-pipeline-spec PipelineJob, every module it names is in the build
context and imports from it alone, every URI is under the root).
"""

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import TAXI_DIR, TAXI_MODULE
from google.protobuf import json_format

from fluent_pipeline.cli import main

IMAGE = 'europe-docker.pkg.dev/project/pipelines/taxi:7'
ROOT = 'gs://bucket/pipelines'

PIPELINE_FILE = textwrap.dedent(f'''
    """A prototype: the taxi functions passed as objects, data on GCS."""
    import sys
    sys.path.insert(0, {TAXI_DIR!r})
    import taxi_utils
    from fluent_pipeline import PipelineDef, inputs
    from tfx.orchestration import data_types

    EVAL_CONFIG = {{
        'model_specs': [{{'label_key': 'tips_xf',
                         'preprocessing_function_names':
                             ['transform_features']}}],
        'metrics_specs': [{{'metrics': [{{
            'class_name': 'BinaryAccuracy',
            'threshold': {{'value_threshold': {{'lower_bound': 0.6}}}}}}]}}],
    }}

    def create_pipeline(root: str = 'runs', train_steps: int = 100):
      return (PipelineDef('taxi-vertex', root=root)
              .from_csv('gs://bucket/pipelines/data/train/')
              .generate_statistics().infer_schema().validate_input_data()
              .preprocess(taxi_utils.preprocessing_fn)
              .tune(taxi_utils.tuner_fn, train_args=10, eval_args=5)
              .train(taxi_utils.run_fn, train_args=train_steps,
                     eval_args=data_types.RuntimeParameter(
                         name='eval_args', ptype=str,
                         default='{{"num_steps": 10}}'))
              .evaluate_model(EVAL_CONFIG).infra_validate()
              .push_to('serving')
              .bulk_infer(inputs.from_csv(
                  'gs://bucket/pipelines/data/unlabelled/')))
    ''')


@pytest.fixture(scope='module')
def build(tmp_path_factory):
  """One compile shared by the checks below."""
  folder = tmp_path_factory.mktemp('vertex')
  (folder / 'prototype.py').write_text(PIPELINE_FILE)
  out = folder / 'build'
  before = set(os.listdir(folder))
  code = main(['compile', str(folder / 'prototype.py'), '--runner', 'vertex',
               '--image', IMAGE, '--root', ROOT, '--train-steps', '33',
               '-o', str(out)])
  assert code == 0
  assert set(os.listdir(folder)) == before | {'build'}  # no local 'gs:'
  with open(out / 'pipeline.json') as f:
    job = json.load(f)
  return out, job


def strings(value):
  if isinstance(value, dict):
    for item in value.values():
      yield from strings(item)
  elif isinstance(value, list):
    for item in value:
      yield from strings(item)
  elif isinstance(value, str):
    yield value
    if value[:1] in '{[':
      try:
        yield from strings(json.loads(value))
      except ValueError:
        pass


def test_the_spec_is_a_valid_pipeline_job(build):
  from kfp.pipeline_spec import pipeline_spec_pb2
  _, job = build
  spec = json_format.ParseDict(job['pipelineSpec'],
                               pipeline_spec_pb2.PipelineSpec())
  assert spec.pipeline_info.name == 'taxi-vertex'
  assert {'PipelineConfigurationGen', 'CsvExampleGen', 'Transform', 'Tuner',
          'Trainer', 'Evaluator', 'LocalInfraValidator', 'Pusher',
          'BulkInferrer'} <= set(spec.root.dag.tasks)
  images = {executor['container']['image'] for executor in
            job['pipelineSpec']['deploymentSpec']['executors'].values()
            if 'container' in executor}
  assert images == {IMAGE}
  # The run-time parameter survives; the compile-time one is bound.
  assert 'eval_args' in job['pipelineSpec']['root']['inputDefinitions'][
      'parameters']
  assert '"num_steps": 33' in json.dumps(job).replace('\\"', '"')
  # Beam args for the Beam-powered components are in the spec.
  transform = job['pipelineSpec']['deploymentSpec']['executors'][
      'Transform_executor']['container']
  assert transform['command'][-1].endswith('kubeflow_v2_run_executor')


def test_every_uri_is_under_the_root_and_no_local_path_leaks(build):
  out, job = build
  assert job['runtimeConfig']['gcsOutputDirectory'] == f'{ROOT}/taxi-vertex'
  uris = {s for s in strings(job) if re.match(r'[a-z][a-z0-9+.-]*://', s)}
  assert uris and all(u == ROOT or u.startswith(ROOT + '/') for u in uris), uris
  assert f'{ROOT}/taxi-vertex/serving' in uris
  text = json.dumps(job)
  for local in (str(out.parent), TAXI_DIR, os.getcwd(), '_wheels',
                'gs:/bucket'):
    assert local not in text.replace('gs://bucket', ''), local


def test_every_module_the_spec_names_is_in_the_build_context(build):
  out, job = build
  code_paths = set()
  for executor in job['pipelineSpec']['deploymentSpec']['executors'].values():
    args = executor.get('container', {}).get('args', [])
    if '--executor_class_path' in args:
      code_paths.add(args[args.index('--executor_class_path') + 1])
  user = {s for s in strings(job)
          if re.fullmatch(r'fluent_code_[0-9a-f]{16}\.\w+', s)}
  assert {u.split('.')[1] for u in user} == {'preprocessing_fn', 'tuner_fn',
                                            'run_fn'}
  shim = (out / 'app' / (next(iter(user)).split('.')[0] + '.py')).read_text()
  assert ('from taxi_vertex_functions import preprocessing_fn'
          in shim.splitlines())
  ours = {p for p in code_paths if p.startswith('fluent_pipeline.')}
  assert ours == {'fluent_pipeline.components.columnar_csv.Executor',
                  'fluent_pipeline.components.configuration.Executor',
                  'fluent_pipeline.components.local_infra_validator.Executor',
                  'fluent_pipeline.components.pusher.Executor'}
  for path in ours:
    module = path.rpartition('.')[0]
    assert (out / 'src' / (module.replace('.', '/') + '.py')).is_file()
  for path in code_paths - ours:
    assert path.startswith('tfx.')  # in TFX's image
    assert importlib.util.find_spec(path.rpartition('.')[0]) is not None
  # The user code imports from the build context alone (as in the image):
  # not from the examples folder, not as a wheel.
  dockerfile = (out / 'Dockerfile').read_text()
  pythonpath = re.search(r'ENV PYTHONPATH=(\S+)', dockerfile).group(1)
  assert pythonpath == '/pipeline/app:/pipeline/src'
  check = subprocess.run(
      [sys.executable, '-c', textwrap.dedent('''
          import importlib, sys
          for path in sys.argv[1:]:
            module, _, name = path.rpartition('.')
            fn = getattr(importlib.import_module(module), name)
            assert callable(fn), path
            print(module, importlib.import_module(module).__file__)
          ''')] + sorted(user | ours),
      env={**os.environ, 'PYTHONPATH': f'{out / "app"}:{out / "src"}',
           'TF_CPP_MIN_LOG_LEVEL': '3'},
      cwd='/', capture_output=True, text=True, timeout=300)
  assert check.returncode == 0, check.stderr[-3000:]
  assert re.search(f'fluent_code_[0-9a-f]{{16}} {out}/app/fluent_code_',
                   check.stdout)


def test_the_build_context(build):
  out, _ = build
  dockerfile = (out / 'Dockerfile').read_text()
  assert dockerfile.splitlines()[2] == 'FROM gcr.io/tfx-oss-public/tfx:1.16.0'
  assert 'COPY app/ /pipeline/app/' in dockerfile
  assert 'ENV TF_USE_LEGACY_KERAS=1' in dockerfile
  functions = (out / 'app' / 'taxi_vertex_functions.py').read_text()
  assert 'cloudpickle' not in functions
  assert 'def run_fn(fn_args: FnArgs) -> None:' in functions
  assert (out / 'app' / 'pipeline.py').is_file()
  assert 'tfx==1.16.0' in (out / 'app' / 'requirements.txt').read_text()
  readme = (out / 'README.md').read_text()
  assert f'docker build -t {IMAGE} .' in readme
  assert "template_path='pipeline.json'" in readme


def test_the_dockerfile_installs_every_pin_the_base_image_may_lack(build):
  """TFX's image holds TFX and what it requires, at versions of its own
  within TFX's ranges (keras-tuner>=1.0.4,<2, ...): every pin of
  requirements.txt but TFX and what TFX pins to that very version is
  installed, with the constraints the code ran with."""
  from packaging.requirements import Requirement
  out, _ = build
  dockerfile = (out / 'Dockerfile').read_text()
  run = dockerfile.replace('\\\n', ' ').split('RUN pip install ')[1]
  installed = [w for w in run.splitlines()[0].split() if '==' in w]
  assert '-c /tmp/constraints.txt' in run
  assert 'COPY app/constraints.txt /tmp/constraints.txt' in dockerfile
  exact = {}
  for text in importlib.metadata.requires('tfx'):
    requirement = Requirement(text)
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator == '==':
      exact[requirement.name] = specs[0].version
  pins = [line for line in (out / 'app' / 'requirements.txt').read_text()
          .splitlines() if line and not line.startswith('#')]
  expected = [pin for pin in pins if pin.split('==')[0] != 'tfx'
              and exact.get(pin.split('==')[0]) != pin.split('==')[1]]
  assert installed == expected
  # tuner_fn imports keras_tuner: pinned and installed, at this version.
  tuner = f'keras-tuner=={importlib.metadata.version("keras-tuner")}'
  assert tuner in pins and tuner in installed
  assert not any(pin.startswith('tfx==') for pin in installed)


def test_a_module_file_goes_into_the_image(tmp_path):
  file = tmp_path / 'modfile.py'
  file.write_text(textwrap.dedent(f'''
      from fluent_pipeline import PipelineDef
      pipeline = (PipelineDef('modfile', root='gs://b/p')
                  .from_csv('gs://b/p/data/').generate_statistics()
                  .infer_schema().train({TAXI_MODULE!r}, train_args=5))
      '''))
  out = tmp_path / 'build'
  assert main(['compile', str(file), '--runner', 'kubeflow_v2', '--image',
               IMAGE, '-o', str(out)]) == 0
  text = (out / 'pipeline.json').read_text()
  shim = re.search(r'"stringValue": "(fluent_code_[0-9a-f]{16})\.run_fn"',
                   text).group(1)
  assert 'from taxi_utils import run_fn' in (
      out / 'app' / f'{shim}.py').read_text()
  assert '_wheels' not in text and TAXI_DIR not in text
  assert (out / 'app' / 'user_modules' / 'taxi_utils.py').is_file()
  assert '/pipeline/app/user_modules' in (out / 'Dockerfile').read_text()


def test_clear_errors(tmp_path, capsys):
  file = tmp_path / 'p.py'
  file.write_text(textwrap.dedent('''
      from fluent_pipeline import PipelineDef
      pipeline = (PipelineDef('remote-code', root='gs://b/p')
                  .from_csv('gs://b/p/data/').generate_statistics()
                  .infer_schema().train('gs://b/code/model.py'))
      '''))
  out = tmp_path / 'build'
  with pytest.raises(SystemExit, match='needs --image'):
    main(['compile', str(file), '--runner', 'vertex', '-o', str(out)])
  with pytest.raises(SystemExit, match='-o is a directory'):
    main(['compile', str(file), '--runner', 'vertex', '--image', IMAGE,
          '-o', str(tmp_path / 'job.json')])
  assert main(['compile', str(file), '--runner', 'vertex', '--image', IMAGE,
               '-o', str(out)]) == 2
  err = capsys.readouterr().err
  assert "module file 'gs://b/code/model.py' is remote" in err
  assert 'local copy' in err
  assert not out.exists()


def test_a_code_change_changes_the_spec_and_the_directory_is_ours(tmp_path):
  """Vertex caches by exec properties: an edited function must change them.
  Compiling again replaces an earlier compile whole; any other non-empty
  directory is refused."""
  module = tmp_path / 'code' / 'edited_model.py'
  module.parent.mkdir()
  file = tmp_path / 'p.py'
  file.write_text(textwrap.dedent(f'''
      import sys
      sys.path.insert(0, {str(module.parent)!r})
      import edited_model
      from fluent_pipeline import PipelineDef
      pipeline = (PipelineDef('edits', root='gs://b/p')
                  .from_csv('gs://b/p/data/').generate_statistics()
                  .infer_schema().train(edited_model.run_fn, train_args=5))
      '''))
  out = tmp_path / 'build'
  names = []
  for body in ('return 1', 'return 2'):
    module.write_text(f'def run_fn(fn_args):\n  {body}\n')
    for name in ('edited_model', 'p'):
      sys.modules.pop(name, None)
    try:
      assert main(['compile', str(file), '--runner', 'vertex', '--image',
                   IMAGE, '-o', str(out)]) == 0
    finally:
      for name in ('edited_model', 'p'):
        sys.modules.pop(name, None)
    names.append(re.search(r'fluent_code_[0-9a-f]{16}',
                           (out / 'pipeline.json').read_text()).group(0))
    assert sorted(p.name for p in (out / 'app').glob('fluent_code_*')) == [
        f'{names[-1]}.py']  # the earlier compile's files are gone
  assert names[0] != names[1]
  mine = tmp_path / 'mine'
  mine.mkdir()
  (mine / 'README.md').write_text('my notes\n')
  assert main(['compile', str(file), '--runner', 'vertex', '--image', IMAGE,
               '-o', str(mine)]) == 2
  assert os.listdir(mine) == ['README.md']
