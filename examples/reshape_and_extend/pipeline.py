"""Reshape the taxi data inside the chain, and add a component of your own.

    python examples/reshape_and_extend/pipeline.py [--runner beam]

- filter_examples drops the trips that were not paid for (no fare or no
  duration): a plain Python function of the example's features, run inside
  Apache Beam's workers;
- stratified_sample keeps at most 300 training trips per payment type, the
  same 300 on every run, runner and number of workers;
- statistics, schema and Transform read the reshaped examples;
- FeatureReport (feature_report.py), a TFX `@component`, is wired by the
  names of its inputs to the chain's schema, Transform graph and the run's
  configuration artifact.
"""

import argparse
import json
import os
import sys

import fluent_pipeline  # noqa: F401  (tf-keras before TF)
from fluent_pipeline import PipelineDef

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(HERE)  # feature_report.py, when imported from elsewhere
from feature_report import REPORT_FILE, FeatureReport  # noqa: E402

TAXI_DIR = os.path.join(os.path.dirname(HERE), 'chicago_taxi')
sys.path.append(TAXI_DIR)  # taxi_data.py
import taxi_data  # noqa: E402  (on the path above)

MODULE_FILE = os.path.join(TAXI_DIR, 'taxi_utils.py')
DATA_DIR = os.path.join(TAXI_DIR, 'data')


def paid_trip(features):
  """A trip with a fare and a duration (CSV blanks become empty lists)."""
  fare = features.get('fare') or [0.0]
  seconds = features.get('trip_seconds') or [0]
  return fare[0] > 0 and seconds[0] > 0


def create_pipeline(root: str = os.path.join(HERE, 'runs'),
                    data_dir: str = DATA_DIR,
                    samples_per_payment: int = 300,
                    name: str = 'taxi-reshaped'):
  if data_dir == DATA_DIR and not os.path.isdir(DATA_DIR):
    taxi_data.write_data(TAXI_DIR)  # the taxi CSV shipped with TFX
  return (PipelineDef(name, root=root)
          .from_csv(data_dir)
          .filter_examples(paid_trip)
          .stratified_sample('payment_type',
                             samples_per_key=samples_per_payment,
                             splits=['train'], seed=7)
          .generate_statistics()
          .infer_schema()
          .preprocess(MODULE_FILE)
          .add_component(FeatureReport)
          .cache())


def report_of(result) -> dict:
  """The FeatureReport's report.json of a run."""
  uri = result.component('FeatureReport').outputs['report'][0]
  with open(os.path.join(uri, REPORT_FILE), encoding='utf-8') as f:
    return json.load(f)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--root', default=os.path.join(HERE, 'runs'))
  parser.add_argument('--data-dir', default=DATA_DIR)
  parser.add_argument('--runner', choices=('local', 'beam'), default='local')
  args = parser.parse_args(argv)
  result = create_pipeline(args.root, args.data_dir).run(args.runner)
  print(result)
  print(json.dumps(report_of(result), indent=1))


if __name__ == '__main__':
  main()
