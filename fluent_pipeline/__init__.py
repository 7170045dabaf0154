"""fluent_pipeline: production TFX pipelines as one chained expression.

    from fluent_pipeline import PipelineDef, inputs
    result = (PipelineDef('taxi').from_csv('data/').generate_statistics()
              .infer_schema().train('model.py', train_args=100).run())

`PipelineDef.build()` returns a vanilla TFX pipeline for any DagRunner.
Importing this package selects tf-keras for TensorFlow 2.16 (TFX 1.16 needs
Keras 2) before TensorFlow loads; TFX itself is imported only when needed.
"""

from fluent_pipeline import _env

_env.configure()

# pylint: disable=g-import-not-at-top,wrong-import-position
from fluent_pipeline import inputs
from fluent_pipeline.errors import DataValidationError
from fluent_pipeline.errors import MissingStepError
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.errors import PipelineRunError
from fluent_pipeline.errors import UserCodeError
from fluent_pipeline.pipeline_def import PipelineDef
from fluent_pipeline.pipeline_def import latest
from fluent_pipeline.results import RunResult
from fluent_pipeline.run_history import diff
from fluent_pipeline.run_history import read_run
from fluent_pipeline.run_history import runs

__version__ = '0.1.0'

__all__ = ['PipelineDef', 'inputs', 'latest', 'RunResult', 'runs', 'read_run',
           'diff',
           'PipelineDefinitionError', 'MissingStepError', 'UserCodeError',
           'PipelineRunError', 'DataValidationError']
