"""A PipelineDef as code: the one writer of its repr and of the chain in an
exported pipeline.py.

`chain_calls` walks a plan once: the constructor, the source, the steps in
pipeline order (a replacement factory in the place of the step it
replaces), the added components, then the settings (Beam args, metadata,
parameters, record_configuration, cache). It decides once which arguments
differ from the defaults and which values are secret (the value of a key,
argument, parameter or Beam flag named like a password, secret, token,
credential or key: `configuration.is_secret_name`, the rule the
configuration artifact masks by), and hands every value to a renderer:

- `ShortRenderer`: `repr(PipelineDef)` and the notebook graph. Values cut to
  a line, secrets masked, functions by name, protos as a summary; it never
  imports TFX.
- `project.chain_source.SourceRenderer`: the chain of export's
  pipeline.py, valid Python with each secret read from an environment
  variable (it lives with export, in the layer above).
"""

import dataclasses
import inspect
import os
import re
import reprlib
import types
from collections.abc import Mapping
from typing import Any, Optional

from google.protobuf import message

from fluent_pipeline import _paths
from fluent_pipeline.dsl import configuration, inputs, protos
from fluent_pipeline.dsl.plan import Plan, Step, latest
from fluent_pipeline.usercode import user_code


# ------------------------------------------------------------------ secrets
class Secret:
  """A value the walk found secret. `variable`: the environment variable an
  exported pipeline reads it from; `label`: where it was given. Its repr is
  the mask, so a secret shown by mistake is still masked."""

  def __init__(self, value: Any, variable: str, label: str):
    self.value, self.variable, self.label = value, variable, label

  def __repr__(self) -> str:
    return repr(configuration.REDACTED)


@dataclasses.dataclass(frozen=True)
class SecretFlag:
  """A Beam flag holding a secret: `prefix` ('--name=', or '' for the value
  after a '--name') followed by the secret."""
  prefix: str
  secret: Secret

  def __repr__(self) -> str:
    return repr(self.prefix + configuration.REDACTED)


def env_name(name: Any) -> str:
  """The environment variable named after a flag, argument or key:
  '--api_token' -> 'API_TOKEN'."""
  return re.sub(r'\W', '_', str(name).strip('-')).upper() or 'SECRET'


def marked(value: Any, name: str, variable: str, label: str) -> Any:
  """`value` with what is secret in it as `Secret`s: all of it when `name`
  names a secret, else the values of the secret-named keys of its dicts (at
  any depth). `value` itself when nothing is secret."""
  if configuration.is_secret(name, value):
    return Secret(value, variable, label)
  if isinstance(value, Mapping):
    items = {k: marked(v, k if isinstance(k, str) else '', env_name(k),
                       f'{label}[{k!r}]') for k, v in value.items()}
    if any(items[k] is not v for k, v in value.items()):
      return items
  elif type(value) in (list, tuple):
    found = [marked(v, '', variable, f'{label}[{i}]')
             for i, v in enumerate(value)]
    if any(m is not v for m, v in zip(found, value)):
      return type(value)(found)
  return value


def beam_args(args) -> list:
  """The Beam flags, each secret value as a SecretFlag, by the rule the
  configuration artifact masks by (configuration.secret_args)."""
  found: list = []
  for item in configuration.secret_args(args):
    if isinstance(item, str):
      found.append(item)
    else:
      prefix, value, name = item
      found.append(SecretFlag(prefix, Secret(
          value, env_name(name), f'the Beam flag {name}')))
  return found


# -------------------------------------------------------------- renderers
class Renderer:
  """How the walk writes what it decided to write. `value` gets every value
  given to a call, its secrets marked (`Secret`); the rest, what a kind of
  value needs of its own."""

  # An argument with a default as `name=value` even where it could be
  # positional (else: positional while the leading arguments are all given).
  keyword_defaults = False
  # A source of a single file as that file's path, not as its folder and the
  # split pattern it became.
  files_as_given = False

  def value(self, value: Any, what: str) -> str:
    """`value` given as `what` (an argument name, for messages)."""
    raise NotImplementedError

  def argument(self, step: Step, name: str, value: Any) -> str:
    """Argument `name` of a step's call."""
    return self.value(value, f'{step.call}({name}=...)')

  def code(self, kind: str, value: Any) -> str:
    """The user code of step `kind`."""
    raise NotImplementedError

  def component(self, component: Any) -> str:
    """What add_component adds (or a replacement factory)."""
    raise NotImplementedError

  def example_gen(self, source: inputs.Source) -> str:
    """The hand-built ExampleGen of from_example_gen."""
    raise NotImplementedError

  def connection(self, config: Any) -> str:
    """An ML Metadata connection that is neither sqlite nor MySQL."""
    raise NotImplementedError

  def beam_args(self, args: list) -> str:
    """The flags (strings and SecretFlags) of with_beam_pipeline_args."""
    raise NotImplementedError

  def unrecorded(self, step: Step, shown: str) -> str:
    """A step recorded without the arguments of its call (`shown`)."""
    raise NotImplementedError


class ShortRenderer(Renderer):
  """repr: short values, secrets masked, never a TFX import."""
  files_as_given = True

  def value(self, value, what=''):
    return _short(value)

  def argument(self, step, name, value):
    text = _short(value)
    if len(text) > 60 and isinstance(value, dict) and isinstance(
        step.tfx.get(name), message.Message):
      text = _short(step.tfx[name])  # a big dict: the proto's summary
    return text

  def code(self, kind, value):
    return _short(value)

  def component(self, component):
    return _short(component)

  def example_gen(self, source):
    return _short(source.component)

  def connection(self, config):
    return _short(config)

  def beam_args(self, args):
    return _short([a if isinstance(a, str) else a.prefix +
                   configuration.REDACTED for a in args])

  def unrecorded(self, step, shown):
    return shown


# ------------------------------------------------------------------- walk
def chain_calls(plan: Plan, chain: type,
                renderer: Optional[Renderer] = None) -> list[str]:
  """The calls that make `plan`, as code: the constructor, the source, the
  steps in pipeline order, then the added components and the settings that
  differ from the defaults. `chain` is the class whose methods made the
  calls (their signatures give the defaults); `renderer` writes the values
  (default: short, for repr)."""
  r = _SHORT if renderer is None else renderer
  calls = [f'PipelineDef({plan.name!r}, root={r.value(plan.root, "root")})']
  if plan.source is not None:
    calls.append(source_call(plan.source, r, method=True))
  code_args = {kind: arg for kind, _, arg, _ in plan.code_steps()}
  for kind, step in plan.ordered():
    if 'factory' in step.opts:
      calls.append(f'add_component({r.component(step.opts["factory"])}, '
                   f'replaces={step.opts["replaces"]!r})')
    else:
      calls.append(_step_call(kind, step, chain, code_args.get(kind), r))
  return calls + _settings_calls(plan, chain, r)


def _step_call(kind: str, step: Step, chain: type, code_arg, r: Renderer
               ) -> str:
  """`call(args)` with the recorded arguments that are not the defaults."""
  method = getattr(chain, step.call, None)
  if method is None:
    return r.unrecorded(step, f'{step.call}()')
  params = list(inspect.signature(method).parameters.values())[1:]
  if not step.args and any(p.default is p.empty for p in params):
    return r.unrecorded(step, f'{step.call}(...)')  # made without the chain
  args, positional = [], True
  for param in params:
    if param.name not in step.args or (
        param.default is not param.empty and
        _same(step.args[param.name], param.default)):
      positional = False
      continue
    value = step.args[param.name]
    if param.name == code_arg:
      text = r.code(kind, value)
    else:
      text = r.argument(step, param.name, marked(
          value, param.name, env_name(param.name),
          f'{step.call}({param.name}=...)'))
    positional = positional and param.kind is param.POSITIONAL_OR_KEYWORD \
        and not (r.keyword_defaults and param.default is not param.empty)
    args.append(text if positional else f'{param.name}={text}')
  return f'{step.call}({", ".join(args)})'


def _same(value: Any, default: Any) -> bool:
  try:
    return bool(value == default) and type(value) is type(default)
  except Exception:
    return False


def source_call(source: inputs.Source, r: Renderer, method: bool) -> str:
  """The from_* call that made `source` (`inputs.from_*` when not a
  method)."""
  prefix = '' if method else 'inputs.'
  if source.component is not None:
    return f'{prefix}from_example_gen({r.example_gen(source)})'
  location, input_config = source.location, source.input_config
  if r.files_as_given and input_config is not None and \
      source.kind != 'bigquery' and len(input_config.splits) == 1 and \
      input_config.splits[0].name == 'single_split':
    pattern = input_config.splits[0].pattern
    if not any(c in pattern for c in '*?[{') and os.path.isfile(
        os.path.join(location, pattern)):
      location, input_config = os.path.join(location, pattern), None
  args = [r.value(location, 'location')] + [
      f'{name}={r.value(value, name)}' for name, value in (
          ('input_config', input_config),
          ('output_config', source.output_config),
          ('range_config', source.range_config)) if value is not None]
  if source.reader not in (None, 'columnar'):
    args.append(f'reader={source.reader!r}')
  return f'{prefix}from_{source.kind}({", ".join(args)})'


def _settings_calls(plan: Plan, chain: type, r: Renderer) -> list[str]:
  """The added components, and the settings that differ from the
  defaults."""
  calls = [f'add_component({r.component(component)})'
           for component in plan.extra_components]
  if plan.beam_pipeline_args:
    calls.append('with_beam_pipeline_args('
                 f'{r.beam_args(beam_args(plan.beam_pipeline_args))})')
  if plan.metadata_path and plan.metadata_path != _paths.join(
      plan.pipeline_root, 'metadata.sqlite'):  # from_run names the default
    calls.append(
        f'with_sqlite_ml_metadata({r.value(plan.metadata_path, "path")})')
  elif plan.metadata_config is not None:
    calls.append(_metadata_call(plan.metadata_config, chain, r))
  if plan.parameters:
    calls.append('with_parameters(' + ', '.join(
        f'{k}=' + r.value(marked(v, k, env_name(k), f'with_parameters({k}=...)'),
                          k)
        for k, v in plan.parameters.items()) + ')')
  for step, resources in plan.resources.items():
    calls.append(f'with_resources({step!r}, ' + ', '.join(
        f'{k}={r.value(v, k)}' for k, v in resources.as_dict().items()) + ')')
  if not plan.record_configuration:
    calls.append('record_configuration(False)')
  if plan.enable_cache:
    calls.append('cache()')
  return calls


# The variable an exported pipeline reads the ML Metadata password from.
MYSQL_PASSWORD_VARIABLE = 'MLMD_PASSWORD'


def _metadata_call(config, chain: type, r: Renderer) -> str:
  if config.WhichOneof('config') != 'mysql':
    return f'with_metadata_connection({r.connection(config)})'
  defaults = inspect.signature(chain.with_mysql_ml_metadata).parameters
  args = []
  for name in ('host', 'port', 'database', 'user', 'password'):
    value = getattr(config.mysql, name)
    if value != defaults[name].default:
      variable = MYSQL_PASSWORD_VARIABLE if name == 'password' else \
          env_name(name)
      args.append(f'{name}=' + r.value(marked(
          value, name, variable, f'with_mysql_ml_metadata({name}=...)'),
          name))
  return f'with_mysql_ml_metadata({", ".join(args)})'


# ------------------------------------------------------------ short values
class _ShortRepr(reprlib.Repr):
  """Python's reprlib (long strings and containers cut with '...'), plus
  what a chain holds: functions by name, protos as a summary, sources as
  their from_* call, secrets (marked by the walk) masked."""

  def __init__(self, maxlevel: int):
    super().__init__()
    self.maxlevel = maxlevel
    self.maxstring = 100
    self.maxother = 60
    self.maxdict = self.maxlist = self.maxtuple = 6

  def repr1(self, x, level):
    if isinstance(x, (Secret, SecretFlag)):
      return repr(x)
    if isinstance(x, type(latest)):
      return 'latest'
    if isinstance(x, os.PathLike):
      return self.repr_str(os.fspath(x), level)
    if isinstance(x, inputs.Source):
      return source_call(x, _SHORT, method=False)
    if isinstance(x, message.Message):
      return _proto_summary(x)
    if protos.is_runtime_parameter(x):
      return f'<RuntimeParameter {x.name!r}>'
    if inspect.isroutine(x) or inspect.isclass(x):
      name = getattr(x, '__qualname__', None) or getattr(x, '__name__', None)
      # A nested function by the name its scope calls it.
      return name.rpartition('<locals>.')[2] if name else \
          self.repr_instance(x, level)
    if isinstance(x, user_code.Restored):
      return f"<code of a past run: {x.entry.get('location', '?')}>"
    if hasattr(x, 'outputs') and isinstance(getattr(x, 'id', None), str):
      return f'<{type(x).__name__} {x.id!r}>'  # a TFX component
    if isinstance(x, (dict, types.MappingProxyType)):
      return self._mapping(x, level)
    return super().repr1(x, level)

  def _mapping(self, x, level):
    """A dict in its own order (reprlib sorts the keys)."""
    if not x:
      return '{}'
    if level <= 0:
      return '{...}'
    pieces = [f'{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}'
              for key, value in list(x.items())[:self.maxdict]]
    if len(x) > self.maxdict:
      pieces.append('...')
    return '{' + ', '.join(pieces) + '}'


_SHORT_REPRS = [_ShortRepr(level) for level in (4, 2, 1)]
_SHORT = ShortRenderer()


def _short(value: Any) -> str:
  """`value` as code where it fits, else a short description: never more
  than a line."""
  for short in _SHORT_REPRS:  # less nesting until it fits
    text = short.repr(value)
    if len(text) <= 100:
      break
  return text


def _proto_summary(proto) -> str:
  """`<EvalConfig: 1 model, 3 metrics, 2 slices>`, or the one-line text
  format of a small proto that holds no secret."""
  from google.protobuf import json_format, text_format
  name = proto.DESCRIPTOR.name
  if name == 'EvalConfig':
    counts = ((len(proto.model_specs), 'model'),
              (sum(len(s.metrics) for s in proto.metrics_specs), 'metric'),
              (len(proto.slicing_specs), 'slice'))
    shown = ', '.join(f'{n} {word}{"s" if n != 1 else ""}'
                      for n, word in counts if n)
    return f'<{name}: {shown}>' if shown else f'<{name}>'
  text = text_format.MessageToString(proto, as_one_line=True).strip()
  if not text:
    return f'<{name}>'
  if len(text) <= 60 and 'password' not in text:
    fields = json_format.MessageToDict(proto,
                                       preserving_proto_field_name=True)
    if marked(fields, '', '', '') is fields:
      return f'<{name} {text}>'
  fields = [f'{len(value)} {field.name}'
            if field.label == field.LABEL_REPEATED else field.name
            for field, value in proto.ListFields()]
  return f'<{name}: {", ".join(fields)}>'


def call_detail(call: str, plan: Plan, chain: type) -> str:
  """The chain call that made a node, shortened to fit under its id:
  `train(run_fn)`, `preprocess('taxi_utils.py')`, `from_csv('data')`."""
  if call.startswith('from_') and plan.source is not None:
    first = plan.source.location if plan.source.component is None else None
    args = [first] if first else []
  else:
    step = next((s for s in plan.steps.values() if s.call == call), None)
    method = getattr(chain, call, None)
    if step is None or method is None:
      return f'{call}()'
    params = list(inspect.signature(method).parameters.values())[1:]
    args = [step.args[p.name] for p in params[:1]
            if p.default is p.empty and p.name in step.args]
  if not args:
    return f'{call}()'
  value = args[0]
  if isinstance(value, (str, os.PathLike)) and os.sep in os.fspath(value) \
      and not _paths.is_uri(os.fspath(value)):
    value = os.path.basename(os.fspath(value).rstrip(os.sep))
  text = _short(value) if isinstance(value, str) or callable(value) \
      else '...'
  return f'{call}({text})'
