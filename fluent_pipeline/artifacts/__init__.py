"""What a run's artifacts hold, read into plain Python values.

- `readers`: the data's splits, statistics, schema, anomalies and
  distribution changes, with TFDV's protos and drift measure;
- `evaluation`: a TFMA evaluation's metrics per slice, intervals,
  thresholds, validation result and plots, with TFMA's own loaders;
- `metrics_file`: a TFMA evaluation's overall metrics, without importing
  TFMA (fast run listings);
- `models`: which model of an evaluation is the candidate and which the
  baseline, the one rule both readers of metrics use;
- `training`: the Trainer's TensorBoard curves, the Tuner's trials and
  hyperparameters;
- `serving`: a SavedModel's signatures and BulkInferrer's predictions;
- `user_code`: a step's user code as text, from the run's configuration;
- `_reading`: what they share: an artifact's files, local or remote.

Readers take artifact URIs; they know nothing of runs or pipelines.
"""
