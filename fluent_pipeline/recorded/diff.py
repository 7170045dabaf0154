"""What differs between two runs, from their configuration artifacts and
metrics: the answer to "why is this run's model worse than last week's?"."""

import dataclasses
import difflib
import json
from typing import Any, Optional, Protocol

from fluent_pipeline.artifacts import user_code

Change = tuple[Any, Any]  # (value in run a, value in run b)


class Run(Protocol):
  """What compare() reads of a run (a RunResult is one)."""
  run_id: str
  configuration: Optional[dict[str, Any]]
  metrics: dict[str, float]


@dataclasses.dataclass
class CodeChange:
  """A user function whose code changed: where, both hashes, the diff."""
  where: str  # 'train.run_fn'
  sha_a: str
  sha_b: str
  diff: str  # unified diff of the changed source files


@dataclasses.dataclass
class RunDiff:
  """Differences between run `a` and run `b`; empty sections mean equal."""
  run_a: str
  run_b: str
  parameters: dict[str, Change] = dataclasses.field(default_factory=dict)
  # chain calls one run made and the other did not (their arguments and
  # code are not listed again below)
  added_steps: list[str] = dataclasses.field(default_factory=list)
  removed_steps: list[str] = dataclasses.field(default_factory=list)
  arguments: dict[str, Change] = dataclasses.field(default_factory=dict)
  user_code: list[CodeChange] = dataclasses.field(default_factory=list)
  versions: dict[str, Change] = dataclasses.field(default_factory=dict)
  metrics: dict[str, Change] = dataclasses.field(default_factory=dict)
  notes: list[str] = dataclasses.field(default_factory=list)

  def __bool__(self) -> bool:
    return bool(self.parameters or self.added_steps or self.removed_steps
                or self.arguments or self.user_code or self.versions or
                self.metrics)

  def __str__(self) -> str:
    lines = [f'{self.run_a} -> {self.run_b}']
    lines += [f'  note: {n}' for n in self.notes]
    if self.parameters:
      lines.append('  parameters:')
      lines += [f'    {k}: {_show(a)} -> {_show(b)}'
                for k, (a, b) in self.parameters.items()]
    if self.added_steps or self.removed_steps:
      lines.append('  steps:')
      lines += [f'    added: {step}' for step in self.added_steps]
      lines += [f'    removed: {step}' for step in self.removed_steps]
    for title, changes in (('arguments', self.arguments),
                           ('versions', self.versions)):
      if changes:
        lines.append(f'  {title}:')
        lines += [f'    {k}: {_show(a)} -> {_show(b)}'
                  for k, (a, b) in changes.items()]
    if self.user_code:
      lines.append('  user code:')
      for change in self.user_code:
        lines.append(f'    {change.where}: {change.sha_a[:12]} -> '
                     f'{change.sha_b[:12]}')
        lines += ['      ' + line for line in change.diff.splitlines()]
    if self.metrics:
      lines.append('  metrics:')
      for name, (a, b) in self.metrics.items():
        delta = (f' ({b - a:+.4g})' if isinstance(a, float) and
                 isinstance(b, float) else '')
        lines.append(f'    {name}: {_show(a)} -> {_show(b)}{delta}')
    if not self:
      lines.append('  no difference in parameters, arguments, user code, '
                   'versions or metrics')
    return '\n'.join(lines)


def _show(value: Any) -> str:
  if value is _MISSING:
    return '(none)'
  if isinstance(value, float):
    return f'{value:.4g}'
  if isinstance(value, str):
    return repr(value)
  return json.dumps(value, sort_keys=True)


class _Missing:
  def __repr__(self) -> str:
    return '(none)'


_MISSING = _Missing()


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
  if isinstance(value, dict) and value and 'user_code' not in value:
    for key, item in value.items():
      _flatten(item, f'{prefix}.{key}' if prefix else key, out)
  else:
    out[prefix] = value
  return out


def _changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Change]:
  found = {}
  for key in list(a) + [k for k in b if k not in a]:
    va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
    if va != vb:
      found[key] = (va, vb)
  return found


def _arguments(config: dict[str, Any]) -> dict[str, Any]:
  """Source, step arguments and settings as flat 'a.b.c' keys; user code
  references are left to the user-code section."""
  flat: dict[str, Any] = {}
  _flatten(config.get('source') or {}, 'source', flat)
  _flatten(config.get('steps') or {}, '', flat)
  _flatten(config.get('settings') or {}, 'settings', flat)
  return {k: v for k, v in flat.items()
          if not (isinstance(v, dict) and 'user_code' in v)}


def _code_changes(a: dict[str, Any], b: dict[str, Any]) -> list[CodeChange]:
  found = []
  refs_a, refs_b = (
      {k: v['user_code'] for k, v in _flatten(c.get('steps') or {}, '',
                                              {}).items()
       if isinstance(v, dict) and 'user_code' in v} for c in (a, b))
  for where in list(refs_a) + [k for k in refs_b if k not in refs_a]:
    sha_a, sha_b = refs_a.get(where, ''), refs_b.get(where, '')
    if sha_a == sha_b:
      continue
    code_a = (a.get('user_code') or {}).get(sha_a, {})
    code_b = (b.get('user_code') or {}).get(sha_b, {})
    found.append(CodeChange(where, sha_a, sha_b, _source_diff(code_a, code_b)))
  return found


def _source_diff(code_a: dict[str, Any], code_b: dict[str, Any]) -> str:
  """A unified diff of a function's source when a side was given as a
  function (a predicate, a key, a run_fn) and the sources differ: the
  source recorded, else its definition in the recorded files; else of
  every packaged file that changed (a module file, or a helper the
  function uses)."""
  given = (code_a.get('given_as'), code_b.get('given_as'))
  (name_a, text_a), (name_b, text_b) = (user_code.function_source(c)
                                        for c in (code_a, code_b))
  if 'function' in given and (text_a != text_b or text_a is None):
    # (the same source: a helper it uses changed, which the files show)
    if text_a is None and text_b is None:
      return ('(no source recorded in either run: '
              f'{_why_no_source(code_a)}; the function changed)')
    pairs = [(name_a, name_b, text_a or '', text_b or '')]
    notes = [f'(run {side}: no source recorded: {_why_no_source(code)})'
             for side, code, text in (('a', code_a, text_a),
                                      ('b', code_b, text_b)) if text is None]
  else:
    files_a, files_b = code_a.get('files', {}), code_b.get('files', {})
    names = sorted(set(files_a) | set(files_b))
    pairs = [(n, n, files_a.get(n, ''), files_b.get(n, '')) for n in names
             if files_a.get(n) != files_b.get(n)]
    notes = []
  out: list[str] = list(notes)
  for name_a, name_b, text_a, text_b in pairs:
    out += difflib.unified_diff(
        text_a.splitlines(), text_b.splitlines(), fromfile=f'a/{name_a}',
        tofile=f'b/{name_b}', lineterm='')
  return '\n'.join(out)


def _why_no_source(code: dict[str, Any]) -> str:
  if not code:
    return 'no code recorded'
  return f'{code.get("location") or "the function"}: {user_code.code_source(code)["why"]}'


def _provenance_notes(run: Any) -> list[str]:
  """What a run did not make itself: whether it was partial, and each step
  whose outputs it reused (its code and arguments are then the run's that
  made them, which compare() uses)."""
  notes = []
  describe = getattr(run, 'partial_description', None)
  if getattr(run, 'partial_run', None) is not None and describe:
    notes.append(f'run {run.run_id} was a partial run ({describe()})')
  for key, origin in (getattr(run, 'origins', None) or {}).items():
    if origin.state == 'REUSED':
      notes.append(f'{key}: in run {run.run_id} {origin}; its code and '
                   'arguments are those of that run')
  return notes


def _effective(run: Run) -> Optional[dict[str, Any]]:
  """The configuration that made the run's outputs (a RunResult's
  effective_configuration), without the 'made_by' note."""
  config = getattr(run, 'effective_configuration', run.configuration)
  if config is None or 'made_by' not in config:
    return config
  return {k: v for k, v in config.items() if k != 'made_by'}


def compare(a: Run, b: Run) -> RunDiff:
  """The RunDiff of two RunResults: the code and arguments compared are
  those that made each run's outputs, so a step a partial run reused reads
  as the run it came from, not as the edited chain it was given."""
  result = RunDiff(a.run_id, b.run_id)
  config_a, config_b = _effective(a), _effective(b)
  for run in (a, b):
    result.notes += _provenance_notes(run)
  for run, config in ((a, config_a), (b, config_b)):
    if config is None:
      result.notes.append(f'run {run.run_id} recorded no configuration '
                          '(record_configuration was off, or it ran before '
                          'fluent_pipeline recorded one)')
  if config_a is not None and config_b is not None:
    result.parameters = _changes(config_a.get('parameters') or {},
                                 config_b.get('parameters') or {})
    steps_a, steps_b = (c.get('steps') or {} for c in (config_a, config_b))
    result.added_steps = [k for k in steps_b if k not in steps_a]
    result.removed_steps = [k for k in steps_a if k not in steps_b]
    one_side = set(result.added_steps) | set(result.removed_steps)
    result.arguments = {k: v for k, v in _changes(
        _arguments(config_a), _arguments(config_b)).items()
                        if k.split('.', 1)[0] not in one_side}
    result.user_code = [c for c in _code_changes(config_a, config_b)
                        if c.where.split('.', 1)[0] not in one_side]
    result.versions = _changes(config_a.get('versions') or {},
                               config_b.get('versions') or {})
  result.metrics = _changes(a.metrics, b.metrics)
  return result
