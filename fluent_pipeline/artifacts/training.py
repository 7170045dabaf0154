"""What training left: the curves the Trainer's TensorBoard callback logged,
the Tuner's trials and the hyperparameters it chose.

Read with TensorBoard's event loader and as the JSON TFX writes.
"""

import json
import posixpath
from typing import Any

from fluent_pipeline.artifacts import _reading


def training_curves(model_run_uri: str
                    ) -> dict[str, dict[str, list[tuple[int, float]]]]:
  """The scalars the Trainer's TensorBoard callback logged under its
  model_run artifact: {tag: {'train'|'validation'|...: [(step, value)]}}."""
  import tensorflow as tf
  from tensorboard.backend.event_processing import event_file_loader
  fileio = _reading.fileio(model_run_uri)
  curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
  if not fileio.exists(model_run_uri):
    return curves
  for directory, _, files in fileio.walk(model_run_uri):
    directory = directory.decode() if isinstance(directory, bytes) else directory
    run = posixpath.relpath(directory.replace('\\', '/'),
                            model_run_uri.replace('\\', '/'))
    run = '' if run == '.' else run
    for name in sorted(files):
      name = name.decode() if isinstance(name, bytes) else name
      if 'tfevents' not in name:
        continue
      loader = event_file_loader.EventFileLoader(
          _reading.join(directory, name))
      for event in loader.Load():
        for value in event.summary.value:
          if value.HasField('simple_value'):
            number = value.simple_value
          elif value.HasField('tensor') and value.metadata.plugin_data \
              .plugin_name == 'scalars':
            number = float(tf.make_ndarray(value.tensor))
          else:
            continue
          curves.setdefault(value.tag, {}).setdefault(run, []).append(
              (int(event.step), number))
  for runs in curves.values():
    for points in runs.values():
      points.sort()
  return curves


def tuner_trials(tuner_results_uri: str) -> list[dict[str, Any]]:
  """The Tuner's trials as TFX wrote them (tuner_results.json): each
  trial's hyperparameters and score, best first."""
  path = _reading.join(tuner_results_uri, 'tuner_results.json')
  if not _reading.fileio(path).exists(path):
    return []
  return json.loads(_reading.read_bytes(path).decode('utf-8'))


def hyperparameters(uri: str) -> dict[str, Any]:
  """The values of a HyperParameters artifact (KerasTuner's config)."""
  fileio = _reading.fileio(uri)
  for name in ('best_hyperparameters.txt',):
    path = _reading.join(uri, name)
    if fileio.exists(path):
      config = json.loads(_reading.read_bytes(path).decode('utf-8'))
      return dict(config.get('values', config))
  return {}

