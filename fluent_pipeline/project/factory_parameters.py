"""The `create_pipeline(...)` an exported pipeline.py keeps when a pipeline
file's `create_pipeline(...)` made the chain (`Factory`): its parameters,
with the values used as defaults, each written where it goes in the chain,
so that `--set` still works on the exported project.

Where a parameter goes is found by making the chain again with another
value of it: the tokens of the chain calls that change are that parameter.
"""

import ast
import dataclasses
import io
import re
import tokenize
from collections.abc import Mapping
from typing import Any, Callable, Optional

from fluent_pipeline import _paths
from fluent_pipeline.dsl import chain_code, configuration
from fluent_pipeline.dsl.plan import FACTORY_NAME
from fluent_pipeline.project.chain_source import PIPELINE_FILE
from fluent_pipeline.usercode import function_source


@dataclasses.dataclass(frozen=True)
class Factory:
  """The `create_pipeline(...)` of a pipeline file that made the chain, for
  pipeline.py to keep: its parameters in order (name -> type: 'int',
  'float', 'bool', 'str', 'path' or None) and `remake`, which makes the
  chain's plan with other values (name -> typed value)."""
  parameters: Mapping[str, Optional[str]]
  remake: Callable[[dict[str, Any]], Any]


_SUBSTITUTED = object()  # a parameter written where it goes in the chain


@dataclasses.dataclass
class Parameter:
  """A parameter of the exported create_pipeline(...)."""
  name: str
  annotation: str
  default: str  # as source
  value: Any  # the value used
  # _SUBSTITUTED, or the reason it is written into the chain as its value
  written: Any = _SUBSTITUTED
  read: Optional[str] = None  # a secret: the read of its variable
  omitted: bool = False  # not in the signature: its name is taken

  @property
  def checked(self) -> bool:
    """Whether create_pipeline(...) refuses another value of it (written
    into the chain as its value, or a secret read from the environment)."""
    return self.written is not _SUBSTITUTED


_ANNOTATIONS = {'int': 'int', 'float': 'float', 'bool': 'bool', 'str': 'str',
                'path': 'str'}
_PROBE_INT, _PROBE_FLOAT = 7919, 0.7919
_PROBE_URI = 'gs://fluent-export-probe/p7919'


def place(factory: Factory, values: dict[str, Any], renderer,
          calls: list[str], *, render: Callable[[Any], tuple[Any, list[str]]],
          imports: set[str], notes: list[str]
          ) -> tuple[list[Parameter], list[str], set[int]]:
  """The parameters of create_pipeline(...) in pipeline.py, the chain calls
  with each written where it goes, and the constants of `renderer` (its
  indexes) that use one, so go inside create_pipeline(...).

  `values`: the value of each parameter the chain was made with;
  `renderer`, `calls`: the chain_source renderer and the chain calls of
  that chain (the renderer's constants are edited in place); `render`:
  the same of another plan; `imports`: those pipeline.py has besides the
  renderer's; `notes`: what the user should know, appended to.

  Where a parameter goes is found by making the chain again with another
  value of it (`factory.remake`): the tokens of the calls that change from
  the value used to the other one are that parameter. A parameter that
  changes anything else (a computed value, a condition) or nothing is kept
  in the signature, written into the chain as its value, and refused with
  another value; a secret is read from its environment variable."""
  parts = list(calls) + list(renderer.constants)
  taken = _names_taken(parts, imports | renderer.imports)
  found: list[Parameter] = []
  edits: list[tuple[int, int, int, str]] = []
  for name, kind in factory.parameters.items():
    value = values.get(name)
    annotation = _ANNOTATIONS.get(kind or '', 'str')
    parameter = Parameter(name, annotation, _literal(value), value)
    found.append(parameter)
    if configuration.is_secret(name, value):
      parameter.written = 'a secret, read from the environment'
      parameter.read = renderer.read_secret(chain_code.Secret(
          value, chain_code.env_name(name), f'{FACTORY_NAME}({name}=...)'))
      # The default is the variable's value, so that the parameter is
      # recorded as the original's was (masked).
      parameter.default = re.sub(r'os\.environ\[(.*?)\]',
                                 r'os.environ.get(\1)', parameter.read)
      continue
    if parameter.default is None:
      parameter.default = 'None'
      parameter.written = 'not a plain value'
      continue
    if name in taken:  # recorded by with_parameters(...) instead
      parameter.written = f'its name is taken in {PIPELINE_FILE}'
      parameter.omitted = True
      continue
    positions, why = _positions_of(name, kind, value, values, parts,
                                   render, factory)
    if positions is None:
      parameter.written = why
      continue
    edits += [(part, start, end, name) for part, start, end, _ in positions]
  edited = _edit(parts, edits)
  function_constants = {i - len(calls) for i, _, _, _ in edits
                        if i >= len(calls)}
  renderer.constants[:] = edited[len(calls):]
  calls = edited[:len(calls)]
  omitted = [p for p in found if p.omitted]
  if omitted:
    calls.append('with_parameters(' + ', '.join(
        f'{p.name}={p.default}' for p in omitted) + ')')
  for parameter in found:
    if parameter.omitted:
      notes.append(
          f'parameter {parameter.name} of {FACTORY_NAME}() is not a '
          f'parameter of the exported one: its name is taken in '
          f'{PIPELINE_FILE}; it is recorded as {parameter.default}')
    elif parameter.checked and parameter.read is None:
      notes.append(
          f'parameter {parameter.name} of {FACTORY_NAME}() is fixed at '
          f'{parameter.default} in {PIPELINE_FILE} ({parameter.written}, so '
          'its chain is written as that value made it): another value is '
          'refused; edit the chain to use it')
  return [p for p in found if not p.omitted], calls, function_constants


def _literal(value: Any) -> Optional[str]:
  text = function_source.format_literal(value)
  return text if text is not None and '\n' not in text else None


def _names_taken(parts: list[str], imports: set[str]) -> set[str]:
  """Names pipeline.py binds or reads: a parameter must not shadow one."""
  taken = {'os', 'HERE', 'PipelineDef', 'PipelineDefinitionError', 'inputs',
           'latest', 'tfx', FACTORY_NAME, 'pipeline'}
  for statement in imports:
    tree = ast.parse(statement).body[0]
    taken |= {(a.asname or a.name).split('.')[0] for a in tree.names}
  for part in parts:
    try:
      tree = ast.parse(part)
    except SyntaxError:
      continue
    taken |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
  return taken


def _positions_of(name: str, kind: Optional[str], value: Any,
                  values: dict[str, Any], parts: list[str],
                  render: Callable[[Any], tuple[Any, list[str]]],
                  factory: Factory):
  """Where parameter `name` goes in `parts`: (part, start, end, 'raw' or
  'absolute') of each token, or (None, why not)."""
  pairs_of = []
  for probe in _probes(kind, value):
    pairs = {'raw': (repr(value), repr(probe))}
    if isinstance(value, str):
      absolute = (repr(_paths.absolute(value)), repr(_paths.absolute(probe)))
      if absolute != pairs['raw']:
        pairs['absolute'] = absolute
    pairs_of.append((probe, pairs))
  if not pairs_of:
    return None, 'its value has no other value to try'
  why = 'another value of it could not make the chain'
  for probe, pairs in pairs_of:
    try:
      other = factory.remake({**values, name: probe})
      other = other.replace(parameters={
          k: v for k, v in other.parameters.items()
          if k not in factory.parameters})
      other_renderer, other_calls = render(other)
      other_parts = list(other_calls) + list(other_renderer.constants)
    except Exception:  # the factory's own check of the value, often
      continue
    positions = _diff(parts, other_parts, pairs)
    if positions is None:
      why = 'it changes more of the chain than its own value'
    elif not positions:
      why = 'another value of it did not change the chain'
    elif len({k for _, _, _, k in positions}) > 1:
      why = 'it goes in both as given and made absolute'
    else:
      return positions, ''
  return None, why


def _probes(kind: Optional[str], value: Any) -> list[Any]:
  """Other values of a parameter to make the chain with."""
  if isinstance(value, bool):
    return [not value]
  if isinstance(value, int) and kind in ('int', None) and value >= 0:
    return [value + _PROBE_INT]
  if isinstance(value, float) and value >= 0:
    return [value + _PROBE_FLOAT]
  if isinstance(value, str) and value:
    return [_PROBE_URI, f'{value}_p{_PROBE_INT}']
  return []


def _tokens(text: str) -> Optional[list[tuple[str, int, int]]]:
  """(token, start, end) of the Python tokens of `text`; None if it does
  not tokenize."""
  starts = [0]
  for line in text.splitlines(keepends=True):
    starts.append(starts[-1] + len(line))
  skip = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
          tokenize.DEDENT, tokenize.COMMENT)
  try:
    return [(t.string, starts[t.start[0] - 1] + t.start[1],
             starts[t.end[0] - 1] + t.end[1])
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in skip]
  except (tokenize.TokenError, IndentationError, SyntaxError):
    return None


def _diff(parts: list[str], others: list[str],
          pairs: dict[str, tuple[str, str]]):
  """The tokens of `parts` that `others` has as the probe: (part, start,
  end, kind); None when anything else differs."""
  if len(parts) != len(others):
    return None
  found = []
  for i, (part, other) in enumerate(zip(parts, others)):
    if part == other:
      continue
    ours, theirs = _tokens(part), _tokens(other)
    if ours is None or theirs is None or len(ours) != len(theirs):
      return None
    for (a, start, end), (b, _, _) in zip(ours, theirs):
      if a == b:
        continue
      kind = next((k for k, pair in pairs.items() if pair == (a, b)), None)
      if kind is None:
        return None
      found.append((i, start, end, kind))
  return found


def _edit(parts: list[str], edits: list[tuple[int, int, int, str]]
          ) -> list[str]:
  """`parts` with each (part, start, end) span replaced by its name."""
  parts = list(parts)
  for i, start, end, name in sorted(edits, reverse=True):
    parts[i] = parts[i][:start] + name + parts[i][end:]
  return parts


def factory_lines(parameters: list[Parameter], constants: list[str],
                   calls: list[str]) -> list[str]:
  """`def create_pipeline(...)`: its parameters, the checks of those written
  into the chain as values, its constants that use a parameter, and the
  chain."""
  signature = [f'{p.name}: {p.annotation} = {p.default}' for p in parameters]
  one_line = f'def {FACTORY_NAME}({", ".join(signature)}):'
  if len(one_line) <= 79:
    lines = [one_line]
  else:
    lines = [f'def {FACTORY_NAME}('] + [f'        {s},' for s in signature] \
        + ['):']
  fixed = [p for p in parameters if p.checked and p.read is None]
  if fixed:
    lines += ['    # The chain below was made with these values: another '
              'one would', '    # change nothing, so it is refused.']
  for p in fixed + [p for p in parameters if p.read is not None]:
    if p.read is None:
      problem = (f'{p.name} is fixed at {p.default}, the value the chain '
                 'below was made with')
      fix = (f'edit the chain of {PIPELINE_FILE} to use {p.name}, or leave '
             f'it at {p.default}')
    else:
      problem = f'{p.name} is a secret, read from the environment'
      fix = 'set it there (see the docstring), not with --set'
    lines += [f'    if {p.name} != {p.default}:',
              '        raise PipelineDefinitionError(',
              f'            {FACTORY_NAME + "()"!r}, {problem!r},',
              f'            fix={fix!r})']
  for constant in constants:
    lines += ['    ' + line if line else line for line in
              constant.splitlines()]
  chain = '\n        .'.join(calls)
  lines += ['    return (', f'        {chain}', '    )']
  return lines
