"""A run_fn that exports small SavedModels, good or broken on purpose, for
the serving-check tests. custom_config['mode'] picks which."""

import tensorflow as tf

FEATURES = {'fare': tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}


class _Model(tf.Module):

  def __init__(self, spec):
    super().__init__()
    self.spec = spec

  @tf.function(input_signature=[
      tf.TensorSpec(shape=[None], dtype=tf.string, name='examples')])
  def serve(self, serialized):
    features = tf.io.parse_example(serialized, self.spec)
    return {'outputs': tf.reshape(features['fare'] * 2.0, [-1, 1])}


def run_fn(fn_args):
  mode = fn_args.custom_config['mode']
  if mode == 'bad_request':  # needs a feature the examples do not have
    spec = dict(FEATURES, absent=tf.io.FixedLenFeature([], tf.float32))
  else:
    spec = FEATURES
  model = _Model(spec)
  name = 'predict' if mode == 'wrong_signature' else 'serving_default'
  tf.saved_model.save(model, fn_args.serving_model_dir,
                      signatures={name: model.serve})
