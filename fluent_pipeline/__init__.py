"""fluent_pipeline: production TFX pipelines as one chained expression.

    from fluent_pipeline import PipelineDef, inputs
    result = (PipelineDef('taxi').from_csv('data/').generate_statistics()
              .infer_schema().train('model.py', train_args=100).run())

`PipelineDef.build()` returns a vanilla TFX pipeline for any DagRunner.
Importing this package selects tf-keras for TensorFlow 2.16 (TFX 1.16 needs
Keras 2) before TensorFlow loads; TFX itself is imported only when needed.

The public surface is this module's `__all__` and the modules `inputs`,
`beam` and `airflow`; docs/ARCHITECTURE.md maps the layers beneath.
"""

from fluent_pipeline import _env

_env.configure()

# The names below import TFX lazily: _env must run first.
from fluent_pipeline import inputs
from fluent_pipeline._version import __version__
from fluent_pipeline.errors import (
    DataValidationError,
    MissingStepError,
    PipelineDefinitionError,
    PipelineRunError,
    UserCodeError,
)
from fluent_pipeline.pipeline_def import PipelineDef, latest
from fluent_pipeline.recorded.gc import gc
from fluent_pipeline.recorded.history import diff, read_run, runs
from fluent_pipeline.recorded.results import RunResult

__all__ = ['PipelineDef', 'inputs', 'latest', 'RunResult', 'runs', 'read_run',
           'diff', 'gc', '__version__',
           'PipelineDefinitionError', 'MissingStepError', 'UserCodeError',
           'PipelineRunError', 'DataValidationError']
