"""A run's configuration as plain JSON: what the PipelineConfiguration
artifact holds, what `show`, `diff` and `PipelineDef.from_run` read.

It records every chain call with its arguments (defaults applied, protos as
dicts of their fields), the source, the settings, the parameters the pipeline
was made with, the user code (content hash and source text) and the package
versions. Secrets never reach it: the ML Metadata password, and any value of
a Beam flag or config key that names a password, secret, token, credential or
key, become '***'. The same values are masked in the run's log.
"""

import functools
import importlib.metadata
import json
import os
import platform
import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from google.protobuf import json_format, message

from fluent_pipeline import _paths
from fluent_pipeline.components import CONFIGURATION_FILE
from fluent_pipeline.dsl import protos
from fluent_pipeline.dsl.plan import Plan, latest

FORMAT = 1
COMPONENT_ID = 'PipelineConfigurationGen'  # its node id
FILE_NAME = CONFIGURATION_FILE  # in the PipelineConfiguration artifact
REDACTED = '***'

# A config key or Beam flag whose value is a secret.
_SECRET_NAME = re.compile(
    r'pass(word|wd|phrase)?|secret|token|credential|api_?key|private_?key|'
    r'access_?key|auth', re.IGNORECASE)

_PACKAGES = (
    ('fluent_pipeline', 'fluent-pipeline'),
    ('tfx', 'tfx'),
    ('tensorflow', 'tensorflow'),
    ('tensorflow_transform', 'tensorflow-transform'),
    ('tensorflow_model_analysis', 'tensorflow-model-analysis'),
    ('tensorflow_data_validation', 'tensorflow-data-validation'),
    ('apache_beam', 'apache-beam'),
    ('ml_metadata', 'ml-metadata'),
)


@functools.lru_cache(maxsize=1)
def versions() -> tuple[tuple[str, str], ...]:
  """The installed versions of the packages a run depends on."""
  found = [('python', platform.python_version())]
  for name, dist in _PACKAGES:
    try:
      found.append((name, importlib.metadata.version(dist)))
    except importlib.metadata.PackageNotFoundError:
      found.append((name, 'not installed'))
  return tuple(found)


def is_secret_name(name: str) -> bool:
  return bool(_SECRET_NAME.search(name.replace('-', '_')))


def is_secret(key: Any, value: Any) -> bool:
  """Whether `value`, given under `key` (an argument, parameter or dict
  key), is a secret to mask: its name says so and it holds something. The
  one rule of the configuration, repr and export."""
  if not (isinstance(key, str) and key and is_secret_name(key)):
    return False
  try:
    return value not in (None, '', {}, [])
  except Exception:  # an array or such, which compares elementwise
    return True


def secret_args(args: Iterable[str]
                ) -> list[Union[str, tuple[str, str, str]]]:
  """Beam flags with each secret value split out, by one rule that the
  configuration's mask and export's environment variables share: a value
  whose name is secret, given as '--name=value' (or 'name=value'), or as
  the item after a '--name'. A plain item stays a str; a secret value
  becomes (prefix, value, name): ('--token=', 'v', '--token') for
  '--token=v', ('', 'v', '--token') for the 'v' after '--token'."""
  out: list[Union[str, tuple[str, str, str]]] = []
  args = [str(a) for a in args]
  i = 0
  while i < len(args):
    arg = args[i]
    name, eq, value = arg.partition('=')
    if is_secret_name(name) and eq:
      out.append((f'{name}=', value, name))
    elif (is_secret_name(name) and name.startswith('-') and
          i + 1 < len(args) and not args[i + 1].startswith('--')):
      out += [arg, ('', args[i + 1], name)]
      i += 1
    else:
      out.append(arg)
    i += 1
  return out


def _redact_args(args: Iterable[str]) -> tuple[list[str], set[str]]:
  """Beam flags with secret values masked (secret_args' rule)."""
  out, secrets = [], set()
  for item in secret_args(args):
    if isinstance(item, str):
      out.append(item)
    else:
      prefix, value, _ = item
      out.append(prefix + REDACTED)
      secrets.add(value)
  return out, secrets


def to_json(value: Any, secrets: set[str], key: str = '') -> Any:
  """`value` as JSON data, secret-named keys masked (their values added to
  `secrets`)."""
  if is_secret(key, value):
    if isinstance(value, str):
      secrets.add(value)
    return REDACTED
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  if protos.is_runtime_parameter(value):
    return {'runtime_parameter': value.name,
            'type': getattr(value.ptype, '__name__', str(value.ptype)),
            'default': value.default}
  if isinstance(value, message.Message):
    return to_json(json_format.MessageToDict(
        value, preserving_proto_field_name=True), secrets)
  if isinstance(value, Mapping):
    return {str(k): to_json(v, secrets, str(k)) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_json(v, secrets) for v in value]
  if isinstance(value, os.PathLike):
    return os.fspath(value)
  from fluent_pipeline.dsl import inputs
  if isinstance(value, inputs.Source):
    return source_json(value, secrets)
  if value is latest:
    return 'latest'
  return {'repr': repr(value)}


def source_json(source, secrets: set[str]) -> dict[str, Any]:
  if source.component is not None:
    return {'kind': 'component', 'id': source.component.id,
            'type': _type_name(source.component)}
  found = {'kind': source.kind, 'location': source.location}
  if source.reader not in (None, 'tfx'):  # no key: TFX's (as runs before)
    found['reader'] = source.reader
  for name in ('input_config', 'output_config', 'range_config'):
    value = getattr(source, name)
    if value is not None:
      found[name] = to_json(value, secrets)
  return found


def _type_name(obj: Any) -> str:
  cls = obj if isinstance(obj, type) else type(obj)
  return f'{cls.__module__}.{cls.__qualname__}'


def _metadata_json(plan: Plan, secrets: set[str]) -> dict[str, Any]:
  if plan.metadata_config is None:
    return {'sqlite': plan.metadata_path or _paths.join(
        plan.pipeline_root, 'metadata.sqlite')}
  config = json_format.MessageToDict(plan.metadata_config,
                                     preserving_proto_field_name=True)
  return to_json(config, secrets)


def secrets_of(plan: Plan) -> set[str]:
  """Every secret value the plan holds (to mask in logs)."""
  secrets: set[str] = set()
  build(plan, {}, runner=None, secrets=secrets)
  return {s for s in secrets if s and s != REDACTED}


def build(plan: Plan, user_code: Mapping[str, Any], *,
          runner: Optional[str], secrets: Optional[set[str]] = None
          ) -> dict[str, Any]:
  """The configuration of `plan`; `user_code` maps a step kind to the
  UserCode its function resolved to."""
  secrets = set() if secrets is None else secrets
  steps, code_table, records = {}, {}, {}
  code_args = {kind: arg for kind, _, arg, _ in plan.code_steps()}
  replaced = []
  for kind, step in plan.ordered():
    if 'factory' in step.opts:
      replaced.append(dict(_extra_json(step.opts['factory']),
                           replaces=step.opts['replaces']))
      continue
    args = {}
    for name, value in step.args.items():
      if name == 'batch' and value is False and kind.startswith('reshape_'):
        continue  # per-record: no key, as recorded before batch existed
      if name == code_args.get(kind) and kind in user_code:
        code = user_code[kind]  # one module often serves several steps
        entry = records.get(code) or records.setdefault(code, code.record())
        code_table.setdefault(entry['sha256'], entry)
        args[name] = {'user_code': entry['sha256']}
      else:
        args[name] = to_json(value, secrets, name)
    steps[step_key(steps, step.call)] = args
  beam_args, beam_secrets = _redact_args(plan.beam_pipeline_args)
  secrets |= beam_secrets
  settings = {
      'cache': plan.enable_cache,
      'beam_pipeline_args': beam_args,
      'metadata': _metadata_json(plan, secrets),
      'runner': runner,
      'extra_components': replaced + [_extra_json(c) for c in
                                      plan.extra_components],
  }
  if plan.resources:  # no key without: a configuration recorded before
    settings['resources'] = {step: resources.as_dict() for step, resources
                             in sorted(plan.resources.items())}
  return {
      'format': FORMAT,
      'pipeline': {'name': plan.name, 'root': plan.root,
                   'pipeline_root': plan.pipeline_root},
      'parameters': to_json(dict(plan.parameters), secrets),
      'source': (source_json(plan.source, secrets)
                 if plan.source is not None else None),
      'steps': steps,
      'settings': settings,
      'user_code': code_table,
      'versions': dict(versions()),
  }


def step_key(steps: Mapping[str, Any], call: str) -> str:
  """The key of a step in the configuration: its call, and for a dataset
  step written again, `call#2`, `call#3`... in the order written."""
  if call not in steps:
    return call
  n = 2
  while f'{call}#{n}' in steps:
    n += 1
  return f'{call}#{n}'


def call_of(key: str) -> str:
  return key.split('#', 1)[0]


def _extra_json(component: Any) -> dict[str, str]:
  from fluent_pipeline.dsl import channels
  if channels.is_component(component):
    return {'id': component.id, 'type': _type_name(component)}
  return {'factory': getattr(component, '__qualname__', repr(component))}


def dumps(configuration: dict[str, Any]) -> str:
  """Canonical JSON text: the same configuration gives the same bytes, so
  TFX's cache recognizes it."""
  return json.dumps(configuration, ensure_ascii=False,
                    separators=(',', ':'))  # compact: C encoder, 10x faster


MISSING = '<no such step>'  # resume_differences: a step one side lacks


def resume_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]
                       ) -> list[tuple[str, Any, Any]]:
  """What a chain about to resume a run (`current`, its configuration)
  changes from that run (`recorded`, the configuration it recorded):
  (what, recorded value, current value) for each parameter both name, the
  source, and each argument of each step. User code is left out (fixing
  the code that failed, then resuming, is what resume is for), and so is a
  value only its repr records, which no two processes write alike."""
  found: list[tuple[str, Any, Any]] = []
  before = recorded.get('parameters') or {}
  after = current.get('parameters') or {}
  for name in before:
    if name in after and before[name] != after[name]:
      found.append((f'parameter {name}', before[name], after[name]))
  if recorded.get('source') != current.get('source'):
    found.append(('source', recorded.get('source'), current.get('source')))
  before_steps = recorded.get('steps') or {}
  after_steps = current.get('steps') or {}
  for key in list(before_steps) + [k for k in after_steps
                                   if k not in before_steps]:
    if key not in after_steps or key not in before_steps:
      found.append((key, before_steps.get(key, MISSING),
                    after_steps.get(key, MISSING)))
      continue
    args_before, args_after = before_steps[key], after_steps[key]
    for name in list(args_before) + [n for n in args_after
                                     if n not in args_before]:
      a, b = args_before.get(name), args_after.get(name)
      if _uncomparable(a) or _uncomparable(b) or a == b:
        continue
      found.append((f'{key}.{name}', a, b))
  return found


def _uncomparable(value: Any) -> bool:
  return isinstance(value, dict) and ('user_code' in value or
                                      set(value) == {'repr'})


# What a run on LocalDagRunner / BeamDagRunner adds to its configuration once
# its IR is compiled (orchestration.partial.record): the node ids each chain
# call made, and for a partial run what it ran and whose outputs it reused.
NODES = 'nodes'
PARTIAL_RUN = 'partial_run'
ARTIFACT_TYPE = 'fluent_pipeline.PipelineConfiguration'  # components' TYPE_NAME
SOURCE_KEY = 'source'  # step_of: the source's nodes (its from_* call)


def with_record(text: str, nodes: Mapping[str, Iterable[str]],
                partial_run: Optional[Mapping[str, Any]] = None) -> str:
  """The configuration JSON `text` with the nodes of each chain call and,
  for a partial run, its record; canonical (dumps), so a full run of the
  same chain gives the same bytes every time and stays cached."""
  config = json.loads(text)
  config[NODES] = {call: list(ids) for call, ids in nodes.items()}
  if partial_run is not None:
    config[PARTIAL_RUN] = dict(partial_run)
  return dumps(config)


def step_of(config: Mapping[str, Any]) -> dict[str, str]:
  """Node id -> the key of the step that made it ('preprocess', 'source',
  'filter_examples#2'), from the nodes the run recorded; empty for a run
  that recorded none (older code, or a runner that only compiles)."""
  found: dict[str, str] = {}
  steps = config.get('steps') or {}
  for call, ids in (config.get(NODES) or {}).items():
    if call.startswith('from_'):
      found.update({node: SOURCE_KEY for node in ids})
      continue
    keys = [k for k in steps if call_of(k) == call]
    if len(keys) > 1 and len(keys) == len(ids):  # a dataset step written again
      found.update(zip(ids, keys))
    elif keys:
      found.update({node: keys[0] for node in ids})
  return found


def step_arguments(config: Mapping[str, Any], key: str) -> Any:
  """The recorded arguments of step `key` (the source for SOURCE_KEY)."""
  if key == SOURCE_KEY:
    return config.get('source')
  return (config.get('steps') or {}).get(key)


def code_refs(value: Any) -> set[str]:
  """The user-code hashes that a step's arguments refer to."""
  if isinstance(value, dict):
    if set(value) == {'user_code'}:
      return {value['user_code']}
    return set().union(*(code_refs(v) for v in value.values()))
  if isinstance(value, list):
    return set().union(*(code_refs(v) for v in value))
  return set()
