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

Nothing runs.
"""

import importlib.metadata
import json
import os
import re
import shutil

from fluent_pipeline import _paths
from fluent_pipeline.dsl import tfx_v1
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.project import export
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
  """The IR JSON for LocalDagRunner / BeamDagRunner."""
  from google.protobuf import json_format
  from tfx.dsl.compiler import compiler

  from fluent_pipeline.dsl import wiring
  pipeline = wiring.build(pdef._plan, _RUNNER_NAMES[runner])
  ir = compiler.Compiler().compile(pipeline)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, 'w', encoding='utf-8') as f:
    f.write(json_format.MessageToJson(ir, preserving_proto_field_name=True))
  return output


def write_image_build(pdef, runner: str, output_dir: str, *,
                      image: str) -> dict[str, str]:
  """Writes the spec and the image's build context into `output_dir`;
  returns what was written (name -> path) and the local paths the spec
  names ('local_paths', newline-separated), which the containers must be
  able to read."""
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
  pipeline = wiring.build(spec_plan, _RUNNER_NAMES[runner])
  _clear(output_dir, where)
  kubeflow = tfx_v1.orchestration().experimental
  job = kubeflow.KubeflowV2DagRunner(
      config=kubeflow.KubeflowV2DagRunnerConfig(default_image=image),
      output_dir=output_dir, output_filename=SPEC_FILE).run(pipeline)
  export.write(project, os.path.join(output_dir, APP_DIR), where=where)
  with open(os.path.join(output_dir, MARKER), 'w', encoding='utf-8') as f:
    f.write('Written by fluent-pipeline compile; compiling again into this '
            'directory replaces all of it.\n')
  _copy_package(os.path.join(output_dir, SRC_DIR))
  extras = _image_extras(project.files['requirements.txt'])
  written = {'spec': os.path.join(output_dir, SPEC_FILE),
             'dockerfile': os.path.join(output_dir, 'Dockerfile'),
             'app': os.path.join(output_dir, APP_DIR)}
  with open(written['dockerfile'], 'w', encoding='utf-8') as f:
    f.write(_dockerfile(extras, project))
  with open(os.path.join(output_dir, 'README.md'), 'w', encoding='utf-8') as f:
    f.write(_readme(plan, image, runner))
  written['local_paths'] = '\n'.join(sorted(_local_paths(job)))
  return written


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


def _clear(output_dir: str, where: str) -> None:
  """Makes `output_dir` an empty directory: it must not exist, be empty, or
  hold an earlier compile (which is replaced whole, so no stale file goes
  into the image). Anything else is refused before a file is written."""
  if os.path.isdir(output_dir) and os.listdir(output_dir):
    if not os.path.isfile(os.path.join(output_dir, MARKER)):
      raise PipelineDefinitionError(
          where, f'{output_dir} is not empty and holds no earlier compile',
          fix='compile into a new or empty directory (nothing was written)')
    for name in os.listdir(output_dir):
      path = os.path.join(output_dir, name)
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
  elif os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise PipelineDefinitionError(
        where, f'{output_dir} is a file', fix='pass a directory')
  os.makedirs(output_dir, exist_ok=True)


def _copy_package(target: str) -> None:
  """fluent_pipeline's own .py files (its components run in the image)."""
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  destination = os.path.join(target, 'fluent_pipeline')
  shutil.copytree(package, destination,
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def _tfx_closure() -> set[str]:
  """Canonical names of TFX and every distribution it requires: what TFX's
  image already has."""
  from packaging.requirements import Requirement
  seen: set[str] = set()
  todo = ['tfx']
  while todo:
    name = export.canonical_name(todo.pop())
    if name in seen:
      continue
    seen.add(name)
    try:
      requires = importlib.metadata.requires(name) or []
    except importlib.metadata.PackageNotFoundError:
      continue
    for text in requires:
      requirement = Requirement(text)
      if requirement.marker is None or requirement.marker.evaluate(
          {'extra': ''}):
        todo.append(requirement.name)
  return seen


def _image_extras(requirements: str) -> list[str]:
  """The pinned requirements TFX's image lacks."""
  closure = _tfx_closure()
  extras = []
  for line in requirements.splitlines():
    if line and not line.startswith('#'):
      name = line.split('==')[0]
      if name not in closure and name not in ('tf-keras',):
        extras.append(line)
  return extras


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
    lines += ['', '# What the code imports that TFX\'s image lacks, at the '
              'versions it ran with.',
              f'COPY {APP_DIR}/constraints.txt /tmp/constraints.txt',
              'RUN pip install --no-cache-dir -c /tmp/constraints.txt '
              + ' '.join(extras)]
  lines += ['', f'COPY {SRC_DIR}/ /pipeline/{SRC_DIR}/',
            f'COPY {APP_DIR}/ /pipeline/{APP_DIR}/',
            f'WORKDIR /pipeline/{APP_DIR}', '']
  return '\n'.join(lines)


def _readme(plan, image: str, runner: str) -> str:
  return f"""# Pipeline {plan.name!r}, compiled for {runner}

- `{SPEC_FILE}`: the PipelineJob for Vertex AI Pipelines / Kubeflow
  Pipelines v2; every component runs in `{image}`.
- `Dockerfile`, `{APP_DIR}/`, `{SRC_DIR}/`: that image's build context (TFX's
  image, the pipeline's code as source, fluent_pipeline).

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


def _local_paths(value, found=None) -> set[str]:
  """Strings in the spec naming existing paths of this machine."""
  found = set() if found is None else found
  if isinstance(value, dict):
    for item in value.values():
      _local_paths(item, found)
  elif isinstance(value, list):
    for item in value:
      _local_paths(item, found)
  elif isinstance(value, str):
    if value.startswith('/') and len(value) > 1 and os.path.exists(value):
      found.add(value)
    elif value[:1] in '{[':
      try:
        _local_paths(json.loads(value), found)
      except ValueError:
        pass
  return found
