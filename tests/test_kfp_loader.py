"""Every Kubeflow V2 / Vertex spec that fluent-pipeline compiles loads with
kfp 2.5's own loader, besides parsing as a PipelineSpec (test_compile_image).

kfp 2.0-2.5 are the kfp SDKs that allow protobuf < 4, as TFX 1.16 needs, but
they need urllib3 < 2 and the project pins urllib3 2.8.0: so kfp lives in a
venv of its own, built here from tests/kfp-constraints.txt (20-30 s; kept
in pytest's cache between runs, in the session's temporary folder when the
cache is off, as in CI) and the loader runs there, in a subprocess.

kfp's loader, kfp.components.load_component_from_text (what
load_component_from_file / _url call), takes the `pipelineSpec` of the
PipelineJob that KubeflowV2DagRunner writes, not the PipelineJob itself. It
parses the spec strictly as a PipelineSpec (an unknown field, a wrong JSON
type is an error) and reads the root's inputs; a spec with no executor of
the pipeline's own name becomes a graph component. Each spec is then
recompiled (kfp.compiler.Compiler), the recompiled YAML loaded again, and
the component composed into a kfp pipeline as a sub-DAG: that last step
parses the deploymentSpec strictly too, which loading leaves a free Struct.
None of kfp's steps checks that task references resolve, so the test checks
those itself.
"""

import contextlib
import copy
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import TAXI_DIR, TAXI_MODULE
from test_compile_image import PIPELINE_FILE as PROTOTYPE_FILE

from fluent_pipeline.cli import main
from fluent_pipeline.project import pipeline_file as _pipeline_file

KFP_VERSION = '2.5.0'
CONSTRAINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           'kfp-constraints.txt')
IMAGE = 'europe-docker.pkg.dev/project/pipelines/kfp-check:1'
TAXI_FILE = os.path.join(TAXI_DIR, 'pipeline.py')

SHORT_FILE = '''
from fluent_pipeline import PipelineDef

def create_pipeline(root: str = {root!r}, data: str = {data!r}):
  return (PipelineDef('short', root=root).from_csv(data)
          .generate_statistics().infer_schema().validate_input_data())
'''

# A remote root and remote data, the user code passed as function objects.
REMOTE_FILE = f'''
import sys
sys.path.insert(0, {TAXI_DIR!r})
import taxi_utils
from fluent_pipeline import PipelineDef

def create_pipeline(root: str = 'gs://bucket/runs'):
  return (PipelineDef('remote', root=root)
          .from_csv('gs://bucket/runs/data/train/')
          .generate_statistics().infer_schema()
          .preprocess(taxi_utils.preprocessing_fn)
          .train(taxi_utils.run_fn, train_args=20, eval_args=5)
          .push_to('serving'))
'''

# As test_compile_image's module-file chain.
MODFILE_FILE = f'''
from fluent_pipeline import PipelineDef
pipeline = (PipelineDef('modfile', root='gs://b/p')
            .from_csv('gs://b/p/data/').generate_statistics()
            .infer_schema().train({TAXI_MODULE!r}, train_args=5))
'''

# Importers (schema, hyperparameters) and the base-model Resolver, which the
# Kubeflow V2 compiler turns into importer / resolver executors.
IMPORTS_FILE = f'''
from fluent_pipeline import PipelineDef

def create_pipeline(root: str = 'gs://bucket/runs', data: str = 'gs://b/d/',
                    schema: str = '', hyperparameters: str = ''):
  return (PipelineDef('imports', root=root).from_csv(data)
          .generate_statistics().with_imported_schema(schema)
          .with_hyperparameters(hyperparameters).with_base_model()
          .train({TAXI_MODULE!r}, train_args=10, eval_args=5)
          .push_to('serving'))
'''

# What runs in kfp's venv: each spec loaded, recompiled, the recompiled YAML
# loaded again, and the component used as a task of a kfp pipeline.
PROBE = textwrap.dedent('''
    import json, os, sys, traceback
    import yaml
    import kfp
    from kfp import compiler, components, dsl

    SAMPLE = {'String': 'x', 'Integer': 1, 'Float': 1.0, 'Boolean': True,
              'List': [], 'Dict': {}}

    def yaml_file(path):
      with open(path) as f:
        return yaml.safe_load(f)

    def probe(spec, out):
      found = {'kfp': kfp.__version__, 'stage': 'load', 'error': None}
      try:
        comp = components.load_component_from_text(json.dumps(spec))
        impl = comp.component_spec.implementation
        inputs = comp.component_spec.inputs or {}
        found.update(
            name=comp.name, inputs=sorted(inputs),
            required=sorted(k for k, v in inputs.items() if not v.optional),
            graph=impl.graph is not None and impl.container is None,
            tasks=sorted(comp.pipeline_spec.root.dag.tasks))
        found['stage'] = 'recompile'
        path = os.path.join(out, 'recompiled.yaml')
        compiler.Compiler().compile(comp, path)
        again = yaml_file(path)
        found['recompiled'] = {
            'name': again['pipelineInfo']['name'],
            'tasks': sorted(again['root']['dag']['tasks']),
            'identical': again == spec}
        found['stage'] = 'reload'
        found['reloaded_tasks'] = sorted(components.load_component_from_file(
            path).pipeline_spec.root.dag.tasks)
        found['stage'] = 'nest'
        args = {k: SAMPLE[v.type] for k, v in inputs.items()}
        def outer():
          comp(**args)
        path = os.path.join(out, 'outer.yaml')
        compiler.Compiler().compile(dsl.pipeline(name='outer')(outer), path)
        nested = yaml_file(path)
        tasks = nested['root']['dag']['tasks']
        ref = next(iter(tasks.values()))['componentRef']['name']
        found['nested'] = {
            'tasks': sorted(tasks), 'ref': ref,
            'components': sorted(nested['components']),
            'sub_tasks': sorted(nested['components'][ref]['dag']['tasks']),
            'executors': sorted(nested['deploymentSpec']['executors'])}
        found['stage'] = None
      except Exception as e:
        frame = traceback.extract_tb(e.__traceback__)[-1]
        found['error'] = f'{type(e).__name__}: {e}'
        found['where'] = f'{os.path.basename(frame.filename)}:{frame.name}'
      return found

    with open(sys.argv[1]) as f:
      cases = json.load(f)
    with open(sys.argv[2], 'w') as f:
      json.dump({c['label']: probe(c['spec'], c['out']) for c in cases}, f)
    ''')


# ------------------------------------------------------------ kfp's venv
@pytest.fixture(scope='session')
def kfp_python(request, tmp_path_factory):
  """A Python with kfp 2.5: this one if the project's venv has it, else a
  venv built from tests/kfp-constraints.txt (cached, named by its hash)."""
  try:
    if importlib.metadata.version('kfp') == KFP_VERSION:
      return sys.executable
  except importlib.metadata.PackageNotFoundError:
    pass
  with open(CONSTRAINTS, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
  cache = getattr(request.config, 'cache', None)
  parent = (cache.mkdir('fluent-pipeline-kfp') if cache is not None
            else tmp_path_factory.getbasetemp())
  return _kfp_venv(os.path.join(parent, f'kfp-{KFP_VERSION}-{digest}'))


def _kfp_venv(folder: str) -> str:
  python = os.path.join(folder, 'bin', 'python')
  ready = os.path.join(folder, 'ready')
  with open(folder + '.lock', 'w', encoding='utf-8') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest may be building it
    if os.path.isfile(ready) and os.path.exists(python):
      return python
    shutil.rmtree(folder, ignore_errors=True)
    started = time.monotonic()
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', folder],
                   check=True, capture_output=True, timeout=300)
    # This venv's pip installs into the new one (pip >= 22.3: --python).
    done = subprocess.run(
        [sys.executable, '-m', 'pip', '--python', python, 'install',
         '--quiet', '--disable-pip-version-check', '--no-input',
         '-c', CONSTRAINTS, f'kfp=={KFP_VERSION}'],
        capture_output=True, text=True, timeout=1200)
    if done.returncode:
      pytest.fail(f'pip could not install kfp {KFP_VERSION} into {folder}:\n'
                  + done.stderr[-3000:])
    version = subprocess.run(
        [python, '-I', '-c', 'import kfp, urllib3; print(kfp.__version__, '
         'urllib3.__version__)'],
        capture_output=True, text=True, timeout=300)
    assert version.stdout.split()[:1] == [KFP_VERSION], version.stderr
    with open(ready, 'w', encoding='utf-8') as f:
      f.write(f'{version.stdout.strip()}; built in '
              f'{time.monotonic() - started:.0f} s from {CONSTRAINTS}\n')
  return python


def run_probe(python: str, specs, folder) -> dict:
  """kfp's findings on each spec (label -> pipelineSpec dict)."""
  cases = []
  for label, spec in specs.items():
    out = folder / label
    out.mkdir(parents=True, exist_ok=True)
    cases.append({'label': label, 'spec': spec, 'out': str(out)})
  request, answer = folder / 'request.json', folder / 'answer.json'
  request.write_text(json.dumps(cases))
  done = subprocess.run([python, '-I', '-c', PROBE, str(request), str(answer)],
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(answer.read_text())


# ------------------------------------------------------------- the specs
def tfx_tasks(tfx_pipeline) -> set:
  """The tasks KubeflowV2DagRunner makes of a TFX pipeline: one per
  component, named by its id; a latest-blessed-model Resolver becomes two."""
  names = set()
  for component in tfx_pipeline.components:
    if component.id == 'latest_blessed_model_resolver':
      names |= {f'{component.id}-model-blessing-resolver',
                f'{component.id}-model-resolver'}
    else:
      names.add(component.id)
  return names


def compile_spec(file: str, out, *, runner='kubeflow_v2', sets=None,
                 root=None):
  """`fluent-pipeline compile` -> (PipelineJob dict, TFX task names)."""
  sets = sets or {}
  argv = ['compile', file, '--runner', runner, '--image', IMAGE, '-o',
          str(out), '--allow-local-paths']  # the spec reads test data here
  for name, value in sets.items():
    argv += ['--set', f'{name}={value}']
  if root:
    argv += ['--root', root]
  assert main(argv) == 0
  with open(out / 'pipeline.json', encoding='utf-8') as f:
    job = json.load(f)
  pdef = _pipeline_file.load(file).build({k: str(v) for k, v in sets.items()})
  return job, tfx_tasks(pdef.build())


@contextlib.contextmanager
def pipeline_spec_2_1():
  """KubeflowV2DagRunner writes schema 2.1 (TFX's use_pipeline_spec_2_1)."""
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2
  original = kfv2.KubeflowV2DagRunnerConfig

  class Config(original):

    def __init__(self, *args, **kwargs):
      kwargs.setdefault('use_pipeline_spec_2_1', True)
      super().__init__(*args, **kwargs)

  from fluent_pipeline.dsl import tfx_v1  # what compile uses
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(kfv2, 'KubeflowV2DagRunnerConfig', Config)
    patch.setattr(tfx_v1.orchestration().experimental,
                  'KubeflowV2DagRunnerConfig', Config)
    yield


LOADABLE = {  # label -> the pipeline's name
    'taxi': 'taxi-kfp', 'taxi-runner': 'taxi-runner', 'short': 'short',
    'remote': 'remote', 'modfile': 'modfile', 'imports': 'imports',
    'prototype-2.1': 'taxi-vertex'}


@pytest.fixture(scope='module')
def compiled(tmp_path_factory, taxi_csv_dir):
  """label -> (PipelineJob, TFX task names): every kind of chain, compiled
  as the tests of compile and of the runners compile them."""
  folder = tmp_path_factory.mktemp('kfp_specs')
  local_root = str(folder / 'root')
  unlabelled = os.path.join(os.path.dirname(taxi_csv_dir), 'data_unlabelled')
  specs = {}
  started = time.monotonic()
  # The full taxi chain: tune, evaluate, infra_validate, push, bulk_infer.
  specs['taxi'] = compile_spec(
      TAXI_FILE, folder / 'taxi', sets=dict(
          root=local_root, name='taxi-kfp', data_dir=taxi_csv_dir,
          unlabelled_dir=unlabelled, train_steps=77))
  # The same through TFX's runner itself, as test_runners does (TFX builds
  # the module file into a wheel under the root).
  import pipeline as taxi_pipeline  # examples/chicago_taxi/pipeline.py
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2
  pdef = taxi_pipeline.create_pipeline(
      root=local_root, data_dir=taxi_csv_dir, unlabelled_dir=unlabelled,
      name='taxi-runner')
  kfv2.KubeflowV2DagRunner(
      config=kfv2.KubeflowV2DagRunnerConfig(default_image=IMAGE),
      output_dir=str(folder), output_filename='taxi-runner.json').run(
          pdef.build())
  specs['taxi-runner'] = (
      json.loads((folder / 'taxi-runner.json').read_text()),
      tfx_tasks(pdef.build()))
  files = {}
  for label, text in [
      ('short', SHORT_FILE.format(root=local_root, data=taxi_csv_dir)),
      ('remote', REMOTE_FILE), ('modfile', MODFILE_FILE),
      ('imports', IMPORTS_FILE), ('prototype', PROTOTYPE_FILE)]:
    files[label] = folder / f'{label.replace("-", "_")}_chain.py'
    files[label].write_text(text)
  specs['short'] = compile_spec(str(files['short']), folder / 'short')
  specs['remote'] = compile_spec(str(files['remote']), folder / 'remote',
                                 runner='vertex', root='gs://bucket/pipelines')
  specs['modfile'] = compile_spec(str(files['modfile']), folder / 'modfile')
  (folder / 'schema.pbtxt').write_text('feature { name: "fare" type: FLOAT }\n')
  (folder / 'best_hyperparameters.txt').write_text('{}\n')
  specs['imports'] = compile_spec(
      str(files['imports']), folder / 'imports', runner='vertex', sets=dict(
          schema=folder / 'schema.pbtxt',
          hyperparameters=folder / 'best_hyperparameters.txt'))
  # test_compile_image's prototype: a RuntimeParameter (eval_args) becomes
  # an input of the pipeline; as written (schema 2.0.0) and in schema 2.1.
  prototype = dict(runner='vertex', sets=dict(train_steps=33),
                   root='gs://bucket/pipelines')
  specs['prototype'] = compile_spec(str(files['prototype']),
                                    folder / 'prototype', **prototype)
  with pipeline_spec_2_1():
    specs['prototype-2.1'] = compile_spec(str(files['prototype']),
                                          folder / 'prototype-2.1', **prototype)
  print(f'compiled {len(specs)} specs in {time.monotonic() - started:.1f} s')
  return specs


@pytest.fixture(scope='module')
def loaded(compiled, kfp_python, tmp_path_factory):
  """label -> what kfp 2.5 made of its spec."""
  started = time.monotonic()
  found = run_probe(kfp_python,
                    {k: job['pipelineSpec'] for k, (job, _) in compiled.items()},
                    tmp_path_factory.mktemp('kfp_probe'))
  print(f'kfp probed {len(found)} specs in {time.monotonic() - started:.1f} s')
  return found


# ------------------------------------------------------------- the tests
@pytest.mark.e2e  # kfp's venv, built from the package index
@pytest.mark.parametrize('label', sorted(LOADABLE))
def test_kfp_loads_recompiles_and_composes_the_spec(label, compiled, loaded):
  job, tfx_task_names = compiled[label]
  spec = job['pipelineSpec']
  found = loaded[label]
  assert found['kfp'] == KFP_VERSION
  assert found['error'] is None, (found['stage'], found['error'],
                                  found.get('where'))
  name = LOADABLE[label]
  assert spec['pipelineInfo']['name'] == name
  # A graph component named as the pipeline, with TFX's components as its
  # tasks and the runtime parameters (if any) as its inputs.
  assert found['name'] == name and found['graph']
  assert set(found['tasks']) == tfx_task_names
  assert found['tasks'] == sorted(spec['root']['dag']['tasks'])
  assert found['inputs'] == sorted(
      spec['root'].get('inputDefinitions', {}).get('parameters', {}))
  # Recompiled, the spec is the same one, and it loads again.
  assert found['recompiled'] == {'name': name, 'tasks': found['tasks'],
                                 'identical': True}
  assert found['reloaded_tasks'] == found['tasks']
  # Composed into a kfp pipeline: one task running the whole TFX DAG.
  nested = found['nested']
  assert nested['tasks'] == [name] and nested['ref'] == f'comp-{name}'
  assert nested['sub_tasks'] == found['tasks']
  assert set(nested['components']) == set(spec['components']) | {
      f'comp-{name}'}
  assert nested['executors'] == sorted(spec['deploymentSpec']['executors'])


@pytest.mark.parametrize('label', sorted(LOADABLE) + ['prototype'])
def test_every_reference_in_the_spec_resolves(label, compiled):
  """What kfp does not check: every task's component, dependencies and
  producers, and every component's executor, exist."""
  spec = compiled[label][0]['pipelineSpec']
  tasks = spec['root']['dag']['tasks']
  executors = spec['deploymentSpec']['executors']
  for task_name, task in tasks.items():
    assert task['componentRef']['name'] in spec['components'], task_name
    assert task['taskInfo']['name'] == task_name
    assert set(task.get('dependentTasks', [])) <= set(tasks), task_name
    for value in task.get('inputs', {}).get('artifacts', {}).values():
      if 'taskOutputArtifact' in value:
        # (Not always among dependentTasks: TFX leaves them out between the
        # two tasks of a latest-blessed-model Resolver.)
        producer = value['taskOutputArtifact']
        assert producer['producerTask'] in tasks, task_name
        outputs = spec['components'][tasks[producer['producerTask']][
            'componentRef']['name']]['outputDefinitions']['artifacts']
        assert producer['outputArtifactKey'] in outputs, task_name
    for value in task.get('inputs', {}).get('parameters', {}).values():
      if 'componentInputParameter' in value:
        assert value['componentInputParameter'] in spec['root'][
            'inputDefinitions']['parameters'], task_name
  for component in spec['components'].values():
    assert component['executorLabel'] in executors
  assert set(executors) == {c['executorLabel']
                            for c in spec['components'].values()}


@pytest.mark.e2e  # kfp's venv
def test_kfp_rejects_a_tfx_runtime_parameter_in_schema_2_0(compiled, loaded):
  """KubeflowV2DagRunner writes schema 2.0.0 by default, where a pipeline
  input is `{"type": "STRING"}`; kfp 2's loader reads only `parameterType`
  (schema 2.1) and takes any other input for an artifact. TFX's
  use_pipeline_spec_2_1 writes `parameterType`, which kfp loads
  (prototype-2.1 above). In either schema the RuntimeParameter's default is
  not in the spec: the input is required, on Vertex too."""
  spec = compiled['prototype'][0]['pipelineSpec']
  assert spec['schemaVersion'] == '2.0.0'
  assert spec['root']['inputDefinitions']['parameters'] == {
      'eval_args': {'type': 'STRING'}}
  found = loaded['prototype']
  assert found['stage'] == 'load'
  assert found['error'] == "KeyError: 'artifactType'"
  assert found['where'] == 'structures.py:from_ir_component_inputs_dict'
  spec_2_1 = compiled['prototype-2.1'][0]['pipelineSpec']
  assert spec_2_1['schemaVersion'] == '2.1.0'
  assert spec_2_1['root']['inputDefinitions']['parameters'] == {
      'eval_args': {'parameterType': 'STRING'}}
  assert loaded['prototype-2.1']['inputs'] == ['eval_args']
  assert loaded['prototype-2.1']['required'] == ['eval_args']
  assert compiled['prototype-2.1'][0]['runtimeConfig'] == {
      'gcsOutputDirectory': 'gs://bucket/pipelines/taxi-vertex'}


@pytest.mark.e2e  # kfp's venv
def test_kfp_rejects_broken_specs(compiled, kfp_python, tmp_path):
  """The loader is strict where the spec is a PipelineSpec message; the
  deploymentSpec (a Struct there) is checked when the component is
  composed into a pipeline. The intact spec passes in the same run."""
  job = compiled['short'][0]
  spec = job['pipelineSpec']

  def broken(change):
    copied = copy.deepcopy(spec)
    change(copied)
    return copied

  def rename_field(s):
    task = s['root']['dag']['tasks']['SchemaGen']
    task['componentReff'] = task.pop('componentRef')

  def string_for_list(s):
    s['root']['dag']['tasks']['SchemaGen']['dependentTasks'] = 'StatisticsGen'

  def wrong_value_type(s):
    s['root']['dag']['tasks']['SchemaGen']['inputs']['parameters'][
        'exclude_splits']['runtimeValue']['constantValue'] = {'stringValue': 1}

  def unknown_input_type(s):
    s['root']['inputDefinitions'] = {
        'parameters': {'x': {'parameterType': 'TEXT'}}}

  def executor_typo(s):
    container = s['deploymentSpec']['executors']['SchemaGen_executor'][
        'container']
    container['imagee'] = container.pop('image')

  found = run_probe(kfp_python, {
      'intact': spec,
      'the PipelineJob': job,
      'no pipelineInfo': broken(lambda s: s.pop('pipelineInfo')),
      'unknown field': broken(rename_field),
      'string for a list': broken(string_for_list),
      'wrong value type': broken(wrong_value_type),
      'unknown input type': broken(unknown_input_type),
      'executor typo': broken(executor_typo),
  }, tmp_path)
  assert found['intact']['error'] is None and found['intact']['tasks'] == \
      sorted(spec['root']['dag']['tasks'])
  stages = {label: (f['stage'], f['error'].split(':')[0])
            for label, f in found.items() if label != 'intact'}
  assert stages == {
      'the PipelineJob': ('load', 'KeyError'),  # kfp takes the pipelineSpec
      'no pipelineInfo': ('load', 'KeyError'),
      'unknown field': ('load', 'ParseError'),
      'string for a list': ('load', 'ParseError'),
      'wrong value type': ('load', 'ParseError'),
      'unknown input type': ('load', 'ValueError'),
      'executor typo': ('nest', 'ParseError'),
  }
  assert 'componentReff' in found['unknown field']['error']
  assert 'imagee' in found['executor typo']['error']
