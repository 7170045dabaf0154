"""Shared fixtures: the taxi module file and small samples of the taxi data."""

import os
import sys

import pytest

import fluent_pipeline  # noqa: F401  (selects tf-keras before TF loads)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAXI_DIR = os.path.join(REPO, 'examples', 'chicago_taxi')
sys.path.insert(0, TAXI_DIR)

import taxi_data  # noqa: E402  (examples/chicago_taxi, on the path above)

TAXI_MODULE = os.path.join(TAXI_DIR, 'taxi_utils.py')

# The serving check's limits in the pipelines the tests run: far above what
# any machine takes (loading a small SavedModel, answering one request), so a
# blessing tests the wiring (measured, compared, recorded, gating the push)
# and not how busy the machine is. The tests of failing checks set a limit
# nothing meets instead.
SERVING_LIMITS = {'max_load_seconds': 300.0, 'max_latency_ms': 10_000.0}


@pytest.fixture(scope='session')
def taxi_sample(tmp_path_factory):
  """2,000 taxi trips and 200 unlabelled ones: enough for every component."""
  root = tmp_path_factory.mktemp('taxi_sample')
  return taxi_data.write_data(str(root), rows=2000, unlabelled_rows=200)


@pytest.fixture(scope='session')
def taxi_csv_dir(tmp_path_factory):
  """A tiny labelled CSV folder for tests that only build pipelines."""
  root = tmp_path_factory.mktemp('taxi_tiny')
  return taxi_data.write_data(str(root), rows=50, unlabelled_rows=10)['data']


@pytest.fixture(scope='session')
def taxi_runs(tmp_path_factory, taxi_sample):
  """The taxi demo chain run twice on the sample (the second, with nothing
  changed, wholly from cache: Evaluator and Pusher included):
  (PipelineDef, first RunResult, second RunResult). Shared by the e2e and
  report tests; tests that add runs to its store come after test_e2e.

  The example's own chain, but for the serving check's limits (the demo's
  5 s and 200 ms measure the machine): SERVING_LIMITS. Its accuracy
  threshold (0.6) stays: taxi_utils seeds the model, so the accuracy is the
  same on every run."""
  pdef = taxi_chain(str(tmp_path_factory.mktemp('e2e')), taxi_sample)
  first = pdef.run()
  second = pdef.run()
  return pdef, first, second


def taxi_chain(root: str, taxi_sample, train_steps: int = 100):
  """The chain of taxi_runs, on `root`; another `train_steps` makes another
  model of the same pipeline."""
  import pipeline as taxi_pipeline  # examples/chicago_taxi/pipeline.py
  return taxi_pipeline.create_pipeline(
      root=root, data_dir=taxi_sample['data'],
      unlabelled_dir=taxi_sample['data_unlabelled'],
      train_steps=train_steps, eval_steps=10, tune_steps=10, max_trials=1,
      name='taxi_e2e').infra_validate(local=True, **SERVING_LIMITS)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
  """`make test` runs two pytest-xdist processes (--dist loadgroup): each
  module stays in one process, so its module fixtures run once, and the
  modules that read the shared taxi runs stay together, so those run once."""
  del config
  groups = {}
  for item in items:
    module = item.module.__name__
    if 'taxi_runs' in item.fixturenames or groups.get(module) == 'taxi_runs':
      groups[module] = 'taxi_runs'
    else:
      groups.setdefault(module, module)
  for item in items:
    item.add_marker(pytest.mark.xdist_group(groups[item.module.__name__]))


# The servers some tests start on loopback (tests/servers.py).
from servers import mariadb, postgres, redis  # noqa: E402, F401
