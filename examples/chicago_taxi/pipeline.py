"""The Chicago taxi pipeline, all ten TFX steps in one fluent expression.

    python examples/chicago_taxi/pipeline.py            # or: make taxi

It is TFX's taxi_pipeline_native_keras plus a Tuner, a serving check and
bulk inference. The serving check is local by default (the model loads in a
fresh process and answers real requests, no Docker needed);
--docker-infra-validator uses TFX's InfraValidator with TensorFlow Serving in
Docker instead, for machines that have Docker.
"""

import argparse
import os
import sys
import time

import fluent_pipeline  # noqa: F401  (first: selects tf-keras before TensorFlow loads)
from fluent_pipeline import PipelineDef, inputs

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import taxi_data  # noqa: E402  (on the path above)

MODULE_FILE = os.path.join(HERE, 'taxi_utils.py')
DATA_DIR = os.path.join(HERE, 'data')
UNLABELLED_DIR = os.path.join(HERE, 'data_unlabelled')


def eval_config(tfx_exact: bool = False):
  """TFX's taxi evaluation: binary accuracy >= 0.6 overall and no worse than
  the baseline. Besides, unless tfx_exact (which gives exactly the config of
  TFX's taxi_pipeline_native_keras): the example count, and every metric per
  `trip_start_hour` so the report shows where the model is weak (the
  threshold stays on the overall slice: a threshold given as
  `MetricConfig.threshold` would apply to every hour)."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  threshold = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(lower_bound={'value': 0.6}),
      change_threshold=tfma.GenericChangeThreshold(
          direction=tfma.MetricDirection.HIGHER_IS_BETTER,
          absolute={'value': -1e-10}))
  if tfx_exact:
    metrics = [tfma.MetricConfig(class_name='BinaryAccuracy',
                                 threshold=threshold)]
    slices = [tfma.SlicingSpec()]
  else:
    metrics = [tfma.MetricConfig(class_name='ExampleCount'),
               tfma.MetricConfig(
                   class_name='BinaryAccuracy',
                   per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                       slicing_specs=[tfma.SlicingSpec()],
                       threshold=threshold)])]
    slices = [tfma.SlicingSpec(),
              tfma.SlicingSpec(feature_keys=['trip_start_hour'])]
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name='serving_default', label_key='tips_xf',
          preprocessing_function_names=['transform_features'])],
      slicing_specs=slices,
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def create_pipeline(root: str = os.path.join(HERE, 'runs'),
                    data_dir: str = DATA_DIR,
                    unlabelled_dir: str = UNLABELLED_DIR,
                    train_steps: int = 1000, eval_steps: int = 150,
                    tune_steps: int = 100, max_trials: int = 2,
                    name: str = 'chicago_taxi',
                    infra_validation: str = 'local') -> PipelineDef:
  """The demo chain; the step counts are parameters so tests can shrink it.

  The default data folders are written from the tfx wheel when missing, so
  `fluent-pipeline run examples/chicago_taxi/pipeline.py` works on a fresh
  clone too.
  """
  if (data_dir, unlabelled_dir) == (DATA_DIR, UNLABELLED_DIR) and not (
      os.path.isdir(DATA_DIR) and os.path.isdir(UNLABELLED_DIR)):
    taxi_data.write_data(HERE)
  chain = (
      PipelineDef(name, root=root)
      .from_csv(data_dir)
      .generate_statistics()
      .infer_schema(infer_feature_shape=True)
      .validate_input_data()
      .preprocess(MODULE_FILE)
      .tune(MODULE_FILE, train_args=tune_steps, eval_args=max(1, tune_steps // 4),
            custom_config={'max_trials': max_trials})
      .train(MODULE_FILE, train_args=train_steps, eval_args=eval_steps)
      .evaluate_model(eval_config())
      .infra_validate(max_load_seconds=5.0, max_latency_ms=200.0)
      .push_to('serving')
      .bulk_infer(inputs.from_csv(unlabelled_dir))
      .cache())
  if infra_validation == 'docker':
    chain = chain.infra_validate(
        serving_spec={'tensorflow_serving': {'tags': ['latest']},
                      'local_docker': {}},
        request_spec={'tensorflow_serving': {}, 'num_examples': 10})
  return chain


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--root', default=os.path.join(HERE, 'runs'))
  parser.add_argument('--docker-infra-validator', action='store_true',
                      help="TFX's InfraValidator (needs Docker) instead of "
                      'the local serving check')
  parser.add_argument('--verbose', action='store_true')
  args = parser.parse_args()
  taxi_data.write_data(HERE)
  started = time.monotonic()
  result = create_pipeline(
      root=args.root,
      infra_validation='docker' if args.docker_infra_validator else 'local',
  ).run(verbose=args.verbose)
  print(result)
  print(f'finished in {time.monotonic() - started:.0f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main())
