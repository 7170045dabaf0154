"""Shared fixtures: the taxi module file and small samples of the taxi data."""

import os
import sys

import pytest

import fluent_pipeline  # noqa: F401  (selects tf-keras before TF loads)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAXI_DIR = os.path.join(REPO, 'examples', 'chicago_taxi')
sys.path.insert(0, TAXI_DIR)

import taxi_data  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

TAXI_MODULE = os.path.join(TAXI_DIR, 'taxi_utils.py')


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
