"""PipelineDef.from_run: the chain rebuilt from a run's configuration.

Every recorded chain call is made again with its recorded arguments (protos
come back as dicts of their fields, which every call accepts) and the
recorded user code (`user_code.Restored`), so the rebuilt pipeline has the
same configuration and, with unchanged data, TFX's cache serves it.

What the configuration does not hold cannot come back, and says so: hand-built
components (`add_component`, `from_example_gen`) and a secret in a step's
arguments (recorded as '***') are errors naming them; Beam flags recorded as
'***' are left out (add them with `with_beam_pipeline_args`). A secret
parameter comes back as recorded, masked: parameters are a record of the
run, which the chain does not read.
"""

from typing import Any, Callable, TypeVar

from fluent_pipeline.dsl import configuration, inputs, tfx_v1
from fluent_pipeline.dsl.chain import Chain
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.usercode import user_code

_C = TypeVar('_C', bound=Chain)


def source_from_json(recorded: dict[str, Any], run_id: str) -> inputs.Source:
  kind = recorded['kind']
  if kind == 'component':
    raise PipelineDefinitionError(
        'from_run', f'run {run_id} read its examples with a hand-built '
        f'{recorded.get("type")}, which a configuration cannot rebuild',
        fix='rebuild the chain from its source file instead')
  make = getattr(inputs, f'from_{kind}')
  configs = {k: recorded[k] for k in ('input_config', 'output_config',
                                      'range_config') if k in recorded}
  if kind in ('csv', 'parquet'):  # no reader recorded: TFX's (runs before)
    configs['reader'] = recorded.get('reader', 'tfx')
  source = make(recorded['location'], **configs)
  try:
    source.check('from_run')
  except PipelineDefinitionError as e:
    raise PipelineDefinitionError(
        'from_run', f'run {run_id} read {kind} data from '
        f'{recorded["location"]!r}: {e.problem}',
        fix='restore the data there, or rebuild the chain with its new '
        'location') from None
  return source


def rebuild(config: dict[str, Any], run_id: str, metadata_config=None,
            make: Callable[..., _C] = Chain) -> _C:
  """The chain whose build() gives the configuration `config`, made with
  `make(name, root=)` (PipelineDef.from_run passes PipelineDef)."""
  settings = config['settings']
  if settings.get('extra_components'):
    names = ', '.join(c.get('id') or c.get('factory', '?')
                      for c in settings['extra_components'])
    raise PipelineDefinitionError(
        'from_run', f'run {run_id} had hand-built components ({names}), '
        'which a configuration cannot rebuild',
        fix='rebuild the chain from its source file instead')
  pipeline = config['pipeline']
  pdef = make(pipeline['name'], root=pipeline['root'])
  if config.get('source'):
    pdef = pdef.from_source(source_from_json(config['source'], run_id))
  for key, args in config['steps'].items():
    _refuse_masked(key, args, run_id)
    args = {name: _argument(name, value, config, run_id)
            for name, value in args.items()}
    pdef = getattr(pdef, configuration.call_of(key))(**args)
  pdef = pdef.cache(settings.get('cache', False))
  beam_args = _unmasked(settings.get('beam_pipeline_args', []))
  if beam_args:
    pdef = pdef.with_beam_pipeline_args(beam_args)
  metadata = settings.get('metadata', {})
  if metadata_config is not None:
    pdef = pdef.with_metadata_connection(metadata_config)
  elif 'sqlite' in metadata:
    pdef = pdef.with_sqlite_ml_metadata(metadata['sqlite'])
  for step, values in (settings.get('resources') or {}).items():
    pdef = pdef.with_resources(step, **values)
  if config.get('parameters'):
    pdef = pdef.with_parameters(**config['parameters'])
  return pdef


def _argument(name: str, value: Any, config: dict[str, Any],
              run_id: str) -> Any:
  if isinstance(value, dict) and 'user_code' in value:
    return user_code.Restored(config['user_code'][value['user_code']])
  if name == 'source' and isinstance(value, dict) and 'kind' in value:
    return source_from_json(value, run_id)
  if isinstance(value, dict) and 'runtime_parameter' in value:
    tfx = tfx_v1.load()
    return tfx.dsl.experimental.RuntimeParameter(
        name=value['runtime_parameter'], default=value['default'],
        ptype={'int': int, 'float': float, 'str': str}[value['type']])
  if isinstance(value, dict) and set(value) == {'repr'}:
    raise PipelineDefinitionError(
        'from_run', f'run {run_id} passed {name}={value["repr"]}, which a '
        'configuration cannot rebuild',
        fix='rebuild the chain from its source file instead')
  return value


def _masked(value: Any, path: str) -> list[str]:
  """Where in `value` a secret was recorded masked."""
  if value == configuration.REDACTED:
    return [path]
  if isinstance(value, dict):
    return [p for k, v in value.items() for p in _masked(v, f'{path}[{k!r}]')]
  if isinstance(value, list):
    return [p for i, v in enumerate(value) for p in _masked(v, f'{path}[{i}]')]
  return []


def _refuse_masked(key: str, args: dict[str, Any], run_id: str) -> None:
  """A step whose arguments held a secret cannot be rebuilt: passing the
  mask '***' on would run the step with it, silently."""
  call = configuration.call_of(key)
  masked = [p for name, value in args.items() for p in _masked(value, name)]
  if masked:
    raise PipelineDefinitionError(
        'from_run', f'run {run_id} passed {call}() a secret '
        f'({", ".join(masked)}), which its configuration records masked '
        f"('{configuration.REDACTED}') and from_run cannot pass on",
        fix='rebuild the chain from its source file, which holds the secret')


def _unmasked(args: list[str]) -> list[str]:
  """The recorded Beam flags without the secret ones: `--name=***`, and
  `--name ***` as a pair (a flag left without its value would take the
  next flag as its value)."""
  kept: list[str] = []
  for arg in args:
    if arg == configuration.REDACTED:
      if kept and kept[-1].startswith('-'):
        kept.pop()  # the flag whose value this was
    elif not arg.endswith('=' + configuration.REDACTED):
      kept.append(arg)
  return kept
