"""Running a PipelineDef: the default runner and reading the run back.

The default is TFX's LocalDagRunner with in-process Beam, chosen by measuring
TFX's own taxi pipeline here (docs/BENCHMARKS.md): 65 s on LocalDagRunner with
in-process Beam against 114 s with the example's multi-processing Beam
arguments (2 cores; the workers' start-up and pickling cost more than they
parallelize).
"""

import contextlib
import os
import time
from typing import Any, Iterator, Optional

from fluent_pipeline import _diagnose
from fluent_pipeline import _logs
from fluent_pipeline import _wiring
from fluent_pipeline import errors
from fluent_pipeline import results


# TFX pip-installs each user-code wheel (Transform, Trainer, Tuner) into a
# temporary directory before running it. The wheels have no dependencies, so
# pip needs no package index: without one it cannot stall on an unreachable
# index or version check (offline machines, firewalled clusters), and each
# install is 0.3-0.7 s faster here.
_USER_CODE_PIP_ENV = {'PIP_NO_INDEX': '1', 'PIP_NO_DEPS': '1',
                      'PIP_DISABLE_PIP_VERSION_CHECK': '1'}


@contextlib.contextmanager
def user_code_pip_env() -> Iterator[None]:
  """Sets `_USER_CODE_PIP_ENV` for the run, restoring the caller's."""
  saved = {k: os.environ.get(k) for k in _USER_CODE_PIP_ENV}
  os.environ.update(_USER_CODE_PIP_ENV)
  try:
    yield
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value


def default_runner():
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # pylint: disable=g-import-not-at-top
  return LocalDagRunner()


def _reads_local_metadata(runner) -> bool:
  """Runners that execute here against the pipeline's own MLMD store."""
  from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # pylint: disable=g-import-not-at-top
  return isinstance(runner, (LocalDagRunner, BeamDagRunner))


def run(pipeline_def, runner=None, *, verbose: bool = False) -> Any:
  """Builds `pipeline_def`, runs it, and returns its RunResult.

  For runners that only compile or submit (Kubeflow, Vertex, Airflow) the
  runner's own return value is returned instead.
  """
  pipeline = pipeline_def.build()
  runner = runner or default_runner()
  started_ms = int(time.time() * 1000)
  log_path = os.path.join(pipeline_def.pipeline_root, 'logs',
                          time.strftime('run-%Y%m%d-%H%M%S.log'))
  progress = None
  try:
    with _logs.quiet_run(log_path, verbose) as progress, user_code_pip_env():
      outcome = runner.run(pipeline)
  except Exception as e:  # pylint: disable=broad-except
    running = progress.running if progress else None
    reason = _diagnose.explain(e, running, _wiring.sources(pipeline_def._plan))  # pylint: disable=protected-access
    anomalies = getattr(_diagnose.root_cause(e), 'anomalies', None)
    if anomalies is not None:
      failure = errors.DataValidationError(
          running, reason, log_path=None if verbose else log_path,
          anomalies=anomalies)
    else:
      failure = errors.PipelineRunError(
          running, reason, log_path=None if verbose else log_path)
    if verbose:
      raise failure from e
    raise failure from None  # the traceback is in the log
  if not _reads_local_metadata(runner):
    return outcome
  result = read_run(pipeline, since_ms=started_ms)
  result.log_path = None if verbose else log_path
  return result


def read_run(pipeline, run_id: Optional[str] = None,
             since_ms: Optional[int] = None) -> results.RunResult:
  """The RunResult of a past run, found by its run id (newest by default).

  `pipeline` is a PipelineDef or the TFX pipeline it built; the run is read
  from that pipeline's ML Metadata store.
  """
  if hasattr(pipeline, 'metadata_connection_config'):
    config = pipeline.metadata_connection_config
    name = pipeline.pipeline_info.pipeline_name
    root = pipeline.pipeline_info.pipeline_root
  else:
    config = _wiring.metadata_config(pipeline._plan)  # pylint: disable=protected-access
    name, root = pipeline.name, pipeline.pipeline_root
  return results.collect(config, pipeline_name=name, pipeline_root=root,
                         run_id=run_id, since_ms=since_ms)
