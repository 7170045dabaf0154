"""Turning what users naturally write into the protos TFX wants.

A TFX argument typed as a proto also accepts a dict of its fields (parsed with
protobuf's json_format, so the field names and nesting are the proto's own),
a step-count proto accepts a plain int, and a TFX RuntimeParameter (a JSON
string of the proto, bound when a Kubeflow V2 / Vertex run is submitted;
its default elsewhere) passes through. Anything else is refused with the
proto's full name, at the chain call, not deep inside a component.
"""

from typing import Any, Optional, TypeVar

from google.protobuf import json_format, message

from fluent_pipeline.errors import PipelineDefinitionError

P = TypeVar('P', bound=message.Message)


def is_runtime_parameter(value: Any) -> bool:
  """A tfx.dsl.experimental.RuntimeParameter (checked without importing
  TFX)."""
  cls = type(value)
  return cls.__name__ == 'RuntimeParameter' and cls.__module__.startswith(
      'tfx.')


def coerce(value: Any, proto_cls: type[P], *, step: str, arg: str,
           int_field: Optional[str] = None) -> Optional[P]:
  """Returns `value` as a `proto_cls`, or None when value is None."""
  if value is None:
    return None
  if is_runtime_parameter(value):
    return value  # TFX binds it when the run is submitted (Kubeflow V2)
  name = proto_cls.DESCRIPTOR.full_name
  if isinstance(value, proto_cls):
    return value
  if int_field and isinstance(value, int) and not isinstance(value, bool):
    if value <= 0:
      raise PipelineDefinitionError(
          step, f'{arg}={value} must be a positive number of steps',
          fix=f'pass {arg}=<steps> with steps > 0')
    return proto_cls(**{int_field: value})
  if isinstance(value, dict):
    try:
      return json_format.ParseDict(value, proto_cls())
    except json_format.ParseError as e:
      raise PipelineDefinitionError(
          step, f'{arg} is a dict that does not fit {name}: {e}',
          fix=f'use the field names of {name}, or pass a {name} proto'
      ) from None
  hint = f'an int ({int_field}), ' if int_field else ''
  raise PipelineDefinitionError(
      step, f'{arg} must be {hint}a {name} or a dict of its fields, '
      f'not {type(value).__name__} {value!r:.80}',
      fix=f'pass {arg}={proto_cls.__name__}(...) or {arg}={{...}}')
