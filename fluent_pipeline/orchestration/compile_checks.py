"""What `fluent-pipeline compile` refuses before it writes a file, each
said as what to change: a remote runner cannot run a spec that holds a
slip, and the user learns of it here rather than after a build and a push.

- a spec naming paths of this machine, which no container can read
  (`allow_local_paths` to proceed): `refuse_local_paths`;
- a secret a written file would hold in clear (runners take exec
  properties and the ML Metadata connection as written), and on Vertex a
  secret Beam flag, which no container's environment can supply there:
  `refuse_secrets`, `refuse_vertex_secrets`;
- a pipeline KubeflowV2DagRunner cannot compile: `compile_error` names the
  component and what to change, instead of TFX's traceback;
- a GPU whose accelerator type Vertex cannot take: `accelerator`.
"""

import json
import os
import re
import traceback
from typing import Any

from fluent_pipeline import _paths
from fluent_pipeline.dsl import chain_code
from fluent_pipeline.errors import PipelineDefinitionError


# -------------------------------------------------------------- local paths
def refuse_local_paths(job: dict[str, Any], root: str, where: str, *,
                       allow: bool = False) -> list[str]:
  """The paths of this machine the spec `job` names, sorted; an error
  listing them unless `allow` (every container mounts them)."""
  local = sorted(local_paths(job, root=root))
  if local and not allow:
    raise PipelineDefinitionError(
        where, 'the spec names paths of this machine, which no container '
        'can read:\n    ' + '\n    '.join(_grouped(local, root)),
        fix='put them where the cluster reads them (gs://...: --root '
        'gs://BUCKET/pipelines, data and schema paths in the file or '
        'through --set), or pass --allow-local-paths (Python: '
        'allow_local_paths=True) if every container mounts them; nothing '
        'was written')
  return local


def local_paths(value, found=None, *, root: str = '') -> set[str]:
  """Strings in the spec naming paths of this machine: existing ones, and
  the pipeline's root and what is under it when the root is local. A URI
  (gs://, s3://) never is one."""
  found = set() if found is None else found
  local_root = '' if _paths.is_uri(root) else root.rstrip('/')
  if isinstance(value, dict):
    for item in value.values():
      local_paths(item, found, root=root)
  elif isinstance(value, list):
    for item in value:
      local_paths(item, found, root=root)
  elif isinstance(value, str):
    if value.startswith('/') and len(value) > 1 and (
        os.path.exists(value) or (local_root and (
            value == local_root or value.startswith(local_root + '/')))):
      found.add(value)
    elif value[:1] in '{[':
      try:
        local_paths(json.loads(value), found, root=root)
      except ValueError:
        pass
  return found


def _grouped(paths: list[str], root: str) -> list[str]:
  """`paths` with those under a local root said once, as the root."""
  root = root.rstrip('/')
  under = [p for p in paths if p == root or p.startswith(root + '/')]
  if _paths.is_uri(root) or not under:
    return paths
  others = [p for p in paths if p not in under]
  return [f'{root} (the pipeline root; {len(under)} paths of the spec are '
          'in it)'] + others


# ------------------------------------------------------------------ secrets
def refuse_vertex_secrets(plan) -> None:
  """A secret Beam flag cannot go into a Vertex AI Pipelines spec, which can
  only hold it in clear: Vertex sets no container's environment from a
  secret (Kubeflow Pipelines reads it as `$(VARIABLE)`)."""
  for item in chain_code.beam_args(plan.beam_pipeline_args):
    if isinstance(item, chain_code.SecretFlag):
      raise PipelineDefinitionError(
          'compile', f'{item.secret.label} holds a secret, which a Vertex '
          'AI Pipelines spec can only hold in clear (Vertex sets no '
          "container's environment from a secret)",
          fix='let the components get the credential themselves (their '
          'service account, or Secret Manager read in your code), or '
          'compile --runner kubeflow_v2, whose spec reads it as '
          f'$({item.secret.variable}) from '
          "the container's environment (a Kubernetes secret)")


def refuse_secrets(texts: dict[str, str],
                   secrets: dict[str, tuple[Any, list]], runner_class: str
                   ) -> None:
  """A clear error if a secret of the chain (`secrets`, chain_source.secrets)
  is in one of `texts` (file name -> what would be written): runners take
  exec properties and the ML Metadata connection as written, with no
  environment lookup. `runner_class`: the DagRunner that would run it."""
  # The longest first: a secret may hold another ('X' and 'X-2').
  for variable, (value, labels) in sorted(
      secrets.items(), key=lambda item: -len(str(item[1][0]))):
    for name, text in texts.items():
      if not holds(text, str(value)):
        continue
      label = labels[0]
      if label.startswith('with_mysql_ml_metadata'):
        fix = (f'{runner_class} reads the ML Metadata connection '
               'from the IR as written: run the pipeline file itself '
               '(fluent-pipeline run), whose password is read where the '
               'file reads it, or compile a chain without the password')
      else:
        fix = (f'read it in your code from the environment (os.environ'
               f'[{variable!r}]) instead of passing it to the chain')
      raise PipelineDefinitionError(
          'compile', f'{label} holds a secret, which {name} would hold in '
          'clear (nothing was written)', fix=fix)


def holds(text: str, secret: str) -> bool:
  """Whether `text` (JSON, maybe holding JSON in strings) holds `secret`:
  as a value, after a '=', or, for a secret long enough not to be found by
  chance, anywhere."""
  if not secret:
    return False
  long = len(secret) >= 6
  if long and any(form in text for form in (
      secret, json.dumps(secret)[1:-1],
      json.dumps(secret, ensure_ascii=False)[1:-1])):
    return True
  try:
    data = json.loads(text)
  except ValueError:
    return False
  # Every string, JSON held in strings decoded (escaped twice or more in
  # the text): a long secret anywhere in one, a short one as a value, after
  # '=' or as a URL's password.
  return any((secret in s) if long else (
      s == secret or s.endswith('=' + secret) or f':{secret}@' in s)
             for s in _scalars(data))


def _scalars(value):
  """Every scalar of JSON data as text, JSON held in strings included."""
  if isinstance(value, dict):
    for item in value.values():
      yield from _scalars(item)
  elif isinstance(value, list):
    for item in value:
      yield from _scalars(item)
  elif isinstance(value, str):
    yield value
    if value[:1] in '{[':
      try:
        yield from _scalars(json.loads(value))
      except ValueError:
        pass
  elif value is not None:
    yield str(value)


# ------------------------------------------------------ accelerators
# Vertex AI's accelerator types (google.cloud.aiplatform_v1's
# AcceleratorType, read from it when installed); Kubeflow Pipelines takes a
# Kubernetes resource name.
VERTEX_ACCELERATORS = (
    'NVIDIA_TESLA_K80', 'NVIDIA_TESLA_P100', 'NVIDIA_TESLA_V100',
    'NVIDIA_TESLA_P4', 'NVIDIA_TESLA_T4', 'NVIDIA_TESLA_A100',
    'NVIDIA_A100_80GB', 'NVIDIA_L4', 'NVIDIA_H100_80GB',
    'NVIDIA_H100_MEGA_80GB', 'NVIDIA_H200_141GB', 'NVIDIA_B200',
    'NVIDIA_GB200', 'NVIDIA_RTX_PRO_6000', 'TPU_V2', 'TPU_V3', 'TPU_V4_POD',
    'TPU_V5_LITEPOD')
KUBERNETES_GPU = 'nvidia.com/gpu'


def vertex_accelerators() -> tuple[str, ...]:
  try:
    from google.cloud.aiplatform_v1.types import accelerator_type
  except ImportError:
    return VERTEX_ACCELERATORS
  return tuple(t.name for t in accelerator_type.AcceleratorType
               if t.value)  # all but ACCELERATOR_TYPE_UNSPECIFIED


def accelerator(node: str, gpu_type, runner: str) -> str:
  """The accelerator type of `node`'s GPUs on `runner`: on Vertex one of
  its types, which must be given; on Kubeflow any, nvidia.com/gpu when
  none is given."""
  if runner != 'vertex':
    return gpu_type or KUBERNETES_GPU
  known = vertex_accelerators()
  if gpu_type in known:
    return gpu_type
  import difflib
  given = re.sub(r'[^A-Z0-9]+', '_', str(gpu_type or '').upper())
  words = set(filter(None, given.split('_')))
  close = [t for t in known if words and words <= set(t.split('_'))] or \
      difflib.get_close_matches(given, known, n=1, cutoff=0.4)
  suggestion = close[0] if close else 'NVIDIA_TESLA_T4'
  what = (f'gpu_type={gpu_type!r} is not one of Vertex\'s accelerator types'
          if gpu_type else 'a GPU without gpu_type: Vertex needs its '
          'accelerator type')
  raise PipelineDefinitionError(
      f'with_resources({node!r})', what,
      fix=f"gpu_type={suggestion!r} (Vertex's types: {', '.join(known)})")


# ------------------------------------------------- the Kubeflow V2 compile
_TYPE_NAME = re.compile(r'Invalid custom artifact type name: (\S+)')


def compile_error(error: Exception, pipeline,
                  where: str) -> PipelineDefinitionError:
  """What KubeflowV2DagRunner raised compiling `pipeline`, as the component
  it was compiling and what to change."""
  components = {c.id: c for c in pipeline.components}
  component = _failing_component(error, components)
  said = f'{type(error).__name__}: {error}'
  type_name = _TYPE_NAME.search(str(error))
  if type_name:
    name = type_name.group(1)
    keys = [] if component is None else [
        f'{side} {key!r}' for side, channels in (
            ('output', component.outputs), ('input', component.inputs))
        for key, channel in channels.items()
        if getattr(getattr(channel, 'type', None), 'TYPE_NAME', None) == name]
    what = f'{", ".join(keys) or "an artifact"} has the artifact type {name}'
    problem = (f'{what}, which Kubeflow V2 / Vertex cannot compile: a type '
               'other than its standard ones (Examples, Model, Schema, '
               "...) needs a name like 'namespace.Name'")
    fix = ('use a standard artifact type, or a subclass of tfx.types.'
           "Artifact with TYPE_NAME = 'mycompany.MyData' (a lowercase "
           'namespace of 3-21 characters, a dot, a capitalized name); or '
           'compile for local, beam or airflow')
  else:
    problem = f'Kubeflow V2 / Vertex cannot compile it ({said})'
    fix = ('change or replace this component so that TFX\'s '
           'KubeflowV2DagRunner compiles it, or compile for local, beam or '
           'airflow')
  if component is None:
    return PipelineDefinitionError(
        where, problem.replace(' it ', ' the pipeline ', 1), fix=fix)
  return PipelineDefinitionError(where, f'{component.id}: {problem}',
                                 fix=fix)


def _failing_component(error: Exception, components: dict[str, Any]):
  """The component whose compile raised `error`: the innermost frame of its
  traceback working on one (TFX's step builder holds it as `_node`)."""
  found = None
  for frame, _ in traceback.walk_tb(error.__traceback__):
    for name in ('self', 'node', 'component', 'tfx_node'):
      value = frame.f_locals.get(name)
      value = getattr(value, '_node', value)
      node_id = getattr(value, 'id', None)
      if isinstance(node_id, str) and components.get(node_id) is value:
        found = value
  return found

