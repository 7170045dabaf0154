"""A short train-and-push chain for the fault tests; also a script, so a
test can run it in a process it then kills.

    python fault_pipeline.py ROOT DATA_DIR TRAIN_STEPS
"""

import os
import sys

import fluent_pipeline  # noqa: F401  (tf-keras before TensorFlow)
from fluent_pipeline import PipelineDef

HERE = os.path.dirname(os.path.abspath(__file__))
TAXI_MODULE = os.path.join(os.path.dirname(HERE), 'examples', 'chicago_taxi',
                           'taxi_utils.py')


def eval_config(min_accuracy=0.0):
  metric = {'class_name': 'BinaryAccuracy', 'threshold': {'value_threshold': {
      'lower_bound': min_accuracy}}}
  return {'model_specs': [{'signature_name': 'serving_default',
                           'label_key': 'tips_xf',
                           'preprocessing_function_names': [
                               'transform_features']}],
          'slicing_specs': [{}],
          'metrics_specs': [{'metrics': [metric]}]}


def create(root, data_dir, train_steps, min_accuracy=0.0):
  return (PipelineDef('faults', root=root)
          .from_csv(data_dir)
          .generate_statistics()
          .infer_schema()
          .preprocess(TAXI_MODULE)
          .train(TAXI_MODULE, train_args=int(train_steps), eval_args=5)
          .evaluate_model(eval_config(min_accuracy))
          .push_to('serving')
          .cache())


if __name__ == '__main__':
  create(*sys.argv[1:4]).run()
