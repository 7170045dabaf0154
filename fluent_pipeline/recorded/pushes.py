"""What the Pusher did in a run, read from the record components/pusher.py
leaves on its PushedModel: the destination and version it pushed, the
version that already held the model, a rollback and the run whose model it
served again, or why nothing was pushed; and the summary's line that says
so. Apart from results because a push has more answers than the other
outcomes, each with its wording (and, for a newer version serving, the
rollback command).
"""

from typing import TYPE_CHECKING, Any, Optional, Protocol

from fluent_pipeline.recorded import mlmd

if TYPE_CHECKING:  # ML Metadata's types, for annotations only
  from ml_metadata.metadata_store import MetadataStore as Store


class Pushed(Protocol):
  """What the summary line reads of a run (a RunResult is one; its
  `components` are ComponentRuns)."""
  run_id: str
  pipeline_root: str
  components: list[Any]
  pushed_model: Optional[str]
  push: dict[str, Any]


def pushed_line(result: Pushed) -> str:
  """What the Pusher did (components/pusher.py records it): the version it
  pushed, a rollback, the version that already held the model, or why
  nothing was pushed; for a Pusher this run did not execute, the run whose
  result it is."""
  push = result.push
  pusher = next((c for c in result.components
                 if 'pushed_model' in c.outputs), None)
  served = pusher is not None and pusher.state in ('CACHED', mlmd.REUSED)
  held = push.get('already_pushed_version')
  if served:  # nothing ran here: say whose result this is
    by = f' by run {pusher.made_by_run}' if pusher.made_by_run else ''
    if result.pushed_model:
      return (f'none in this run (the Pusher is {pusher.state}): this model '
              f'was pushed{by} as version {push.get("pushed_version", "?")} '
              f'({result.pushed_model})')
    if held:
      newest = push.get('newest_version')
      return (f'none in this run (the Pusher is {pusher.state}): version '
              f'{held} already held this model when it was checked{by}'
              + (f', and the newer version {newest} served; '
                 + _rollback_hint(result)
                 if newest and newest != held else ''))
  if result.pushed_model:
    back = push.get('rolled_back_version')
    if back:
      made = (f' of run {push["model_run"]}' if push.get('model_run')
              else '')
      return (f'{result.pushed_model} (rolled back to the model{made}, '
              f'which version {back} held: version '
              f'{push.get("pushed_version", "?")} now serves it)')
    return result.pushed_model
  if held:
    where = push.get('already_pushed_destination') or held
    newest = push.get('newest_version')
    if not newest or newest == held:
      return (f'not pushed again: version {held} already serves this model '
              f'({where})')
    return (f'not pushed again: version {held} already holds this model '
            f'({where}), and the newer version {newest} serves; '
            + _rollback_hint(result))
  if push.get('rollback_refused'):
    return f'none: rollback refused: {push["rollback_refused"]}'
  return 'none (not blessed)'


def _rollback_hint(result: Pushed) -> str:
  return ('to serve this model again, roll back: `fluent-pipeline rollback '
          f'{result.run_id} --root {result.pipeline_root}` (or '
          'run(rollback=True))')


def push_record(store: 'Store', uri: str, pusher: Any,
                details: bool) -> dict[str, Any]:
  """The PushedModel's record of what the Pusher (its ComponentRun,
  `pusher`) did; with `details`, on a rollback, the run that made the model
  ('model_run')."""
  keys = ('pushed_version', 'already_pushed_version',
          'already_pushed_destination', 'newest_version',
          'rolled_back_version', 'rollback_refused')
  found: dict[str, Any] = {}
  for artifact in store.get_artifacts_by_uri(uri):
    props = artifact.custom_properties
    if 'pushed' in props:
      found['pushed'] = props['pushed'].int_value
    found.update({k: props[k].string_value for k in keys if k in props})
  if details and found.get('rolled_back_version'):
    model = mlmd.input_ids(store, pusher.execution_id).get('model')
    if model:
      found['model_run'] = mlmd.run_that_made(store, model[0])
  return found


def pushed_destination(store: 'Store', uri: str) -> Optional[str]:
  """Where the PushedModel at `uri` was pushed; None when it was not."""
  for artifact in store.get_artifacts_by_uri(uri):
    props = artifact.custom_properties
    if 'pushed' in props and props['pushed'].int_value == 1:
      return props['pushed_destination'].string_value
  return None
