"""Errors raised while a pipeline is defined, before anything runs.

Every message names the step, what is wrong and the call that fixes it, so a
mistake costs seconds instead of a failed 20-minute run.
"""

from typing import Optional


class PipelineDefinitionError(ValueError):
  """A PipelineDef cannot be turned into a TFX pipeline as written."""

  def __init__(self, step: str, problem: str, fix: Optional[str] = None):
    self.step = step
    self.problem = problem
    self.fix = fix
    message = f'{step}: {problem}'
    if fix:
      message += f'\n  fix: {fix}'
    super().__init__(message)


class MissingStepError(PipelineDefinitionError):
  """A step needs the output of another step that is not in the chain."""


class UserCodeError(PipelineDefinitionError):
  """User code (module file, dotted path or function) cannot be used."""


class PipelineRunError(RuntimeError):
  """A component failed while the pipeline ran.

  The message names the component and the root cause in one line; the full
  traceback and every log line are in `log_path`. When the user's own
  function raised, `location` (a usercode.code_location.CodeLocation) is
  the line of their code, named on the next lines: TFX runs an installed
  copy, so the log's traceback points at a temporary file. Outputs of the components that
  finished stay in ML Metadata under `run_id`, so `run(resume=True)`
  (`fluent-pipeline run FILE --resume`) goes on from the failed component.
  """

  def __init__(self, component: Optional[str], reason: str,
               log_path: Optional[str] = None,
               run_id: Optional[str] = None, location=None):
    self.component = component
    self.reason = reason
    self.log_path = log_path
    self.run_id = run_id
    self.location = location
    where = component or 'the pipeline'
    if location is None:
      message = f'{where} failed: {reason}'
    else:
      message = '\n'.join([f'{where} failed in your {location.fn_name}: '
                           f'{reason}'] + location.lines())
    if log_path:
      message += f'\n  full log: {log_path}'
    if run_id:
      message += f'\n  run {run_id}; resume it with run(resume=True) or --resume'
    super().__init__(message)


class DataValidationError(PipelineRunError):
  """ExampleValidator found anomalies and fail_on_anomalies was set.

  `anomalies` lists them as (split, feature, kind, description).
  """

  def __init__(self, component: Optional[str], reason: str,
               log_path: Optional[str] = None, anomalies=(),
               run_id: Optional[str] = None):
    super().__init__(component, reason, log_path, run_id)
    self.anomalies = list(anomalies)
