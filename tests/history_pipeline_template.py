"""A pipeline file with parameters, as a user writes one.

test_run_history copies it (filling in TAXI_DIR), runs it through the
`fluent-pipeline` command and from Python, and edits a line of run_fn.
"""

import os
import sys

from fluent_pipeline import PipelineDef

TAXI_DIR = '@TAXI_DIR@'
sys.path.insert(0, TAXI_DIR)
import taxi_utils  # noqa: E402  (on the path above)


def run_fn(fn_args):
  """taxi_utils.run_fn, failing on purpose when custom_config says so."""
  if fn_args.custom_config.get('fail'):
    raise RuntimeError('planned failure in run_fn')
  taxi_utils.run_fn(fn_args)  # the line the tests edit


def eval_config():
  """The taxi evaluation without thresholds: nothing is ever blessed, so no
  baseline appears and the Evaluator's inputs depend on the model alone."""
  import tensorflow_model_analysis as tfma
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name='serving_default', label_key='tips_xf',
          preprocessing_function_names=['transform_features'])],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(metrics=[
          tfma.MetricConfig(class_name='ExampleCount'),
          tfma.MetricConfig(class_name='BinaryAccuracy'),
          tfma.MetricConfig(class_name='AUC')])])


def create_pipeline(data: str, root: str, train_steps: int = 20,
                    cache: bool = True, fail: bool = False) -> PipelineDef:
  return (PipelineDef('history', root=root)
          .from_csv(data)
          .generate_statistics()
          .infer_schema()
          .preprocess(os.path.join(TAXI_DIR, 'taxi_utils.py'))
          .train(run_fn, train_args=train_steps, eval_args=5,
                 custom_config={'fail': fail})
          .evaluate_model(eval_config())
          .cache(cache))
