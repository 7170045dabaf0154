"""What earlier runs saw of a pipeline's data: the features in the newest
statistics computed from the same source.

A chain call that names a feature (stratified_sample's key) is checked
against the CSV header or an imported schema when the chain is built. A
TFRecord, Parquet, Avro or BigQuery source has no header to read, but an
earlier run of the pipeline may have computed statistics from it: those
name its features, so the slip is still caught before a run starts.
"""

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from fluent_pipeline.recorded import history, mlmd

if TYPE_CHECKING:
  from ml_metadata.metadata_store import MetadataStore as Store

_LIVE = 2  # ml_metadata Artifact.LIVE
_MAX_HOPS = 6  # dataset steps between the source and StatisticsGen


def features_seen(pipeline, location: str, files: Sequence[str]
                  ) -> Optional[tuple[list[str], str]]:
  """(feature names, where they were read) from the newest live statistics
  StatisticsGen computed for `pipeline` (a PipelineDef or TFX pipeline)
  from examples an ExampleGen read from `location`, when none of the
  source's local `files` changed since; None when there are none, the data
  is remote or changed, or the store cannot be read (the step then checks
  the key itself)."""
  if not files:
    return None  # remote data: whether it changed since is not known here
  config = getattr(pipeline, 'metadata_connection_config', None)
  if config is not None and config.HasField('sqlite') and not os.path.isfile(
      config.sqlite.filename_uri):
    return None  # no run yet: opening the store would create it
  try:
    changed = max(os.path.getmtime(f) for f in files)
    store, name, _ = history.open_pipeline(pipeline)
    return _features(store, name, location, changed)
  except Exception:  # a pre-check never stops a run itself
    return None


def _features(store: 'Store', name: str, location: str, changed: float
              ) -> Optional[tuple[list[str], str]]:
  context = store.get_context_by_type_and_name('pipeline', name)
  statistics_type = mlmd.type_id(store, 'artifact', 'ExampleStatistics')
  if context is None or statistics_type is None:
    return None
  found = [a for a in store.get_artifacts_by_context(context.id)
           if a.type_id == statistics_type and a.state == _LIVE]
  for artifact in sorted(found, key=lambda a: (a.create_time_since_epoch,
                                               a.id), reverse=True):
    if artifact.create_time_since_epoch / 1000 < changed:
      break  # the data changed since: older statistics say even less
    if not _statistics_gen_output(store, artifact.id) or _source_of(
        store, artifact.id) != os.path.normpath(location):
      continue
    from fluent_pipeline.artifacts import readers
    for split in readers.splits(artifact.uri):
      features = sorted(readers.statistics(artifact.uri, split))
      if features:
        run = mlmd.run_that_made(store, artifact.id)
        return features, (f'the statistics run {run} computed from this '
                          'source')
  return None


def _statistics_gen_output(store: 'Store', artifact_id: int) -> bool:
  """StatisticsGen's `statistics`, not Transform's pre/post-transform
  statistics (the transformed features are not the source's)."""
  return any(e.type == mlmd.OUTPUT_EVENT and e.path.steps and
             e.path.steps[0].key == 'statistics'
             for e in store.get_events_by_artifact_ids([artifact_id]))


def _source_of(store: 'Store', artifact_id: int) -> Optional[str]:
  """The input_base of the ExampleGen the artifact descends from, following
  the first input of each producing step (StatisticsGen, dataset steps)."""
  for _ in range(_MAX_HOPS):
    made = mlmd.maker(store, artifact_id)
    if made is None:
      return None
    [execution] = store.get_executions_by_id([made])
    if 'input_base' in execution.custom_properties:
      return os.path.normpath(
          execution.custom_properties['input_base'].string_value)
    inputs = mlmd.input_ids(store, execution.id).get('examples')
    if not inputs:
      return None
    artifact_id = inputs[0]
  return None
