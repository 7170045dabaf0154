"""User code of the Chicago taxi demo: preprocessing_fn, tuner_fn, run_fn.

The task: predict whether a trip's tip was more than 20% of the fare. The
model is a small wide-and-deep Keras model over tf.Transform features; the
exported SavedModel has two signatures, `serving_default` (serialized
tf.Examples in, probability out) and `transform_features` (for TFMA).
"""

from typing import Dict, List

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx.components.tuner.component import TunerFnResult
from tfx_bsl.tfxio import dataset_options

LABEL = 'tips'
FARE = 'fare'
DENSE = ['trip_miles', 'fare', 'trip_seconds']
BUCKETIZED = ['pickup_latitude', 'pickup_longitude', 'dropoff_latitude',
              'dropoff_longitude']
BUCKETS = 10
VOCABULARY = ['payment_type', 'company']
VOCAB_SIZE = 1000
OOV_BUCKETS = 10
# Integer categories and how many values each takes.
CATEGORICAL = {'trip_start_hour': 24, 'trip_start_day': 8,
               'trip_start_month': 13}
BATCH_SIZE = 40
# Weights, data order and the tuner's search all start from this seed, so a
# run on the same data and steps trains the same model (and its accuracy
# does not depend on chance).
SEED = 7


def xf(name: str) -> str:
  """Name of a transformed feature."""
  return f'{name}_xf'


def _dense(x):
  """A rank-1 dense tensor from a possibly sparse column, missing -> 0/''."""
  if not isinstance(x, tf.sparse.SparseTensor):
    return tf.reshape(x, [-1])
  default = '' if x.dtype == tf.string else 0
  dense = tf.sparse.to_dense(
      tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
  return tf.squeeze(dense, axis=1)


def preprocessing_fn(inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """tf.Transform: scale, bucketize and index features; derive the label."""
  out = {}
  for key in DENSE:
    out[xf(key)] = tft.scale_to_z_score(_dense(inputs[key]))
  for key in VOCABULARY:
    out[xf(key)] = tft.compute_and_apply_vocabulary(
        _dense(inputs[key]), top_k=VOCAB_SIZE, num_oov_buckets=OOV_BUCKETS)
  for key in BUCKETIZED:
    out[xf(key)] = tft.bucketize(_dense(inputs[key]), BUCKETS)
  for key in CATEGORICAL:
    out[xf(key)] = _dense(inputs[key])
  fare = _dense(inputs[FARE])
  tips = _dense(inputs[LABEL])
  big_tipper = tf.cast(tf.greater(tips, fare * 0.2), tf.int64)
  out[xf(LABEL)] = tf.where(tf.math.is_nan(fare), tf.zeros_like(big_tipper),
                            big_tipper)
  return out


def _dataset(files: List[str], data_accessor: DataAccessor,
             transform_output: tft.TFTransformOutput) -> tf.data.Dataset:
  return data_accessor.tf_dataset_factory(
      files,
      dataset_options.TensorFlowDatasetOptions(
          batch_size=BATCH_SIZE, label_key=xf(LABEL)),
      transform_output.transformed_metadata.schema).repeat()


def _model(hparams: keras_tuner.HyperParameters) -> tf.keras.Model:
  """Wide (one-hot categories) and deep (dense layers over numbers) model."""
  inputs = {}
  for key in DENSE:
    inputs[xf(key)] = tf.keras.layers.Input(name=xf(key), shape=(1,),
                                            dtype=tf.float32)
  sizes = {**{k: VOCAB_SIZE + OOV_BUCKETS for k in VOCABULARY},
           **{k: BUCKETS for k in BUCKETIZED},
           **CATEGORICAL}
  for key in sizes:
    inputs[xf(key)] = tf.keras.layers.Input(name=xf(key), shape=(1,),
                                            dtype='int32')
  deep = tf.keras.layers.concatenate([inputs[xf(k)] for k in DENSE])
  for i in range(int(hparams.get('num_layers'))):
    deep = tf.keras.layers.Dense(
        max(4, int(hparams.get('first_layer_units') * 0.7**i)),
        activation='relu')(deep)
  wide = tf.keras.layers.concatenate([
      tf.keras.layers.CategoryEncoding(num_tokens=n)(inputs[xf(k)])
      for k, n in sizes.items()])
  output = tf.keras.layers.Dense(1, activation='sigmoid')(
      tf.keras.layers.concatenate([deep, wide]))
  model = tf.keras.Model(inputs, output)
  model.compile(
      loss='binary_crossentropy',
      optimizer=tf.keras.optimizers.Adam(hparams.get('learning_rate')),
      metrics=[tf.keras.metrics.BinaryAccuracy()])
  return model


def _search_space() -> keras_tuner.HyperParameters:
  hp = keras_tuner.HyperParameters()
  hp.Int('num_layers', 1, 3, default=2)
  hp.Choice('first_layer_units', [16, 32, 64], default=32)
  hp.Choice('learning_rate', [1e-3, 3e-3], default=3e-3)
  return hp


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
  """A short random search over depth, width and learning rate."""
  transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  max_trials = int((fn_args.custom_config or {}).get('max_trials', 2))
  tf.keras.utils.set_random_seed(SEED)  # each trial's weights, data order
  tuner = keras_tuner.RandomSearch(
      _model, max_trials=max_trials, hyperparameters=_search_space(),
      allow_new_entries=False, objective='val_binary_accuracy',
      directory=fn_args.working_dir, project_name='taxi_tuning', seed=SEED)
  return TunerFnResult(tuner=tuner, fit_kwargs={
      'x': _dataset(fn_args.train_files, fn_args.data_accessor,
                    transform_output),
      'validation_data': _dataset(fn_args.eval_files, fn_args.data_accessor,
                                  transform_output),
      'steps_per_epoch': fn_args.train_steps,
      'validation_steps': fn_args.eval_steps,
      'verbose': 0,
  })


def _serving_signatures(model: tf.keras.Model,
                        transform_output: tft.TFTransformOutput):
  """serving_default parses raw tf.Examples; transform_features is for TFMA."""
  model.tft_layer = transform_output.transform_features_layer()
  raw_spec = transform_output.raw_feature_spec()
  serving_spec = {k: v for k, v in raw_spec.items() if k != LABEL}

  @tf.function(input_signature=[
      tf.TensorSpec(shape=[None], dtype=tf.string, name='examples')])
  def serve(serialized):
    features = tf.io.parse_example(serialized, serving_spec)
    return {'outputs': model(model.tft_layer(features))}

  @tf.function(input_signature=[
      tf.TensorSpec(shape=[None], dtype=tf.string, name='examples')])
  def transform_features(serialized):
    return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

  return {'serving_default': serve, 'transform_features': transform_features}


def run_fn(fn_args: FnArgs) -> None:
  """Trains with the tuned (or default) hyperparameters and exports."""
  transform_output = tft.TFTransformOutput(fn_args.transform_output)
  if fn_args.hyperparameters:
    hparams = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
  else:
    hparams = _search_space()
  tf.keras.utils.set_random_seed(SEED)  # the same weights and data order
  model = _model(hparams)
  # Ten epochs of train_steps / 10, each validated on eval_steps / 10, so the
  # TensorBoard logs (which the run report reads) hold learning curves.
  if not fn_args.train_steps or not fn_args.eval_steps:
    raise ValueError('this run_fn repeats its datasets, so it needs a number '
                     'of steps: pass train_args=N and eval_args=M to train()')
  epochs = max(1, min(10, fn_args.train_steps))
  model.fit(
      _dataset(fn_args.train_files, fn_args.data_accessor, transform_output),
      epochs=epochs,
      steps_per_epoch=max(1, fn_args.train_steps // epochs),
      validation_data=_dataset(fn_args.eval_files, fn_args.data_accessor,
                               transform_output),
      validation_steps=max(1, fn_args.eval_steps // epochs),
      callbacks=[tf.keras.callbacks.TensorBoard(
          log_dir=fn_args.model_run_dir, update_freq='epoch',
          write_graph=False)],
      verbose=2)
  tf.saved_model.save(model, fn_args.serving_model_dir,
                      signatures=_serving_signatures(model, transform_output))
