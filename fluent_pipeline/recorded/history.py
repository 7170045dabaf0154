"""Every run of a pipeline, read back from ML Metadata: list, read, compare.

    from fluent_pipeline import runs, read_run, diff
    for run in runs('runs/taxi'):         # newest first
      print(run.run_id, run.metrics)
    print(diff('runs/taxi', 'latest~1', 'latest'))

A pipeline is named by its PipelineDef, the TFX pipeline it built, or a
directory: the pipeline's own (`<root>/<name>`, where metadata.sqlite lies)
or a root that holds exactly one pipeline. Run ids are exact ids, 'latest',
or 'latest~N' (the Nth run before the newest).
"""

import os
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from fluent_pipeline.dsl import wiring
from fluent_pipeline.dsl.chain import Chain  # PipelineDef is a Chain
from fluent_pipeline.recorded import mlmd, results
from fluent_pipeline.recorded.diff import RunDiff, compare

if TYPE_CHECKING:  # never imported at run time: TFX loads only when needed
  from ml_metadata.metadata_store import MetadataStore
  from tfx.v1.dsl import Pipeline as TfxPipeline


# What names a pipeline's runs: a PipelineDef, the TFX pipeline it built, or
# a directory (the pipeline's own, or a root that holds exactly one).
PipelineLike = Union['Chain', 'TfxPipeline', str, 'os.PathLike[str]']
# A run: its id ('latest', 'latest~N' or an exact id), or its RunResult.
RunLike = Union[str, results.RunResult]

_SQLITE = 'metadata.sqlite'


def _store_of(pipeline: PipelineLike) -> tuple[Any, str, str]:
  """(MLMD connection config, pipeline name, pipeline root) of `pipeline`."""
  if hasattr(pipeline, 'metadata_connection_config'):  # a TFX pipeline
    built = cast('TfxPipeline', pipeline)
    return (built.metadata_connection_config,
            built.pipeline_info.pipeline_name,
            cast(str, built.pipeline_info.pipeline_root))
  if isinstance(pipeline, Chain):  # a PipelineDef
    return (wiring.metadata_config(pipeline._plan), pipeline.name,
            pipeline.pipeline_root)
  if isinstance(pipeline, (str, os.PathLike)):
    return _store_in_directory(os.fspath(pipeline))
  raise TypeError(f'expected a PipelineDef, a TFX pipeline or a directory, '
                  f'got {type(pipeline).__name__}')


def _store_in_directory(path: str) -> tuple[Any, str, str]:
  from fluent_pipeline import _paths
  if _paths.is_uri(path):
    raise LookupError(
        f'{path} is remote, and ML Metadata is not kept there; pass the '
        'pipeline file (--file FILE) or a PipelineDef, which name the store')
  path = os.path.abspath(os.path.expanduser(path))
  if os.path.isfile(os.path.join(path, _SQLITE)):
    pipeline_root = path
  elif os.path.isdir(path):
    found = sorted(d for d in os.listdir(path)
                   if os.path.isfile(os.path.join(path, d, _SQLITE)))
    if len(found) != 1:
      raise LookupError(
          f'{path} holds {len(found)} pipelines'
          + (f' ({", ".join(found)}); pass one of their directories'
             if found else f' (no */{_SQLITE}); pass the pipeline root '
             'directory (<root>/<name>) or the root given to PipelineDef'))
    pipeline_root = os.path.join(path, found[0])
  else:
    raise LookupError(f'{path} does not exist; pass the directory of a '
                      f'pipeline (<root>/<name>, where {_SQLITE} is)')
  from fluent_pipeline.dsl import wiring
  config = wiring.sqlite_config(os.path.join(pipeline_root, _SQLITE))
  return config, _pipeline_name(config, pipeline_root), pipeline_root


def _pipeline_name(config: Any, pipeline_root: str) -> str:
  from ml_metadata import metadata_store
  store = metadata_store.MetadataStore(config)
  names = sorted(c.name for c in store.get_contexts_by_type('pipeline'))
  if len(names) == 1:
    return names[0]
  base = os.path.basename(os.path.normpath(pipeline_root))
  if base in names:
    return base
  raise LookupError(f'the metadata store in {pipeline_root} holds '
                    f'{len(names)} pipelines ({", ".join(names) or "none"}); '
                    'pass the PipelineDef instead')


def open_pipeline(pipeline: PipelineLike
                  ) -> tuple['MetadataStore', str, str]:
  """The ML Metadata store, name and root of `pipeline`."""
  from ml_metadata import metadata_store
  config, name, root = _store_of(pipeline)
  return metadata_store.MetadataStore(config), name, root


def runs(pipeline: PipelineLike,
         limit: Optional[int] = None) -> list[results.RunResult]:
  """Every run of `pipeline`, newest first (at most `limit`): run id, start,
  duration, each component's state (CACHED: TFX's cache; REUSED: a partial
  run took it from another run; both name the run that made the outputs),
  metrics, blessing, pushed model and the configuration."""
  store, name, root = open_pipeline(pipeline)
  contexts = mlmd.run_contexts(store, name)[:limit]
  return [results.collect_run(store, c, name, root, details=False)
          for c in contexts]


def read_run(pipeline: PipelineLike, run_id: Optional[str] = None, *,
             details: bool = True) -> results.RunResult:
  """The RunResult of one run of `pipeline` (the newest by default), with
  its configuration. A wrong id raises LookupError naming the nearest."""
  store, name, root = open_pipeline(pipeline)
  return results.collect_run(store, results.find_run(store, name, run_id),
                             name, root, details=details)


def diff(pipeline: PipelineLike, run_a: RunLike, run_b: RunLike) -> RunDiff:
  """What differs between two runs: parameters, step arguments, user code
  (hash and a unified diff of the source), package versions, settings and
  metrics, each step's as recorded by the run that made its outputs (a step
  a partial run reused is noted, not read as a change). Runs are ids (of
  `pipeline`) or RunResults."""
  a, b = (r if isinstance(r, results.RunResult)
          else read_run(pipeline, r, details=False) for r in (run_a, run_b))
  return compare(a, b)
