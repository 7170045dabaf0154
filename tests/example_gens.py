"""ExampleGens run side by side and their outputs compared, for the
columnar readers' tests (test_columnar_csv, test_columnar_parquet): each
pair of a TFX executor and ours must give the same examples in the same
splits, with the same artifact properties."""

import collections
import glob
import os


def run_example_gens(root: str, components, pipeline_name: str) -> dict:
  """Runs the components in one LocalDagRunner pipeline; each one's
  Examples artifact (from ML Metadata) by component id."""
  from ml_metadata.metadata_store import metadata_store
  from tfx.orchestration import metadata, pipeline
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner
  db = os.path.join(root, 'metadata.sqlite')
  config = metadata.sqlite_metadata_connection_config(db)
  LocalDagRunner().run(pipeline.Pipeline(
      pipeline_name=pipeline_name, pipeline_root=os.path.join(root, 'out'),
      components=components, metadata_connection_config=config))
  store = metadata_store.MetadataStore(config)
  found = {}
  for artifact in store.get_artifacts_by_type('Examples'):
    component = os.path.relpath(artifact.uri, os.path.join(root, 'out'))
    found[component.split(os.sep)[0]] = artifact
  return found


def read_splits(artifact) -> tuple:
  """split -> Counter of its examples, each re-serialized deterministically;
  and the raw records."""
  import tensorflow as tf
  from tfx.types import artifact_utils
  names = artifact_utils.decode_split_names(
      artifact.properties['split_names'].string_value)
  splits, raw = {}, {}
  for name in names:
    files = sorted(glob.glob(os.path.join(artifact.uri, f'Split-{name}', '*')))
    records = [r for f in files for r in tf.data.TFRecordDataset(
        f, compression_type='GZIP').as_numpy_iterator()]
    raw[name] = records
    splits[name] = collections.Counter(
        tf.train.Example.FromString(r).SerializeToString(deterministic=True)
        for r in records)
  return splits, raw


def assert_same(runs, name: str, theirs: str = 'tfx', ours: str = 'columnar'
                ) -> dict:
  tfx, columnar = runs[f'{theirs}_{name}'], runs[f'{ours}_{name}']
  expected, _ = read_splits(tfx)
  got, raw = read_splits(columnar)
  assert list(got) == list(expected)
  for split in expected:
    assert got[split] == expected[split], split
    # Written as protobuf's deterministic serialization, the bytes hashed.
    assert collections.Counter(raw[split]) == got[split], split
  # split_names; span, version, input_fingerprint, payload and file format
  assert dict(columnar.properties) == dict(tfx.properties)
  assert dict(columnar.custom_properties) == dict(tfx.custom_properties)
  return expected
