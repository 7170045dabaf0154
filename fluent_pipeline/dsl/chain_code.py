"""A PipelineDef as code: its repr, and the call that made each node.

`repr(PipelineDef)` shows the chain a user wrote, with the arguments that
differ from the defaults (secrets masked, long values cut), so a notebook
shows what will run; it never imports TFX.
"""

import inspect
import os
import reprlib
import types
from typing import Any

from google.protobuf import message

from fluent_pipeline import _paths
from fluent_pipeline.dsl import inputs, protos
from fluent_pipeline.dsl.plan import Plan, Step, latest


def chain_calls(plan: Plan, chain: type) -> list[str]:
  """The calls that make `plan`, as code: the constructor, the source, the
  steps in pipeline order, then the settings that differ from the
  defaults. `chain` is the class whose methods made the calls (their
  signatures give the defaults)."""
  calls = [f'PipelineDef({plan.name!r}, root={_short(plan.root)})']
  if plan.source is not None:
    calls.append(_source_call(plan.source, method=True))
  for _, step in plan.ordered():
    if 'factory' in step.opts:
      calls.append(f'add_component({_short(step.opts["factory"])}, '
                   f'replaces={step.opts["replaces"]!r})')
    else:
      calls.append(_step_call(step, chain))
  return calls + _settings_calls(plan, chain)


def _step_call(step: Step, chain: type) -> str:
  """`call(args)` with the recorded arguments that are not the defaults."""
  method = getattr(chain, step.call, None)
  params = list(inspect.signature(method).parameters.values())[1:] \
      if method is not None else []
  if not step.args and any(p.default is p.empty for p in params):
    return f'{step.call}(...)'  # a plan made without the chain methods
  args, positional = [], True
  for param in params:
    if param.name not in step.args or (
        param.default is not param.empty and
        _same(step.args[param.name], param.default)):
      positional = False
      continue
    value = step.args[param.name]
    text = _short(value, param.name)
    if len(text) > 60 and isinstance(value, dict) and isinstance(
        step.tfx.get(param.name), message.Message):
      text = _short(step.tfx[param.name])  # a big dict: the proto's summary
    positional = positional and param.kind is param.POSITIONAL_OR_KEYWORD
    args.append(text if positional else f'{param.name}={text}')
  return f'{step.call}({", ".join(args)})'


def _same(value: Any, default: Any) -> bool:
  try:
    return bool(value == default) and type(value) is type(default)
  except Exception:
    return False


def _source_call(source: inputs.Source, method: bool) -> str:
  """The from_* call that made `source` (`inputs.from_*` when not a
  method); a single file shows as the path given, not its folder and the
  split pattern it became."""
  prefix = '' if method else 'inputs.'
  if source.component is not None:
    return f'{prefix}from_example_gen({_short(source.component)})'
  location, input_config = source.location, source.input_config
  if input_config is not None and source.kind != 'bigquery' and len(
      input_config.splits) == 1 and input_config.splits[0].name == \
      'single_split':
    pattern = input_config.splits[0].pattern
    if not any(c in pattern for c in '*?[{') and os.path.isfile(
        os.path.join(location, pattern)):
      location, input_config = os.path.join(location, pattern), None
  args = [_short(location)] + [
      f'{name}={_short(value)}' for name, value in (
          ('input_config', input_config),
          ('output_config', source.output_config),
          ('range_config', source.range_config)) if value is not None]
  return f'{prefix}from_{source.kind}({", ".join(args)})'


def _settings_calls(plan: Plan, chain: type) -> list[str]:
  """The settings calls made, as the configuration records them."""
  from fluent_pipeline.dsl import configuration
  calls = []
  for component in plan.extra_components:
    calls.append(f'add_component({_short(component)})')
  if plan.beam_pipeline_args:
    masked, _ = configuration._redact_args(plan.beam_pipeline_args)
    calls.append(f'with_beam_pipeline_args({_short(masked)})')
  if plan.metadata_path and plan.metadata_path != _paths.join(
      plan.pipeline_root, 'metadata.sqlite'):  # from_run names the default
    calls.append(f'with_sqlite_ml_metadata({_short(plan.metadata_path)})')
  elif plan.metadata_config is not None:
    calls.append(_metadata_call(plan.metadata_config, chain))
  if plan.parameters:
    calls.append('with_parameters(' + ', '.join(
        f'{k}={_short(v, k)}' for k, v in plan.parameters.items()) + ')')
  if not plan.record_configuration:
    calls.append('record_configuration(False)')
  if plan.enable_cache:
    calls.append('cache()')
  return calls


def _metadata_call(config, chain: type) -> str:
  if config.WhichOneof('config') != 'mysql':
    return f'with_metadata_connection({_short(config)})'
  defaults = inspect.signature(chain.with_mysql_ml_metadata).parameters
  args = []
  for name in ('host', 'port', 'database', 'user', 'password'):
    value = getattr(config.mysql, name)
    if value != defaults[name].default:
      args.append(f'{name}={_short(value, name)}')
  return f'with_mysql_ml_metadata({", ".join(args)})'


class _ShortRepr(reprlib.Repr):
  """Python's reprlib (long strings and containers cut with '...'), plus
  what a chain holds: functions by name, protos as a summary, sources as
  their from_* call, secret-named dict keys masked."""

  def __init__(self, maxlevel: int):
    super().__init__()
    self.maxlevel = maxlevel
    self.maxstring = 100
    self.maxother = 60
    self.maxdict = self.maxlist = self.maxtuple = 6

  def repr1(self, x, level):
    if isinstance(x, type(latest)):
      return 'latest'
    if isinstance(x, os.PathLike):
      return self.repr_str(os.fspath(x), level)
    if isinstance(x, inputs.Source):
      return _source_call(x, method=False)
    if isinstance(x, message.Message):
      return _proto_summary(x)
    if protos.is_runtime_parameter(x):
      return f'<RuntimeParameter {x.name!r}>'
    if inspect.isroutine(x) or inspect.isclass(x):
      name = getattr(x, '__qualname__', None) or getattr(x, '__name__', None)
      # A nested function by the name its scope calls it.
      return name.rpartition('<locals>.')[2] if name else \
          self.repr_instance(x, level)
    if type(x).__name__ == 'Restored' and hasattr(x, 'entry'):
      return f"<code of a past run: {x.entry.get('location', '?')}>"
    if hasattr(x, 'outputs') and isinstance(getattr(x, 'id', None), str):
      return f'<{type(x).__name__} {x.id!r}>'  # a TFX component
    if isinstance(x, (dict, types.MappingProxyType)):
      return self._mapping(x, level)
    return super().repr1(x, level)

  def _mapping(self, x, level):
    from fluent_pipeline.dsl import configuration
    if not x:
      return '{}'
    if level <= 0:
      return '{...}'
    pieces = []
    for key, value in list(x.items())[:self.maxdict]:
      secret = isinstance(key, str) and configuration.is_secret_name(key) \
          and value not in (None, '')
      shown = repr(configuration.REDACTED) if secret else self.repr1(
          value, level - 1)
      pieces.append(f'{self.repr1(key, level - 1)}: {shown}')
    if len(x) > self.maxdict:
      pieces.append('...')
    return '{' + ', '.join(pieces) + '}'


_SHORT_REPRS = [_ShortRepr(level) for level in (4, 2, 1)]


def _short(value: Any, name: str = '') -> str:
  """`value` as code where it fits, else a short description: never more
  than a line. A value of a secret-named argument is masked."""
  if name:
    from fluent_pipeline.dsl import configuration
    if configuration.is_secret_name(name) and isinstance(value, str) \
        and value:
      return repr(configuration.REDACTED)
  for short in _SHORT_REPRS:  # less nesting until it fits
    text = short.repr(value)
    if len(text) <= 100:
      break
  return text


def _proto_summary(proto) -> str:
  """`<EvalConfig: 1 model, 3 metrics, 2 slices>`, or the one-line text
  format of a small proto."""
  from google.protobuf import text_format
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
