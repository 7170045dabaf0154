"""`fluent-pipeline compile`: what a runner would run, written to disk.

- local / beam: the pipeline IR (tfx.proto.orchestration.Pipeline) as JSON,
  which LocalDagRunner / BeamDagRunner execute with `run_with_ir`;
- kubeflow_v2 / vertex: a directory holding the PipelineJob JSON that
  KubeflowV2DagRunner writes and the build context of the image it runs in:
  a Dockerfile from TFX's image, the user code as source (the exported
  project, project.export) and fluent_pipeline's own source for its components.
  The spec names the user code by dotted paths into that image, so TFX
  builds no user-code wheel and nothing touches the bucket: compiling needs
  no cloud access (TFX itself uploads module-file wheels to the root at
  compile time).

Everything is checked before a file is written (compile_checks: a spec
that names a path of this machine, a secret a file would hold in clear, a
pipeline Kubeflow V2 cannot compile). A secret Beam flag is read from the
environment where it runs: a TFX placeholder in the IR
(`ph.environment_variable`, resolved by the Beam executor operator),
`$(VARIABLE)` in a Kubeflow spec (expanded by Kubernetes from the
container's environment); Vertex refuses it. Nothing runs.
"""

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import types
from collections.abc import Iterator
from typing import Any, Callable

from fluent_pipeline import _paths
from fluent_pipeline.dsl import chain_code, configuration, tfx_v1
from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.orchestration import compile_checks
from fluent_pipeline.project import chain_source, component_source, export
from fluent_pipeline.usercode import user_code

_KFP_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')
_RUNNER_NAMES = {'local': 'LocalDagRunner', 'beam': 'BeamDagRunner',
                 'kubeflow_v2': 'KubeflowV2DagRunner',
                 'vertex': 'KubeflowV2DagRunner'}
IMAGE_RUNNERS = ('kubeflow_v2', 'vertex')
SPEC_FILE = 'pipeline.json'
APP_DIR = 'app'  # the exported project, in the image at /pipeline/app
SRC_DIR = 'src'  # fluent_pipeline's source, in the image at /pipeline/src
MARKER = '.fluent_pipeline_build'  # marks a directory compile may replace



def base_image() -> str:
  """TFX's own image of the installed TFX version."""
  return f'gcr.io/tfx-oss-public/tfx:{importlib.metadata.version("tfx")}'


def write_ir(pdef, runner: str, output: str) -> str:
  """The IR JSON for LocalDagRunner / BeamDagRunner. A secret Beam flag is
  a placeholder TFX resolves from the environment when the component
  runs; any other secret the IR would hold is refused."""
  from google.protobuf import json_format
  from tfx.dsl.compiler import compiler

  from fluent_pipeline.dsl import plan as plans
  from fluent_pipeline.dsl import wiring
  plan = pdef._plan
  pipeline, nodes_by_call = wiring.build_indexed(plan, _RUNNER_NAMES[runner])
  # Checked, though these runners run every node here and ignore them.
  plans.resources_by_node(plan, nodes_by_call,
                          [c.id for c in pipeline.components])
  secrets = chain_source.secrets(plan, Chain)
  read_beam_secrets(pipeline, plan, secrets, environment_placeholder)
  ir = compiler.Compiler().compile(pipeline)
  text = json_format.MessageToJson(ir, preserving_proto_field_name=True)
  compile_checks.refuse_secrets({os.path.basename(output): text}, secrets,
                                _RUNNER_NAMES[runner])
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, 'w', encoding='utf-8') as f:
    f.write(text)
  return output


def write_image_build(pdef, runner: str, output_dir: str, *, image: str,
                      allow_local_paths: bool = False) -> dict[str, str]:
  """Writes the spec and the image's build context into `output_dir`;
  returns what was written (name -> path), the local paths the spec names
  ('local_paths', newline-separated; an error unless `allow_local_paths`,
  as no container can read them) and the environment variables the spec
  reads secrets from ('environment', newline-separated)."""
  from fluent_pipeline.dsl import plan as plans
  from fluent_pipeline.dsl import wiring
  plan = pdef._plan
  where = 'compile'
  if not _KFP_NAME.fullmatch(plan.name):
    raise PipelineDefinitionError(
        where, f'pipeline name {plan.name!r} is not valid on Kubeflow V2 / '
        "Vertex, which take lowercase letters, digits and '-'",
        fix=f"name it {re.sub('[^a-z0-9-]', '-', plan.name.lower())!r}")
  if not image or '/' not in image and ':' not in image:
    raise PipelineDefinitionError(
        where, f'--image {image!r} does not name the image to build',
        fix='pass the image you will build from this directory and push, '
        'e.g. --image gcr.io/PROJECT/NAME:TAG')
  if _paths.is_uri(output_dir):
    raise PipelineDefinitionError(
        where, f'{output_dir!r} is remote; the build context is local',
        fix='pass a local directory')
  _check_output_dir(output_dir, where)
  project = export.make(plan, where=where)
  for kind, _, _, _ in plan.code_steps():
    if kind not in project.dotted_paths:
      raise PipelineDefinitionError(
          f'{where}: {plan.steps[kind].call}()', 'its module file '
          f'{plan.steps[kind].opts.get("code")!r} is remote: TFX would '
          'package it into a wheel in the bucket at compile time',
          fix='pass a local copy of the module, so it goes into the image')
  shim = _code_shim(plan, project)
  spec_plan = _in_image(plan, project, shim)
  pipeline, nodes_by_call = wiring.build_indexed(spec_plan,
                                                _RUNNER_NAMES[runner])
  named_by: dict[str, str] = {}
  resources = plans.resources_by_node(spec_plan, nodes_by_call,
                                      [c.id for c in pipeline.components],
                                      named_by)
  variables = _kubeflow_secrets(pipeline, plan, project.secrets, runner)
  with _executors_in_image(pipeline, project, shim):
    job = _kubeflow_spec(pipeline, image, output_dir, where)
  set_resources(job, resources, runner, named_by)
  spec = json.dumps(job, sort_keys=True)
  compile_checks.refuse_secrets({SPEC_FILE: spec}, project.secrets,
                                _RUNNER_NAMES[runner])
  local = compile_checks.refuse_local_paths(job, plan.root, where,
                                            allow=allow_local_paths)
  _clear(output_dir, where)
  written = {'spec': os.path.join(output_dir, SPEC_FILE),
             'dockerfile': os.path.join(output_dir, 'Dockerfile'),
             'app': os.path.join(output_dir, APP_DIR)}
  with open(written['spec'], 'w', encoding='utf-8') as f:
    f.write(spec)
  export.write(project, os.path.join(output_dir, APP_DIR), where=where)
  with open(os.path.join(output_dir, MARKER), 'w', encoding='utf-8') as f:
    f.write('Written by fluent-pipeline compile; compiling again into this '
            'directory replaces all of it.\n')
  _copy_package(os.path.join(output_dir, SRC_DIR))
  extras = _image_extras(project.files['requirements.txt'])
  with open(written['dockerfile'], 'w', encoding='utf-8') as f:
    f.write(_dockerfile(extras, project))
  with open(os.path.join(output_dir, 'README.md'), 'w', encoding='utf-8') as f:
    f.write(_readme(plan, image, runner, variables))
  written['local_paths'] = '\n'.join(local)
  written['environment'] = '\n'.join(variables)
  return written


# ------------------------------------------------------------------ secrets
def environment_placeholder(prefix: str, variable: str) -> Any:
  """A Beam flag read from environment variable `variable` when the
  component runs: TFX's placeholder, which its Beam executor operator
  resolves (LocalDagRunner, BeamDagRunner, the portable Launcher)."""
  from tfx.dsl.placeholder import placeholder as ph
  read = ph.environment_variable(variable)
  return prefix + read if prefix else read


def read_beam_secrets(pipeline, plan, secrets: dict[str, tuple[Any, list]],
                      make: Callable[[str, str], Any]) -> list[str]:
  """Replaces the value of each secret Beam flag of the built `pipeline`
  (the pipeline's flags and each component's) by `make(prefix,
  variable)`, the variable named as the exported pipeline.py names it
  (`secrets`, chain_source.secrets). Returns the variables."""
  variables: dict[tuple[str, str], str] = {}
  for item in chain_code.beam_args(plan.beam_pipeline_args):
    if isinstance(item, chain_code.SecretFlag):
      secret = item.secret
      variables[(secret.label, secret.value)] = next(
          (variable for variable, (value, labels) in secrets.items()
           if value == secret.value and secret.label in labels),
          secret.variable)
  if not variables:
    return []

  def read(args):
    out = []
    for item in configuration.secret_args(args):
      if isinstance(item, str):
        out.append(item)
        continue
      prefix, value, name = item
      variable = variables.get((f'the Beam flag {name}', value))
      out.append(prefix + value if variable is None
                 else make(prefix, variable))
    return out

  pipeline._beam_pipeline_args = read(pipeline.beam_pipeline_args)
  for component in pipeline.components:
    spec = getattr(component, 'executor_spec', None)
    if isinstance(getattr(spec, 'beam_pipeline_args', None), list) and all(
        isinstance(a, str) for a in spec.beam_pipeline_args):
      spec.beam_pipeline_args = read(spec.beam_pipeline_args)
  return sorted(set(variables.values()))


def beam_secret_variables(plan) -> list[str]:
  """The environment variables the secret Beam flags of `plan` are read
  from in a compiled IR or spec."""
  return sorted({variable for variable, (_, labels) in
                 chain_source.secrets(plan, Chain).items()
                 if any(label.startswith('the Beam flag ')
                        for label in labels)})


def _kubeflow_secrets(pipeline, plan, secrets, runner: str) -> list[str]:
  """A secret Beam flag as `$(VARIABLE)`, which Kubernetes expands from the
  container's environment (Kubeflow Pipelines: a Kubernetes secret set as
  the variable); Vertex AI Pipelines sets no environment from a secret, so
  there it is refused."""
  if runner == 'vertex':
    compile_checks.refuse_vertex_secrets(plan)
  return read_beam_secrets(pipeline, plan, secrets,
                           lambda prefix, variable: f'{prefix}$({variable})')


# ---------------------------------------------------- the Kubeflow V2 spec
def _kubeflow_spec(pipeline, image: str, output_dir: str,
                   where: str) -> dict[str, Any]:
  """The PipelineJob KubeflowV2DagRunner makes of `pipeline` (nothing
  written); its errors said as which component to change and how."""
  kubeflow = tfx_v1.orchestration().experimental
  runner = kubeflow.KubeflowV2DagRunner(
      config=kubeflow.KubeflowV2DagRunnerConfig(default_image=image),
      output_dir=output_dir, output_filename=SPEC_FILE)
  try:
    return runner.run(pipeline, write_out=False)
  except Exception as e:
    raise compile_checks.compile_error(e, pipeline, where) from e


def set_resources(job: dict[str, Any], resources: dict[str, Any],
                  runner: str, named_by: dict[str, str]) -> None:
  """Each node's with_resources values as its container's ResourceSpec in
  the PipelineJob `job` (cpuLimit, memoryLimit in GB, accelerator type and
  count), where Vertex / Kubeflow read them. Set here for every container
  node: TFX's own hook (`with_platform_config`) misses FileBasedExampleGen,
  which from_csv and the other file sources are. A node without a
  container (an importer, a resolver) takes none: a step whose every node
  lacks one is refused, and so is a GPU whose type Vertex cannot take
  (compile_checks.accelerator)."""
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  spec = job['pipelineSpec']
  executors = spec['deploymentSpec']['executors']
  containers: dict[str, list[str]] = {}  # step name -> its container nodes
  for node, values in sorted(resources.items()):
    step = named_by.get(node, node)
    containers.setdefault(step, [])
    if values.cpus is None and values.memory is None and not values.gpu:
      continue  # Airflow's only
    task = spec['root']['dag']['tasks'][node]
    label = spec['components'][task['componentRef']['name']].get(
        'executorLabel')
    container = executors.get(label, {}).get('container')
    if container is None:
      continue
    containers[step].append(node)
    found = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec \
        .ResourceSpec()
    if values.cpus is not None:
      found.cpu_limit = values.cpus
    if values.memory is not None:
      found.memory_limit = values.memory_gb
    if values.gpu:
      found.accelerator.type = compile_checks.accelerator(
          node, values.gpu_type, runner)
      found.accelerator.count = values.gpu
    container['resources'] = json_format.MessageToDict(found)
  for step, nodes in containers.items():
    asked = [resources[n] for n, s in named_by.items() if s == step]
    if not nodes and any(r.cpus is not None or r.memory is not None or r.gpu
                         for r in asked):
      raise PipelineDefinitionError(
          f'with_resources({step!r})', f'{step} runs no container on '
          f'{runner} (an importer or a resolver), so it takes no cpu, '
          'memory or GPU', fix=f'drop those values for {step}, or name '
          'the component that does the work')


# ------------------------------------------------------- the build context
def _check_output_dir(output_dir: str, where: str) -> None:
  """`output_dir` must not exist, be empty, or hold an earlier compile;
  anything else is refused before a file is written."""
  if os.path.isdir(output_dir) and os.listdir(output_dir):
    if not os.path.isfile(os.path.join(output_dir, MARKER)):
      raise PipelineDefinitionError(
          where, f'{output_dir} is not empty and holds no earlier compile',
          fix='compile into a new or empty directory (nothing was written)')
  elif os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise PipelineDefinitionError(
        where, f'{output_dir} is a file', fix='pass a directory')


def _code_shim(plan, project: export.Project) -> str:
  """Adds a module named by the content hash of the user code that imports
  each step's function under TFX's name for it; returns the module name.
  The spec names the functions through it, so a code change changes the
  spec's exec properties and Vertex / Kubeflow's cache never serves outputs
  of older code."""
  lines = []
  for kind, _, _, fn_name in plan.code_steps():
    module, _, attr = project.dotted_paths[kind].rpartition('.')
    alias = f'{fn_name}_{kind}' if kind.startswith('reshape_') else fn_name
    lines.append(f'from {module} import {attr}'
                 + (f' as {alias}' if attr != alias else ''))
  code = project.code_files()
  code['imports'] = '\n'.join(lines)
  name = f'fluent_code_{user_code.content_hash(code)[:16]}'
  project.files[f'{name}.py'] = '\n'.join([
      '"""The user code of this image, under a name that carries its content',
      'hash: the pipeline spec names the functions through this module, so',
      'a code change changes the spec and no cache serves older outputs',
      '(written by fluent-pipeline compile)."""', *lines, ''])
  return name


def _in_image(plan, project: export.Project, shim: str):
  """`plan` with each step's user code replaced by its dotted path in the
  image."""
  steps = dict(plan.steps)
  module_files = project.code_files()
  for kind, step, _, fn_name in plan.code_steps():
    alias = f'{fn_name}_{kind}' if kind.startswith('reshape_') else fn_name
    opts = dict(step.opts)
    opts['code'] = user_code.InImage(f'{shim}.{alias}', module_files)
    steps[kind] = type(step)(step.call, step.tfx, opts, step.args)
  return plan.replace(steps=steps)


@contextlib.contextmanager
def _executors_in_image(pipeline, project: export.Project, shim: str
                        ) -> Iterator[None]:
  """Components defined in a notebook or `__main__` (written into the
  functions module by export) run their executor through the shim: the
  spec names `<shim>.<Executor>`, which the image has, and changes with
  their code as the user functions' do. While compiling, this process has
  a stand-in of the shim (the compiler imports the executor's module)."""
  lines = []
  stand_in = types.ModuleType(shim)
  for component in pipeline.components:
    spec = getattr(component, 'executor_spec', None)
    executor = getattr(spec, 'executor_class', None)
    if executor is None or not component_source.source_module(
        sys.modules.get(executor.__module__)):
      continue
    name = executor.__name__
    line = f'from {project.functions_module} import {name}'
    if line not in lines:
      lines.append(line)
      setattr(stand_in, name,
              type(name, (executor,), {'__module__': shim}))
    in_image = spec.copy()
    in_image.executor_class = getattr(stand_in, name)
    in_image._class_path = None  # ExecutorClassSpec's cache of it
    component.executor_spec = in_image
  if not lines:
    yield
    return
  project.files[f'{shim}.py'] += '\n'.join(
      ['# The executors of the components defined in the notebook.',
       *lines, ''])
  sys.modules[shim] = stand_in
  try:
    yield
  finally:
    del sys.modules[shim]


def _clear(output_dir: str, where: str) -> None:
  """Makes `output_dir` an empty directory: it must not exist, be empty, or
  hold an earlier compile (which is replaced whole, so no stale file goes
  into the image)."""
  _check_output_dir(output_dir, where)
  if os.path.isdir(output_dir):
    for name in os.listdir(output_dir):
      path = os.path.join(output_dir, name)
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
  os.makedirs(output_dir, exist_ok=True)


def _copy_package(target: str) -> None:
  """fluent_pipeline's own .py files (its components run in the image)."""
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  destination = os.path.join(target, 'fluent_pipeline')
  shutil.copytree(package, destination,
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def _image_extras(requirements: str) -> list[str]:
  """The pins of requirements.txt that TFX's image may lack: all but TFX
  (the image) and what TFX pins to that very version. TFX requires ranges
  of the others (keras-tuner>=1.0.4,<2, tensorflow>=2.16,<2.17, ...), so
  its image may hold other versions than the code ran with, or none."""
  fixed = _tfx_exact_pins()
  extras = []
  for line in requirements.splitlines():
    if not line or line.startswith('#'):
      continue
    name, _, version = line.partition('==')
    name = export.canonical_name(name)
    if name != 'tfx' and fixed.get(name) != version:
      extras.append(line)
  return extras


def _tfx_exact_pins() -> dict[str, str]:
  """name -> version of TFX's requirements pinned to one version (its
  image holds exactly those)."""
  from packaging.requirements import Requirement
  found = {}
  for text in importlib.metadata.requires('tfx') or []:
    requirement = Requirement(text)
    specs = list(requirement.specifier)
    if (requirement.marker is None or requirement.marker.evaluate(
        {'extra': ''})) and len(specs) == 1 and specs[0].operator == '==':
      found[export.canonical_name(requirement.name)] = specs[0].version
  return found


def _dockerfile(extras: list[str], project: export.Project) -> str:
  paths = [f'/pipeline/{APP_DIR}', f'/pipeline/{SRC_DIR}']
  if any(k.startswith(export.USER_MODULES_DIR + '/') for k in project.files):
    paths.insert(1, f'/pipeline/{APP_DIR}/{export.USER_MODULES_DIR}')
  lines = [
      '# The image the pipeline\'s components run in: TFX\'s own, plus the',
      '# pipeline\'s code as source and fluent_pipeline (for its components).',
      f'FROM {base_image()}',
      '',
      '# TFX 1.16 runs Keras 2 code (tf-keras) on TensorFlow 2.16.',
      'ENV TF_USE_LEGACY_KERAS=1',
      f'ENV PYTHONPATH={":".join(paths)}',
  ]
  if extras:
    lines += ['', '# What the code imports, at the versions it ran with (its '
              'requirements.txt', '# but TFX, which this image is): pip keeps '
              'what the image has at these', '# versions and installs the '
              'rest.',
              f'COPY {APP_DIR}/constraints.txt /tmp/constraints.txt',
              'RUN pip install --no-cache-dir -c /tmp/constraints.txt \\',
              *[f'    {pin}' + (' \\' if i < len(extras) - 1 else '')
                for i, pin in enumerate(extras)]]
  lines += ['', f'COPY {SRC_DIR}/ /pipeline/{SRC_DIR}/',
            f'COPY {APP_DIR}/ /pipeline/{APP_DIR}/',
            f'WORKDIR /pipeline/{APP_DIR}', '']
  return '\n'.join(lines)


def _readme(plan, image: str, runner: str, variables: list[str]) -> str:
  environment = ''
  if variables:
    environment = """
The spec reads these secrets from the containers' environment, as
`$(VARIABLE)` in their arguments, which Kubernetes expands: set each in the
components' environment from a Kubernetes secret (kfp-kubernetes
`use_secret_as_env`); the spec holds none of them.

""" + ''.join(f'    {v}\n' for v in variables)
  return f"""# Pipeline {plan.name!r}, compiled for {runner}

- `{SPEC_FILE}`: the PipelineJob for Vertex AI Pipelines / Kubeflow
  Pipelines v2; every component runs in `{image}`.
- `Dockerfile`, `{APP_DIR}/`, `{SRC_DIR}/`: that image's build context (TFX's
  image, the pipeline's code as source, fluent_pipeline).
{environment}
Build and push the image (needs Docker, or Cloud Build):

    docker build -t {image} . && docker push {image}
    # or: gcloud builds submit --tag {image} .

Submit to Vertex AI Pipelines:

    python -c "from google.cloud import aiplatform; \\
    aiplatform.PipelineJob(display_name='{plan.name}', \\
    template_path='{SPEC_FILE}').submit()"

or to Kubeflow Pipelines:

    python -c "import kfp; kfp.Client(host='KFP_HOST')\\
    .create_run_from_pipeline_package('{SPEC_FILE}')"

Artifacts go under {plan.root}/{plan.name}.
"""
