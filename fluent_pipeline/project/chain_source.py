"""The chain of an exported pipeline.py: chain_code's walk, rendered as
Python that evaluates to the same values.

The imports it needs are collected, user code and added components are
written as export's Project refers to them, and each secret is read from an
environment variable (`environment` lists them, for pipeline.py to
document): an export never writes a secret.
"""

import ast
import os
import types
from collections.abc import Mapping
from typing import Any, Callable

from google.protobuf import json_format, message

from fluent_pipeline.dsl import inputs, protos
from fluent_pipeline.dsl.chain_code import (
    Renderer,
    Secret,
    chain_calls,
    env_name,
    marked,
    source_call,
)
from fluent_pipeline.dsl.plan import latest
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.usercode import function_source

PIPELINE_FILE = 'pipeline.py'  # the file of an exported project it goes in


class SourceRenderer(Renderer):
  """pipeline.py: Python that evaluates to the values of the chain.

  `code_refs`: step kind -> how pipeline.py refers to its user code;
  `component`: how it names an added component (export copies its module).
  Collects `imports`, `constants` (big literals, written before the chain)
  and `environment` (variable -> where its secret was given); a value that
  cannot be written as source raises PipelineDefinitionError(`where`)."""
  keyword_defaults = True

  def __init__(self, code_refs: Mapping[str, str],
               component: Callable[[Any], str], where: str):
    self.code_refs = code_refs
    self._component = component
    self.where = where
    self.imports: set[str] = set()
    self.constants: list[str] = []
    self.environment: dict[str, list[str]] = {}
    self._secrets: dict[str, Any] = {}  # variable -> its value

  def value(self, value, what):
    if isinstance(value, Secret):
      return self._secret(value, what)
    if value is None or isinstance(value, (bool, int, float, str)):
      return repr(value)
    if isinstance(value, os.PathLike):
      return repr(os.fspath(value))
    if value is latest:
      self.imports.add('from fluent_pipeline import latest')
      return 'latest'
    if isinstance(value, inputs.Source):
      self.imports.add('from fluent_pipeline import inputs')
      return source_call(value, self, method=False)
    if protos.is_runtime_parameter(value):
      self.imports.add('from tfx import v1 as tfx')
      return (f'tfx.dsl.experimental.RuntimeParameter(name={value.name!r}, '
              f'ptype={value.ptype.__name__}, default={value.default!r})')
    if isinstance(value, message.Message):
      value = marked(json_format.MessageToDict(
          value, preserving_proto_field_name=True), '', '', what)
    if isinstance(value, (dict, list, tuple)):
      text = self._literal(value)
      if text is not None:
        return text
    raise PipelineDefinitionError(
        self.where, f'{what} is a {type(value).__name__}, which cannot be '
        'written as source',
        fix='pass a proto, a dict of its fields or a plain value')

  def _literal(self, value):
    """A dict, list or tuple as a literal, each Secret in it as the read of
    its variable; None if it is no literal."""
    secrets: dict[str, Secret] = {}

    def plain(v):  # the secrets as placeholders the literal can hold
      if isinstance(v, Secret):
        placeholder = f'\0secret{len(secrets)}\0'
        secrets[placeholder] = v
        return placeholder
      if type(v) is dict:
        return {k: plain(x) for k, x in v.items()}
      if type(v) in (list, tuple):
        return type(v)(plain(x) for x in v)
      return v

    literal = plain(value)
    try:
      text = function_source.format_literal(literal, 0, 16)
      if text is None or ast.literal_eval(text) != literal:
        return None
    except (ValueError, SyntaxError):
      return None
    for placeholder, secret in secrets.items():
      text = text.replace(repr(placeholder), self._secret(secret, ''))
    return text

  def _secret(self, secret: Secret, what: str) -> str:
    """The read of the environment variable holding `secret`."""
    value = secret.value
    if isinstance(value, message.Message):
      value = json_format.MessageToDict(value,
                                        preserving_proto_field_name=True)
    if isinstance(value, (dict, types.MappingProxyType)):
      return self.value({k: Secret(v, f'{secret.variable}_{env_name(k)}',
                                   f'{secret.label}[{k!r}]')
                         for k, v in value.items()}, what)
    if type(value) in (list, tuple):
      return self.value(type(value)(
          Secret(v, f'{secret.variable}_{i}', f'{secret.label}[{i}]')
          for i, v in enumerate(value)), what)
    if value is None or isinstance(value, bool):
      return repr(value)  # no secret to keep
    if not isinstance(value, (str, int, float)):
      raise PipelineDefinitionError(
          self.where, f'{secret.label} is a secret {type(value).__name__}, '
          'which cannot be read from an environment variable',
          fix='pass the secret as a string')
    variable = self._variable(secret)
    self.imports.add('import os')
    read = f'os.environ[{variable!r}]'
    return read if isinstance(value, str) else \
        f'{type(value).__name__}({read})'

  def read_secret(self, secret: Secret) -> str:
    """The read of the environment variable holding `secret`, which
    `environment` then lists."""
    return self._secret(secret, secret.label)

  def secret_value(self, variable: str) -> Any:
    """The value the environment variable `variable` holds."""
    return self._secrets[variable]

  def _variable(self, secret: Secret) -> str:
    """The variable of `secret`: its own name, numbered when another secret
    of a different value has it."""
    name, n = secret.variable, 1
    while name in self._secrets and self._secrets[name] != secret.value:
      n += 1
      name = f'{secret.variable}_{n}'
    self._secrets[name] = secret.value
    labels = self.environment.setdefault(name, [])
    if secret.label not in labels:
      labels.append(secret.label)
    return name

  def argument(self, step, name, value):
    text = self.value(value, f'{step.call}({name}=...)')
    if '\n' in text:  # a big literal reads better on its own
      constant = name.upper()
      if any(c.startswith(f'{constant} = ') for c in self.constants):
        constant = f'{step.call.upper()}_{constant}'
      self.constants.append(f'{constant} = {text}')
      text = constant
    return text

  def code(self, kind, value):
    return self.code_refs[kind]

  def component(self, component):
    return self._component(component)

  def example_gen(self, source):
    raise PipelineDefinitionError(
        self.where, f'the examples come from a hand-built '
        f'{source.describe()}, which cannot be written as source',
        fix='use a from_* source, or add the component to the exported '
        'pipeline.py by hand')

  def connection(self, config):
    raise PipelineDefinitionError(
        self.where, 'the ML Metadata connection is neither sqlite nor MySQL',
        fix='add with_metadata_connection(...) to the exported pipeline.py '
        'by hand')

  def beam_args(self, args):
    texts = []
    for arg in args:
      if isinstance(arg, str):
        texts.append(repr(arg))
      else:
        read = self._secret(arg.secret, 'with_beam_pipeline_args')
        texts.append(f'{arg.prefix!r} + {read}' if arg.prefix else read)
    return f'[{", ".join(texts)}]'

  def unrecorded(self, step, shown):
    raise PipelineDefinitionError(
        self.where, f'{step.call}() was recorded without its arguments, '
        'which cannot be written as source',
        fix='make the chain with its chain calls')


class _Collector(SourceRenderer):
  """A SourceRenderer that only collects the secrets: what cannot be
  written as source is skipped, not refused."""

  def __init__(self):
    super().__init__({}, lambda component: '...', 'secrets')

  def value(self, value, what):
    try:
      return super().value(value, what)
    except PipelineDefinitionError:
      return '...'

  def code(self, kind, value):
    return '...'

  def example_gen(self, source):
    return '...'

  def connection(self, config):
    return '...'

  def unrecorded(self, step, shown):
    return shown


def secrets(plan, chain: type) -> dict[str, tuple[Any, list[str]]]:
  """Each secret of `plan` by the environment variable an exported
  pipeline.py reads it from: variable -> (value, where it was given)."""
  collector = _Collector()
  chain_calls(plan, chain, collector)
  return {variable: (collector.secret_value(variable), labels)
          for variable, labels in collector.environment.items()}
