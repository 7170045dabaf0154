"""The chain's channels by name, for the components added with add_component.

A factory names what it consumes as its parameters, so it reads like TFX
wiring and a typo is caught when the pipeline is built:

    .add_component(lambda examples, schema: MyStats(examples=examples,
                                                    schema=schema))

A component class (a TFX `@component` function too) is given the channels
named like its inputs, TFX's names included (`model_blessing`,
`transform_output`...). A factory of one parameter named `made` (or
`components`) gets the built components by id, as before channels had
names.
"""

import inspect
from collections.abc import Mapping
from typing import Any, Callable, Optional

from fluent_pipeline.errors import PipelineDefinitionError

# Channel name -> (step kind, output key) it comes from. `examples` (the
# last dataset step's output, else ExampleGen's), `schema` and
# `hyperparameters` (imported ones win) are resolved by the wiring.
OUTPUTS = {
    'raw_examples': ('example_gen', 'examples'),
    'statistics': ('statistics', 'statistics'),
    'anomalies': ('validate', 'anomalies'),
    'transform_graph': ('transform', 'transform_graph'),
    'transformed_examples': ('transform', 'transformed_examples'),
    'model': ('trainer', 'model'),
    'model_run': ('trainer', 'model_run'),
    'evaluation': ('evaluator', 'evaluation'),
    'blessing': ('evaluator', 'blessing'),
    'infra_blessing': ('infra_validator', 'blessing'),
    'pushed_model': ('pusher', 'pushed_model'),
    'inference_result': ('bulk_inferrer', 'inference_result'),
    'configuration': ('configuration', 'configuration'),
}
NAMES = ('examples', 'schema', 'hyperparameters') + tuple(OUTPUTS)

# The one parameter of a factory that gets the built components by id.
BY_ID = ('made', 'components')

# TFX components' input names for the same channels.
ALIASES = {'model_blessing': 'blessing', 'transform_output': 'transform_graph',
           'best_hyperparameters': 'hyperparameters',
           'pipeline_configuration': 'configuration'}

# The call that makes each channel, for errors.
PROVIDERS = {
    'examples': '.from_csv(path) (or another from_* source)',
    'raw_examples': '.from_csv(path) (or another from_* source)',
    'statistics': '.generate_statistics()',
    'schema': '.infer_schema() or .with_imported_schema(path)',
    'anomalies': '.validate_input_data()',
    'transform_graph': '.preprocess(preprocessing_fn)',
    'transformed_examples': '.preprocess(preprocessing_fn)',
    'hyperparameters': '.tune(tuner_fn) or .with_hyperparameters(path)',
    'model': '.train(run_fn)', 'model_run': '.train(run_fn)',
    'evaluation': '.evaluate_model(eval_config)',
    'blessing': '.evaluate_model(eval_config)',
    'infra_blessing': '.infra_validate()',
    'pushed_model': '.push_to(destination)',
    'inference_result': '.bulk_infer(source)',
    'configuration': '.record_configuration() (on by default)',
}


def is_component(value: Any) -> bool:
  return hasattr(value, 'outputs') and hasattr(value, 'id') and not \
      isinstance(value, type)


def is_component_class(value: Any) -> bool:
  return isinstance(value, type) and hasattr(value, 'SPEC_CLASS')


def label(factory: Any) -> str:
  if is_component(factory):
    return factory.id
  return getattr(factory, '__qualname__', None) or repr(factory)


def make(factory: Any, channels: Mapping[str, Any],
         components_by_id: Callable[[], dict[str, Any]], where: str) -> Any:
  """The component `factory` makes from the chain's `channels`."""
  if is_component(factory):
    return factory
  if is_component_class(factory):
    kwargs = _class_inputs(factory, channels, where)
  elif callable(factory):
    kwargs = _factory_inputs(factory, channels, where)
    if kwargs is None:  # one argument: the built components by id
      return _checked(factory(components_by_id()), factory, where)
  else:
    raise PipelineDefinitionError(
        where, f'expected a TFX component, a component class or a function '
        f'returning one, got {type(factory).__name__}',
        fix='pass e.g. lambda examples, schema: MyComponent(examples='
        'examples, schema=schema)')
  try:
    component = factory(**kwargs)
  except (TypeError, ValueError) as e:  # TFX checks channel types
    raise PipelineDefinitionError(
        where, f'{label(factory)} does not accept the chain\'s channels '
        f'{sorted(kwargs)}: {e}',
        fix='check the artifact types of its inputs') from None
  return _checked(component, factory, where)


def _checked(component: Any, factory: Any, where: str) -> Any:
  if not is_component(component):
    raise PipelineDefinitionError(
        where, f'{label(factory)} returned {type(component).__name__}, not a '
        'TFX component', fix='return the component the function builds')
  return component


def _resolve(name: str, channels: Mapping[str, Any]) -> Optional[Any]:
  return channels.get(ALIASES.get(name, name))


def _missing(name: str, who: str, where: str) -> PipelineDefinitionError:
  canonical = ALIASES.get(name, name)
  if canonical in PROVIDERS:
    return PipelineDefinitionError(
        where, f'{who} needs the channel {name!r}, which the chain does not '
        'make (yet, where it is added)',
        fix=f'add {PROVIDERS[canonical]} to the chain')
  return PipelineDefinitionError(
      where, f'{who} asks for {name!r}, which is not a channel of the chain',
      fix=f'name its parameters after channels: {", ".join(NAMES)}')


def _class_inputs(cls: Any, channels: Mapping[str, Any],
                  where: str) -> dict[str, Any]:
  kwargs = {}
  for name, spec in cls.SPEC_CLASS.INPUTS.items():
    channel = _resolve(name, channels)
    if channel is not None:
      kwargs[name] = channel
    elif not getattr(spec, 'optional', False):
      raise _missing(name, f'{cls.__name__}\'s input {name!r}', where)
  return kwargs


def _factory_inputs(factory: Callable[..., Any], channels: Mapping[str, Any],
                    where: str) -> Optional[dict[str, Any]]:
  """Keyword arguments by parameter name; None for a factory of the
  components by id."""
  try:
    params = list(inspect.signature(factory).parameters.values())
  except (TypeError, ValueError):
    return None
  named = [p for p in params if p.kind not in (p.VAR_POSITIONAL,
                                               p.VAR_KEYWORD)]
  if len(named) == 1 and named[0].name in BY_ID:
    return None
  kwargs = {}
  for param in named:
    channel = _resolve(param.name, channels)
    if channel is not None:
      kwargs[param.name] = channel
    elif param.default is param.empty:
      raise _missing(param.name, f'{label(factory)}', where)
  return kwargs
