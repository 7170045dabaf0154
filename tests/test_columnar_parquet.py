"""The columnar Parquet executor gives the examples of TFX's parquet executor
in its splits (issue 23).

The e2e test runs FileBasedExampleGen with TFX's parquet executor and with
fluent_pipeline's columnar one side by side in one LocalDagRunner pipeline
(real drivers, executors, Beam and ML Metadata) on Parquet files written
here to be awkward, and compares every split as a multiset of examples. The
unit tests pin the example bytes to TFX's own dict_to_example, row by row,
and check that what TFX cannot read fails with the file, column and fix.
"""

import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from example_gens import assert_same, run_example_gens

import fluent_pipeline  # noqa: F401  (selects tf-keras before TF loads)
from fluent_pipeline.components import columnar_parquet

ParquetInputError = columnar_parquet.ParquetInputError

# ----------------------------------------------------------------- the data


def awkward_table(rows: int = 12) -> pa.Table:
  """Every column type the executors convert, with the values TFX treats
  specially: null, 0, -0.0, False, '' and [] (an empty Feature), NaN,
  floats beyond float32, int64's ends, unicode, a dictionary column, lists,
  a column with no value at all."""
  def cycle(values):
    return [values[i % len(values)] for i in range(rows)]
  return pa.table({
      'i64': pa.array(cycle([0, -5, None, 2 ** 63 - 1, -2 ** 63, 1]),
                      pa.int64()),
      'i8': pa.array(cycle([1, 0, -1, None, 127]), pa.int8()),
      'u32': pa.array(cycle([0, 2 ** 32 - 1, None]), pa.uint32()),
      'u64': pa.array(cycle([0, 2 ** 63 - 1, None, 5]), pa.uint64()),
      'flag': pa.array(cycle([True, False, None])),
      'f64': pa.array(cycle([0.0, -0.0, float('nan'), None, 1e39, 1e-50,
                             -2.5, float('inf')])),
      'f32': pa.array(cycle([1.5, 0, None, -2.25, 3.4e38, 1e-3]),
                      pa.float32()),
      'text': pa.array(cycle(['', None, 'h\u00e9llo, "x"\nnew', 'a',
                              'b' * 200, '\U0001F600'])),
      'raw': pa.array(cycle([b'', None, b'abc', '\u00fc'.encode()]),
                      pa.binary()),
      'large': pa.array(cycle(['x', None, '']), pa.large_string()),
      'nothing': pa.array([None] * rows, pa.null()),
      'category': pa.array(cycle(['x', 'y', None, ''])).dictionary_encode(),
      'ints': pa.array(cycle([[], None, [0, 1], [-3], [2 ** 40]]),
                       pa.list_(pa.int64())),
      'strings': pa.array(cycle([['a'], [], None, ['', '\u65e5']]),
                          pa.list_(pa.string())),
      'floats': pa.array(cycle([[0.5], [], None, [1.0, 0.0], [1e39]]),
                         pa.list_(pa.float64())),
      'when': pa.array([None] * rows, pa.timestamp('s')),
      '': pa.array(cycle([1, 2])),  # an empty column name
  })


def write_awkward(root: str) -> str:
  """Two files of one split, in row groups of 5; the second also holds a
  pandas index column and lacks some columns (each file is read with its
  own columns, as Beam's ReadFromParquet does)."""
  os.makedirs(root)
  pq.write_table(awkward_table(), os.path.join(root, 'a.parquet'),
                 row_group_size=5)
  other = awkward_table(7).select(['i64', 'f64', 'text', 'ints'])
  other = other.append_column('__index_level_0__',
                              pa.array(range(100, 107), pa.int64()))
  pq.write_table(other, os.path.join(root, 'b.parquet'))
  pq.write_table(awkward_table(0), os.path.join(root, 'empty.parquet'))
  return root


def write_mixed(root: str) -> str:
  """Two files of 300 random rows each, to compare hash and partition
  splits on: `key` and `name` are never false (TFX refuses a partition
  feature without a value)."""
  os.makedirs(root)
  rng = random.Random(23)
  for index in range(2):
    rows = 300
    pq.write_table(pa.table({
        'key': [rng.choice([rng.randint(1, 50), rng.randint(-2 ** 63, -1)])
                for _ in range(rows)],
        'name': [rng.choice(['cash', 'card', '\u00e9', '\u65e5\u672c'])
                 + str(rng.randint(0, 20)) for _ in range(rows)],
        'value': [rng.choice([None, 0.0, rng.random(), -rng.random() * 1e6])
                  for _ in range(rows)],
        'count': [rng.choice([None, 0, rng.randint(-9, 9)])
                  for _ in range(rows)],
        'note': [rng.choice(['', None, 'a,b', '"q"', 'x' * 150])
                 for _ in range(rows)],
    }), os.path.join(root, f'part-{index}.parquet'), row_group_size=64)
  return root


# ----------------------------------------------------------------- the runs


def _example_gens(name: str, **kwargs):
  """FileBasedExampleGen with TFX's parquet executor and with ours."""
  from tfx.components import FileBasedExampleGen
  from tfx.components.example_gen.custom_executors import parquet_executor
  from tfx.dsl.components.base import executor_spec
  return [FileBasedExampleGen(
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor),
      **kwargs).with_id(f'{kind}_{name}')
          for kind, executor in [('tfx', parquet_executor.Executor),
                                 ('columnar', columnar_parquet.Executor)]]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """Every pair in one pipeline run: the awkward files and the mixed data
  as two input splits; the mixed data split by hash buckets, by an int and
  by a string feature. Every row group is a part of its own."""
  from tfx.proto import example_gen_pb2
  root = str(tmp_path_factory.mktemp('columnar_parquet'))
  data = os.path.join(root, 'data')
  write_awkward(os.path.join(data, 'awkward'))
  mixed = write_mixed(os.path.join(data, 'mixed'))

  def output(**split_config):
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b)
                for n, b in [('train', 4), ('eval', 2), ('test', 1)]],
        **split_config))

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(columnar_parquet, '_PART_BYTES', 1)
    return _run(root, data, mixed, output)


def _run(root, data, mixed, output):
  from tfx.proto import example_gen_pb2
  return run_example_gens(root, [
      *_example_gens('inputs', input_base=data, input_config=
                     example_gen_pb2.Input(splits=[
                         example_gen_pb2.Input.Split(name=n, pattern=f'{n}/*')
                         for n in ('awkward', 'mixed')])),
      *_example_gens('hash', input_base=mixed, output_config=output()),
      *_example_gens('by_int', input_base=mixed, output_config=output(
          partition_feature_name='key')),
      *_example_gens('by_str', input_base=mixed, output_config=output(
          partition_feature_name='name')),
  ], 'columnar_parquet')


# ------------------------------------------------------------- e2e: equal


@pytest.mark.e2e
def test_awkward_parquet_gives_tfxs_examples_split_by_split(runs):
  splits = assert_same(runs, 'inputs')
  assert sum(splits['awkward'].values()) == 12 + 7
  assert sum(splits['mixed'].values()) == 600


@pytest.mark.e2e
@pytest.mark.parametrize('name', ['hash', 'by_int', 'by_str'])
def test_hash_buckets_and_partition_features_give_tfxs_splits(runs, name):
  splits = assert_same(runs, name)
  sizes = [sum(c.values()) for c in splits.values()]
  assert sum(sizes) == 600 and all(sizes), sizes  # every split has examples


@pytest.mark.e2e
def test_each_row_group_is_written_as_its_own_complete_shard(runs):
  """Two files of 5 row groups each (parts of one row group here)."""
  folder = os.path.join(runs['columnar_hash'].uri, 'Split-train')
  assert sorted(os.listdir(folder)) == [
      f'data_tfrecord-{i:05d}-of-00010.gz' for i in range(10)]


def test_a_file_is_cut_into_parts_of_whole_row_groups(tmp_path, monkeypatch):
  path = str(tmp_path / 'a.parquet')
  pq.write_table(awkward_table(24), path, row_group_size=5)
  metadata = pq.ParquetFile(path).metadata
  monkeypatch.setattr(columnar_parquet, '_PART_BYTES', sum(
      metadata.row_group(g).total_byte_size for g in (0, 1)))
  parts = columnar_parquet._row_groups(path)
  assert parts[0] == (0, 2) and parts[-1][1] == 5
  assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
  whole = _ours(path)
  assert [row for part in parts for row in _ours(path, None, part)] == whole
  monkeypatch.setattr(columnar_parquet, '_PART_BYTES', 1 << 40)
  monkeypatch.setattr(columnar_parquet, '_PART_ROWS', 10)  # or by rows
  assert columnar_parquet._row_groups(path) == [(0, 2), (2, 4), (4, 5)]
  empty = str(tmp_path / 'empty.parquet')
  pq.write_table(awkward_table(0), empty)
  assert [list(_ours(empty, None, p)) for p in
          columnar_parquet._row_groups(empty)] == [[]]


# ------------------------------------------------------- unit: the pieces


def _tfx_examples(path: str) -> list:
  """What TFX's parquet executor makes of each row: Beam's row dicts
  (a table's to_pydict, row by row), through dict_to_example."""
  from tfx.components.example_gen import utils
  return [utils.dict_to_example(row).SerializeToString(deterministic=True)
          for row in pq.read_table(path).to_pylist()]


def _ours(path: str, partition_feature=None, groups=None) -> list:
  return [(r, k) for records, keys in columnar_parquet._encoded_batches(
      path, partition_feature, groups) for r, k in zip(records.to_pylist(),
                                                       keys.to_pylist())]


def test_example_bytes_are_dict_to_examples_row_by_row(tmp_path, monkeypatch):
  """Every type and edge value, across batches (of 5 rows here): the bytes
  equal protobuf's deterministic serialization of TFX's example."""
  monkeypatch.setattr(columnar_parquet, '_BATCH_ROWS', 5)
  path = str(tmp_path / 'a.parquet')
  pq.write_table(awkward_table(24), path)
  ours = [record for record, _ in _ours(path)]
  assert ours == _tfx_examples(path)
  import tensorflow as tf
  first = tf.train.Example.FromString(ours[0]).features.feature
  # TFX's rule, kept: a false value (0, False, '') is an empty Feature.
  assert not first['i64'].HasField('kind')
  assert first['flag'].int64_list.value == [1]
  assert list(first['ints'].int64_list.value) == []


def test_a_partition_key_is_the_features_bytes(tmp_path):
  import tensorflow as tf
  path = str(tmp_path / 'a.parquet')
  pq.write_table(pa.table({'k': [3, -7], 'v': ['a', 'b']}), path)
  for record, key in _ours(path, 'k'):
    feature = tf.train.Example.FromString(record).features.feature['k']
    assert key == feature.SerializeToString(deterministic=True)


@pytest.mark.parametrize('column, problem', [
    (pa.array([b'ok', b'\xff\xfe'], pa.binary()),
     "column 'c' (binary) holds bytes that are not UTF-8"),
    (pa.array([1, 2 ** 64 - 1], pa.uint64()),
     "column 'c' (uint64) holds 18446744073709551615, beyond int64"),
    (pa.array([[1, None]], pa.list_(pa.int64())),
     "column 'c' (list<item: int64>) holds [1, None], which TFX's parquet "
     'executor cannot convert'),
    (pa.array([[b'x']], pa.list_(pa.binary())),
     "column 'c' (list<item: binary>) holds [b'x']"),
])
def test_what_tfx_cannot_convert_fails_naming_file_column_and_fix(
    tmp_path, column, problem):
  """TFX's executor fails on each of these too (UnicodeDecodeError,
  ValueError, TypeError, RuntimeError); here the failure says where."""
  from tfx.components.example_gen import utils
  path = str(tmp_path / 'a.parquet')
  pq.write_table(pa.table({'c': column}), path)
  with pytest.raises(Exception):  # noqa: B017 - TFX's own, various
    for row in pq.read_table(path).to_pylist():
      utils.dict_to_example(row)
  with pytest.raises(ParquetInputError) as failed:
    _ours(path)
  assert str(failed.value).startswith(f'{path}: {problem}'), failed.value
  assert '\n  fix: ' in str(failed.value)


def test_a_partition_feature_without_a_value_is_refused(tmp_path):
  """TFX: 'Partition feature does not contain any value.' (a 0 is none)."""
  path = str(tmp_path / 'a.parquet')
  pq.write_table(pa.table({'k': [3, 0], 'f': [1.5, 2.5]}), path)
  keys = [key for _, key in _ours(path, 'k')]
  with pytest.raises(ParquetInputError, match="'k' has a row with no value"):
    columnar_parquet._check_keys(keys, 'k', path)
  keys = [key for _, key in _ours(path, 'f')]
  with pytest.raises(ParquetInputError, match="'f' holds floats"):
    columnar_parquet._check_keys(keys, 'f', path)
  with pytest.raises(ParquetInputError, match="'z' is not a column"):
    _ours(path, 'z')


def test_a_file_that_is_not_parquet_is_named_with_the_fix(tmp_path):
  path = tmp_path / 'a.parquet'
  path.write_text('a,b\n1,2\n')
  with pytest.raises(ParquetInputError) as failed:
    _ours(str(path))
  assert str(failed.value).startswith(f'{path}: not a readable Parquet file')
  assert 'fix: check that the file is Parquet' in str(failed.value)
