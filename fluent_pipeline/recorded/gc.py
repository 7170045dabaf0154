"""What old runs left on disk, and what killed runs half-wrote, removed;
never what a run still needs: `fluent-pipeline gc` and `fluent_pipeline.gc`.

    from fluent_pipeline import gc
    print(gc('runs/taxi', keep=5, dry_run=True))  # what would go, and why not

Two kinds of folders go, both of the shape TFX gives outputs,
<pipeline root>/<node id>/<output key>/<execution id>:

- the outputs of runs older than the `keep` newest, unless something else
  needs them: every artifact an execution of a kept run (or one outside
  those runs) read or output, a CACHED step's and a partial run's reused
  outputs included (TFX's cache points a new run at an old run's
  artifacts); the two latest blessed models and their blessings (the next
  Evaluator's baseline, and the latest's own when it is evaluated again);
  every model an executed Pusher read, and the record of its push. A run whose process is alive, or not known to have died
  (another host, no owner record), is kept whatever its age;
- orphaned folders: those no ML Metadata artifact points at, made for an
  execution that never published (its process was killed; see
  recorded.owner), unless that execution may still be running.

An artifact removed is marked in ML Metadata, MARKED_FOR_DELETION before
its folder goes and DELETED after, as TFX and ML Metadata intend: TFX's cache
(tfx/orchestration/portable/cache_utils.py) serves only LIVE artifacts, so a
later run of an old configuration re-executes instead of being pointed at
files that are gone. The metadata store, the run logs, the generated user
code, the wheels TFX built, and anything outside those folders (a push
destination, an Importer's files) are never touched.
"""

import dataclasses
import datetime
import os
import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

from fluent_pipeline import _paths, errors
from fluent_pipeline.dsl import configuration
from fluent_pipeline.dsl.chain import Chain  # noqa: F401  (in PipelineLike)
from fluent_pipeline.recorded import history, mlmd, owner
from fluent_pipeline.usercode import user_code

if TYPE_CHECKING:  # for annotations only: TFX loads only when needed
  from ml_metadata.metadata_store import MetadataStore as Store
  from tfx.v1.dsl import Pipeline as TfxPipeline  # noqa: F401  (PipelineLike)

KEEP = 5  # runs kept by default: the newest five

# Folders of the pipeline root that are never an output: TFX's own per
# node, and fluent_pipeline's.
_NOT_OUTPUTS = frozenset({'.system', '_wheels', user_code.GENERATED_DIR,
                          'logs', 'reports'})
_MARKED, _DELETED = mlmd.MARKED_FOR_DELETION, mlmd.DELETED
_REFERENCE = 6  # ml_metadata Artifact.State REFERENCE
_RUNNING_STATES = (1, 2)  # Execution.State NEW, RUNNING
_OUTPUT_EVENTS = (mlmd.OUTPUT_EVENT, 7)  # Event.Type OUTPUT, PENDING_OUTPUT


@dataclasses.dataclass
class Removed:
  """A folder gc removed (or, in a dry run, would remove)."""
  path: str
  bytes: int  # the sizes of its files
  what: str  # the artifact's type, or for an orphan, the execution's story
  run_id: Optional[str] = None  # the run that made it; None for an orphan
  artifact_ids: list[int] = dataclasses.field(default_factory=list)
  error: Optional[str] = None  # why it could not be removed (then kept)


@dataclasses.dataclass
class Kept:
  """A folder of an old run (or one without an artifact) that gc kept."""
  path: str
  why: str


@dataclasses.dataclass
class GcResult:
  """What gc removed (or would, with dry_run) and what it kept, and why."""
  pipeline_name: str
  pipeline_root: str
  keep: int
  dry_run: bool
  kept_runs: list[str]  # newest first
  old_runs: list[str]  # the runs whose outputs may go, newest first
  # Run id -> why it is kept although older than the `keep` newest.
  why_kept: dict[str, str] = dataclasses.field(default_factory=dict)
  removed: list[Removed] = dataclasses.field(default_factory=list)
  kept: list[Kept] = dataclasses.field(default_factory=list)

  @property
  def freed_bytes(self) -> int:
    """The bytes of the files removed (would be, in a dry run)."""
    return sum(r.bytes for r in self.removed if r.error is None)

  @property
  def failed(self) -> list[Removed]:
    return [r for r in self.removed if r.error is not None]

  def __str__(self) -> str:
    verb = 'would remove' if self.dry_run else 'removed'
    lines = [f'gc of pipeline {self.pipeline_name!r} ({self.pipeline_root})'
             + (' -- dry run, nothing removed' if self.dry_run else ''),
             f'  keeping {_newest(min(self.keep, len(self.kept_runs)))} '
             f'(keep {self.keep}); {len(self.old_runs)} older']
    lines += [f'  also keeping {why}' for why in self.why_kept.values()]
    by_run: dict[Optional[str], list[Removed]] = {}
    for removed in self.removed:
      by_run.setdefault(removed.run_id, []).append(removed)
    for run_id in [r for r in self.old_runs if r in by_run] + (
        [None] if None in by_run else []):
      done = [r for r in by_run[run_id] if r.error is None]
      title = (f'run {run_id}' if run_id else
               'orphaned folders (no ML Metadata artifact points at them)')
      lines.append(f'{title}: {verb} {len(done)} folders, '
                   f'{_size(sum(r.bytes for r in done))}')
      for r in by_run[run_id]:
        where = _relative(r.path, self.pipeline_root)
        lines.append(f'  {where}  {r.what}, {_size(r.bytes)}' + (
            f'  NOT REMOVED: {r.error}' if r.error else ''))
    if self.kept:
      lines.append(f'kept ({len(self.kept)} folders of older runs or '
                   'without an artifact):')
      lines += [f'  {_relative(k.path, self.pipeline_root)}  {k.why}'
                for k in self.kept]
    total = self.freed_bytes
    lines.append(f'{"would free" if self.dry_run else "freed"} {_size(total)} '
                 f'({total:,} bytes)')
    return '\n'.join(lines)


def gc(pipeline: history.PipelineLike, keep: int = KEEP, *,
       dry_run: bool = False) -> GcResult:
  """Removes the outputs of `pipeline`'s runs older than the `keep` newest
  (5 by default) and the folders of executions that never published, except
  what a kept run, the latest blessed models, a pushed model or a running
  execution needs; marks each removed artifact DELETED in ML Metadata.
  With `dry_run`, removes nothing and says what it would. The result says
  what went, what stayed and why, and the bytes freed."""
  if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
    raise errors.PipelineDefinitionError(
        'gc()', f'keep={keep!r}: gc keeps at least the newest run (partial '
        'runs and --resume go on from it)', fix='keep=1 or more (default '
        f'{KEEP}); --keep N on the command line')
  store, name, root = history.open_pipeline(pipeline)
  if _paths.is_uri(root):
    raise errors.PipelineDefinitionError(
        'gc()', f'the pipeline root {root} is remote, and gc removes folders '
        'of a local pipeline root only', fix='run gc where the root is a '
        'local folder, or remove old outputs with your storage\'s own tools')
  result, old_executions = _plan(store, name, os.path.abspath(root), keep,
                                 dry_run)
  if not dry_run:
    _remove(store, result, old_executions)
  return result


# ------------------------------------------------------------- the plan
@dataclasses.dataclass
class _Runs:
  """The runs of the pipeline, sorted into kept and old, and their
  executions."""
  kept: list[str]
  old: list[str]
  run_of: dict[int, str]  # execution id -> its (newest) run id
  old_executions: set[int]
  kept_contexts: list[Any]
  why_kept: dict[str, str]  # run id -> why it is kept although old


def _sort_runs(store: 'Store', name: str, root: str, keep: int) -> _Runs:
  contexts = mlmd.run_contexts(store, name)
  logs = owner.logs_folder(root, name)
  sorted_runs = _Runs([], [], {}, set(), [], {})
  kept_executions: set[int] = set()
  for i, context in enumerate(contexts):
    run_id = mlmd.run_id_of(context)
    executions = store.get_executions_by_context(context.id)
    for e in executions:
      sorted_runs.run_of.setdefault(e.id, run_id)  # newest first
    unfinished = [e for e in executions
                  if e.last_known_state in _RUNNING_STATES]
    why = None
    if i >= keep and unfinished and not owner.abandoned(logs, run_id):
      why = (f'run {run_id}: it has executions still running, and its '
             'process is alive or not known to have ended (another host, no '
             'owner record)')
      sorted_runs.why_kept[run_id] = why
    if i < keep or why:
      sorted_runs.kept.append(run_id)
      sorted_runs.kept_contexts.append(context)
      kept_executions.update(e.id for e in executions)
    else:
      sorted_runs.old.append(run_id)
      sorted_runs.old_executions.update(e.id for e in executions)
  sorted_runs.old_executions -= kept_executions
  return sorted_runs


def _plan(store: 'Store', name: str, root: str, keep: int,
          dry_run: bool) -> tuple[GcResult, set[int]]:
  """What gc removes and keeps, read from ML Metadata and the root, and
  the executions of the old runs (the only ones the removed outputs may
  have been used by)."""
  runs = _sort_runs(store, name, root, keep)
  result = GcResult(name, root, keep, dry_run, runs.kept, runs.old,
                    runs.why_kept)
  nodes = _node_ids(store, name)
  type_names = {t.id: t.name for t in store.get_artifact_types()}
  pipeline_context = store.get_context_by_type_and_name('pipeline', name)
  mine = (store.get_artifacts_by_context(pipeline_context.id)
          if pipeline_context else [])

  # The artifacts the old runs made.
  made = [e for e in store.get_events_by_execution_ids(
      sorted(runs.old_executions)) if e.type in _OUTPUT_EVENTS]
  candidates = {a.id: a for a in store.get_artifacts_by_id(
      sorted({e.artifact_id for e in made}))
      if a.state not in (_DELETED, _REFERENCE)}
  maker = {}
  for event in sorted(made, key=lambda e: e.execution_id):
    maker.setdefault(event.artifact_id, event.execution_id)

  protected = _protected(store, runs, candidates, mine, type_names)
  never = _never_inside(root, mine)
  by_folder: dict[str, dict[int, Any]] = {}  # folder -> its artifacts
  for artifact in list(candidates.values()) + mine:
    folder = _folder(artifact.uri, root, nodes)
    if folder is not None and artifact.state != _DELETED:
      by_folder.setdefault(folder, {})[artifact.id] = artifact
  seen: set[str] = set()
  for artifact in sorted(candidates.values(), key=lambda a: a.id):
    folder = _folder(artifact.uri, root, nodes)
    if folder is None:
      result.kept.append(Kept(artifact.uri, _outside(artifact.uri, root)))
      continue
    if folder in seen:
      continue
    seen.add(folder)
    inside = by_folder[folder]
    why = next((protected[i] for i in inside if i in protected), None)
    if why is None and any(i not in candidates for i in inside):
      why = 'another artifact in it is not an output of an old run'
    if why is None and any(_contains(folder, p) for p in never):
      why = 'it holds a push destination or the metadata store'
    what = type_names.get(artifact.type_id, 'artifact')
    if why is not None:
      result.kept.append(Kept(folder, why))
      continue
    if not os.path.isdir(folder):  # gone: marked still, so never served
      what += ' (its folder was gone already)'
    result.removed.append(Removed(
        folder, _bytes(folder), what, runs.run_of.get(maker[artifact.id]),
        sorted(inside)))
  _orphans(store, name, root, nodes, set(by_folder), runs, result)
  return result, runs.old_executions


def _protected(store: 'Store', runs: _Runs, candidates: dict[int, Any],
               mine: list[Any], type_names: dict[int, str]
               ) -> dict[int, str]:
  """Artifact id -> why it stays, for the candidates something needs."""
  why: dict[int, list[str]] = {}

  def keep(artifact_id: int, reason: str) -> None:
    if reason not in why.setdefault(artifact_id, []):
      why[artifact_id].append(reason)

  events = store.get_events_by_artifact_ids(sorted(candidates))
  for event in events:
    if event.artifact_id in why or event.execution_id in runs.old_executions:
      continue
    run_id = runs.run_of.get(event.execution_id)
    keep(event.artifact_id, f'kept run {run_id} uses it' if run_id else
         f'execution {event.execution_id}, of no run of this pipeline, uses '
         'it')
  for context in runs.kept_contexts:
    for artifact in store.get_artifacts_by_context(context.id):
      if artifact.id not in why:
        keep(artifact.id, f'kept run {mlmd.run_id_of(context)} holds it')
  # The old runs that made what kept runs use: a kept run reads the
  # arguments and code of a CACHED or REUSED step from the configuration
  # of the run that made its outputs.
  origins = {runs.run_of[e.execution_id] for e in events
             if e.artifact_id in why and e.type in _OUTPUT_EVENTS
             and e.execution_id in runs.old_executions}
  for run_id in sorted(origins):
    context = store.get_context_by_type_and_name('pipeline_run', run_id)
    for artifact in (store.get_artifacts_by_context(context.id)
                     if context else []):
      if type_names.get(artifact.type_id) == configuration.ARTIFACT_TYPE:
        keep(artifact.id, f'the configuration of run {run_id}, which made '
             'outputs a kept run uses')
  for artifact, pushed_model in _pushed(store, mine, type_names):
    where = _custom(artifact, 'pushed_destination')
    keep(pushed_model, f'a pushed model (to {where})')
    keep(artifact.id, f'the record of a push (to {where})')
  for (model, blessings), (what, use) in zip(
      _latest_blessed(mine, type_names),
      (('the latest blessed model', 'the next baseline'),
       ('the blessed model before the latest', 'the baseline of the latest '
        'when it is evaluated again'))):
    keep(model, f'{what} ({use})')
    for blessing in blessings:
      keep(blessing, f'the blessing of {what}')
  return {i: '; '.join(reasons) for i, reasons in why.items()}


def _latest_blessed(mine: list[Any], type_names: dict[int, str]
                    ) -> list[tuple[int, list[int]]]:
  """The two latest blessed models, newest first, each with its blessings:
  the baseline the next Evaluator takes (the latest, as TFX's
  LatestBlessedModelStrategy picks it: the highest model id with a
  blessing), and the one before it, which components/baseline.py picks when
  the latest is the candidate again (so TFX's cache serves the Evaluator)."""
  models = {a.id for a in mine if type_names.get(a.type_id) == 'Model' and
            a.state != _DELETED}
  blessed: dict[int, list[int]] = {}
  for a in mine:
    if (type_names.get(a.type_id) == 'ModelBlessing' and
        a.state != _DELETED and _custom(a, 'blessed') == 1):
      model = _custom(a, 'current_model_id')
      if model in models:
        blessed.setdefault(model, []).append(a.id)
  return [(model, blessed[model]) for model in sorted(blessed,
                                                      reverse=True)[:2]]


def _pushed(store: 'Store', mine: list[Any], type_names: dict[int, str]
            ) -> Iterable[tuple[Any, int]]:
  """(PushedModel artifact, the Model its Pusher read) of every push."""
  pushes = {a.id: a for a in mine if _custom(a, 'pushed') == 1}
  if not pushes:
    return []
  events = store.get_events_by_artifact_ids(sorted(pushes))
  pushers = {e.execution_id: pushes[e.artifact_id] for e in events
             if e.type in _OUTPUT_EVENTS}
  inputs = [e for e in store.get_events_by_execution_ids(sorted(pushers))
            if e.type == mlmd.INPUT_EVENT]
  read = {a.id: a for a in store.get_artifacts_by_id(
      sorted({e.artifact_id for e in inputs}))}
  found = []
  for event in inputs:
    artifact = read.get(event.artifact_id)
    if artifact is not None and type_names.get(artifact.type_id) == 'Model':
      found.append((pushers[event.execution_id], artifact.id))
  return found


def _orphans(store: 'Store', name: str, root: str, nodes: set[str],
             known: set[str], runs: _Runs, result: GcResult) -> None:
  """Output folders no artifact points at: an execution's that never
  published (killed, or failed leaving files); kept while it may run."""
  found: dict[int, list[str]] = {}
  for node in sorted(nodes):
    for key in _subfolders(os.path.join(root, node)):
      if key in _NOT_OUTPUTS:
        continue
      for number in _subfolders(os.path.join(root, node, key)):
        folder = os.path.join(root, node, key, number)
        if number.isdigit() and folder not in known:
          found.setdefault(int(number), []).append(folder)
  if not found:
    return
  executions = {e.id: e for e in store.get_executions_by_id(sorted(found))}
  node_of = mlmd.node_ids(store, list(executions.values()), name)
  published = {(e.execution_id, e.path.steps[0].key)
               for e in store.get_events_by_execution_ids(sorted(executions))
               if e.type in _OUTPUT_EVENTS and e.path.steps}
  logs = owner.logs_folder(root, name)
  for execution_id, folders in sorted(found.items()):
    for folder in folders:
      here = store.get_artifacts_by_uri(folder) + store.get_artifacts_by_uri(
          os.path.join(folder, 'value'))
      if here:
        result.kept.append(Kept(folder, (
            'its artifact is marked DELETED, yet the folder is here'
            if all(a.state == _DELETED for a in here) else
            'an artifact of another pipeline in this store points at it')))
        continue
      node = os.path.basename(os.path.dirname(os.path.dirname(folder)))
      execution = executions.get(execution_id)
      if execution is None or node_of.get(execution_id) != node:
        result.kept.append(Kept(folder, f'no execution {execution_id} of '
                                f'{node} in ML Metadata: not known to be '
                                'an output of this pipeline'))
        continue
      key = os.path.basename(os.path.dirname(folder))
      if (execution_id, key) in published:  # at another path: a moved root
        result.kept.append(Kept(folder, f'execution {execution_id} of {node} '
                                f'published its {key} elsewhere (was the '
                                'pipeline root moved?)'))
        continue
      state = mlmd.STATE_NAMES.get(execution.last_known_state, 'UNKNOWN')
      run_id = runs.run_of.get(execution_id)
      if execution.last_known_state in _RUNNING_STATES:
        died = owner.abandoned(logs, run_id) if run_id else None
        if not died:
          result.kept.append(Kept(folder, (
              f'execution {execution_id} of {node} is {state} (run '
              f'{run_id}), and its process is alive or not known to have '
              'ended')))
          continue
        story = f'execution {execution_id} of {node} ({state}; {died})'
      else:
        story = (f'execution {execution_id} of {node} ({state}), which '
                 'published nothing here')
      result.removed.append(Removed(folder, _bytes(folder), story))


# ---------------------------------------------------------- the removal
def _remove(store: 'Store', result: GcResult,
            old_executions: set[int]) -> None:
  """Marks the artifacts MARKED_FOR_DELETION (the cache stops serving them),
  removes the folders, then marks them DELETED. An artifact that an
  execution other than the old runs' has used since gc read the store (the
  cache served it to a run that started meanwhile) is put back as it was,
  and its folder kept."""
  ids = sorted({i for r in result.removed for i in r.artifact_ids})
  if not ids:
    _remove_folders(result.removed)
    return
  before = {a.id: a.state for a in store.get_artifacts_by_id(ids)}
  _mark(store, ids, _MARKED)
  late: dict[int, int] = {}
  for event in store.get_events_by_artifact_ids(ids):
    if event.execution_id not in old_executions:
      late[event.artifact_id] = event.execution_id
  if late:
    restore = store.get_artifacts_by_id(sorted(late))
    for artifact in restore:
      artifact.state = before[artifact.id]
      del artifact.custom_properties[mlmd.REMOVED_PROPERTY]
    store.put_artifacts(restore)
    for r in [r for r in result.removed if set(r.artifact_ids) & set(late)]:
      result.removed.remove(r)
      execution = late[next(i for i in r.artifact_ids if i in late)]
      result.kept.append(Kept(r.path, f'execution {execution}, started '
                              'during gc, uses it'))
  _remove_folders(result.removed)
  done = sorted({i for r in result.removed if r.error is None
                 for i in r.artifact_ids})
  _mark(store, done, _DELETED)


def _mark(store: 'Store', ids: list[int], state: int) -> None:
  if not ids:
    return
  artifacts = store.get_artifacts_by_id(ids)
  when = datetime.datetime.now().isoformat(sep=' ', timespec='seconds')
  for artifact in artifacts:
    artifact.state = state
    artifact.custom_properties[mlmd.REMOVED_PROPERTY].string_value = (
        f'removed by fluent-pipeline gc on {when}' if state == _DELETED else
        f'being removed by fluent-pipeline gc since {when}')
  store.put_artifacts(artifacts)


def _remove_folders(removals: list[Removed]) -> None:
  for removal in removals:
    if not os.path.lexists(removal.path):
      continue
    try:
      shutil.rmtree(removal.path)
    except OSError as e:  # kept MARKED_FOR_DELETION: the next gc retries
      removal.error = f'{type(e).__name__}: {e}'


# ------------------------------------------------------------ the paths
def _node_ids(store: 'Store', name: str) -> set[str]:
  """The node ids of pipeline `name` that ML Metadata knows (its 'node'
  contexts, '<pipeline>.<node id>'), but never a folder fluent_pipeline or
  TFX keeps for itself."""
  prefix = f'{name}.'
  return {c.name[len(prefix):] for c in mlmd.contexts_of_type(store, 'node')
          if c.name.startswith(prefix)} - _NOT_OUTPUTS


def _folder(uri: str, root: str, nodes: set[str]) -> Optional[str]:
  """<root>/<node>/<key>/<execution id> holding `uri` (a value artifact's
  file is in it), or None when `uri` is anywhere else."""
  if not uri or _paths.is_uri(uri):
    return None
  relative = os.path.relpath(os.path.abspath(uri), root)
  parts = relative.split(os.sep)
  if (relative.startswith('..') or len(parts) < 3 or parts[0] not in nodes
      or parts[1] in _NOT_OUTPUTS or not parts[2].isdigit()):
    return None
  return os.path.join(root, *parts[:3])


def _outside(uri: str, root: str) -> str:
  relative = '..' if _paths.is_uri(uri) else os.path.relpath(
      os.path.abspath(uri), root)
  if relative.startswith('..'):
    return 'outside the pipeline root (not gc\'s to remove)'
  return ('not an output folder of a step (<node>/<key>/<execution id>) '
          'of this pipeline')


def _never_inside(root: str, mine: list[Any]) -> list[str]:
  """Paths no removed folder may hold: the push destinations and the
  metadata store."""
  paths = [os.path.join(root, 'metadata.sqlite')]
  for artifact in mine:
    destination = _custom(artifact, 'pushed_destination')
    if destination and not _paths.is_uri(destination):
      paths.append(os.path.abspath(destination))
  return paths


def _contains(folder: str, path: str) -> bool:
  return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _subfolders(path: str) -> list[str]:
  try:
    return sorted(n for n in os.listdir(path)
                  if os.path.isdir(os.path.join(path, n))
                  and not os.path.islink(os.path.join(path, n)))
  except (FileNotFoundError, NotADirectoryError):
    return []


def _bytes(folder: str) -> int:
  """The sizes of the files under `folder` (links not followed)."""
  total = 0
  for parent, _, files in os.walk(folder):
    for name in files:
      try:
        total += os.lstat(os.path.join(parent, name)).st_size
      except FileNotFoundError:
        pass
  return total


def _custom(artifact: Any, key: str) -> Any:
  value = artifact.custom_properties.get(key)
  if value is None:
    return None
  kind = value.WhichOneof('value')
  return getattr(value, kind) if kind else None


def _relative(path: str, root: str) -> str:
  if _paths.is_uri(path):
    return path
  relative = os.path.relpath(path, root)
  return path if relative.startswith('..') else relative


def _newest(n: int) -> str:
  return 'the newest run' if n == 1 else f'the {n} newest runs'


def _size(n: int) -> str:
  """Bytes as people read them (decimal units: 1 kB = 1,000 bytes)."""
  if n < 1000:
    return f'{n} bytes'
  value = float(n)
  for unit in ('kB', 'MB', 'GB', 'TB'):
    value /= 1000
    if value < 1000 or unit == 'TB':
      break
  return f'{value:.1f} {unit}'
