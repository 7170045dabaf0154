"""Records the run in this folder with fluent_pipeline as it was before its
modules moved into layers (commit 25438bb), for tests/test_recorded_runs.py:

    git worktree add /tmp/oldtree 25438bb
    rm -rf /tmp/fluent_pipeline_recorded
    PYTHONPATH=/tmp/oldtree .venv/bin/python \\
        tests/data/recorded_before_layers/make_old_run.py
    cp -r /tmp/fluent_pipeline_recorded/. tests/data/recorded_before_layers/

(then drop runs/recorded/_wheels: TFX's wheel is rebuilt when needed).
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(REPO, 'examples', 'chicago_taxi'))

import taxi_data  # noqa: E402

import fluent_pipeline  # noqa: E402
from fluent_pipeline import PipelineDef  # noqa: E402

assert fluent_pipeline.__file__.startswith('/tmp/oldtree'), fluent_pipeline.__file__
ROOT = '/tmp/fluent_pipeline_recorded'


def keep_cash(features):
  return features['payment_type'] == [b'Cash']


data = taxi_data.write_data(os.path.join(ROOT, 'input'), rows=60,
                            unlabelled_rows=5)['data']
result = (PipelineDef('recorded', root=os.path.join(ROOT, 'runs'))
          .from_csv(data)
          .filter_examples(keep_cash)
          .generate_statistics()
          .infer_schema()
          .with_parameters(rows=60)
          .run())
print(result)
