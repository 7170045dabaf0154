"""What a run's artifacts hold, read into plain Python values.

- `readers`: statistics, schema, anomalies, evaluation, training logs, tuner
  trials, serving signatures and predictions, with TFX's, TFDV's and TFMA's
  own readers;
- `metrics_file`: a TFMA evaluation's overall metrics, without importing
  TFMA (fast run listings);
- `models`: which model of an evaluation is the candidate and which the
  baseline, the one rule both readers of metrics use.

Readers take artifact URIs; they know nothing of runs or pipelines.
"""
