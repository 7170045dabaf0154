"""ColumnarCsvExampleGen gives CsvExampleGen's examples in CsvExampleGen's
splits (issue 23).

The e2e tests run TFX's CsvExampleGen and ColumnarCsvExampleGen side by
side in one LocalDagRunner pipeline (real drivers, executors, Beam and ML
Metadata) on CSVs written here to be awkward, and compare every split as a
multiset of examples. The unit tests pin each piece to TFX's own code:
type inference to tfx_bsl's, cell parsing to TFX's CSV reader, the example
bytes to protobuf's deterministic serialization.
"""

import collections
import csv
import os
import random

import pytest
from example_gens import assert_same, read_splits, run_example_gens
from tfx.components.example_gen.base_example_gen_executor import (
  BaseExampleGenExecutor,
)
from tfx.dsl.components.base import executor_spec

import fluent_pipeline  # noqa: F401  (selects tf-keras before TF loads)
from fluent_pipeline.components import (
  _csv_files,
  _csv_types,
  _example_bytes,
  columnar_csv,
)
from fluent_pipeline.components._csv_types import ColumnType

CsvInputError = columnar_csv.CsvInputError

# ----------------------------------------------------------------- the data

# Each folder is an input split of the corpus run; its name says what it is.
CORPUS = {
    'types': (
        'i2f,f2s,huge,edges,no_value,gaps,py_int,py_float,blank,udigit,hex,'
        'mixed\n'
        '1,1.5,1,-9223372036854775808,,7, 12 ,inf,  ,\u0663,0x10,1\n'
        '2,2,99999999999999999999,9223372036854775807,,, +5,-nan, ,4,1,x\n'
        '3.5,abc,3,0,,-1,1_000,1e400,,5,2,\n'
        '4,1e-3,-4,-0,,0,007,Infinity,,6,3,2.5\n'
        '5,.5,5,1,,,-0,3.4028235677973366e38,,7,4,-\n'
        '6,5.,6,2,,12,+0,-3.4028235677973366e38,,8,5,.\n'
        '7,-2.5e+10,7,3,,, -12\t,1_0.5,,9,6,nan\n'
        '8,1.7976931348623157e308,8,4,,,1,  2.5  ,,0,7,inf\n'),
    'quoting': (
        'id,text,num\r\n'
        '1,"a, b",1.5\r\n'
        '2,"line1\r\nline2",2\r\n'
        '3,"say ""hi""",\r\n'
        '4,"",3\r\n'
        '\r\n'
        '5,\u00e9\u65e5\u672c\U0001F600,4\r\n'
        '6,"multi\nline\n\nLF",5\r\n'
        '7,x"y"z,6\r\n'
        '8,"ab"cd,7\r\n'
        '9, "spaced" ,8'),  # no line break at the end
    'odd_names': (
        'a,b,a,,' + 'k' * 200 + '\n'
        '1,x,,q,' + 'v' * 300 + '\n'
        ',y,2,,' + 'w' * 20000 + '\n'
        '3,,4.5,r,\n'),
    'one_column': 'only\n1\n\n""\n2\n\n',
    'header_only': 'a,b,c\n',
}
# A split read from several files, whose types widen across them.
SEVERAL = {
    'a.csv': 'v,w\n1,x\n2,y\n',
    'b.csv': 'v,w\n2.5,z\n,\n',
    'c.csv': 'v,w\n',
}


def write_corpus(root: str) -> dict:
  for name, text in CORPUS.items():
    os.makedirs(os.path.join(root, name))
    with open(os.path.join(root, name, 'data.csv'), 'w', encoding='utf-8',
              newline='') as f:
      f.write(text)
  os.makedirs(os.path.join(root, 'several'))
  for name, text in SEVERAL.items():
    with open(os.path.join(root, 'several', name), 'w', newline='') as f:
      f.write(text)
  return {'splits': [{'name': name, 'pattern': f'{name}/*'}
                     for name in [*CORPUS, 'several']]}


def _text(rng: random.Random) -> str:
  pieces = ['a', 'b', ' ', ',', '"', '\n', '\r\n', '\u00e9', '\u65e5',
            '\U0001F600', 'x' * 150, '0', '1.5']
  return ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))


def write_mixed(root: str) -> str:
  """Two files of 300 random awkward rows (LF, then CRLF): the data the
  hash and partition splits are compared on. Columns: ints with gaps
  (up to int64's ends), floats in every spelling, free text (quoted commas,
  quotes, line breaks, unicode), a category, a column typed STRING by one
  huge integer, one without any value, one typed FLOAT by its last cell."""
  os.makedirs(root)
  rng = random.Random(23)
  header = ['int_gaps', 'float_col', 'text', 'category', 'huge', 'no_value',
            'late_float']
  floats = ['0.1', '1e-5', '-3', '12', 'nan', 'inf', '-0.0', '1_0.5',
            ' 2.5', '1.', '.25', '-1E+3', '1234567890123456789.5']
  for index, ending in enumerate(['\n', '\r\n']):
    rows = []
    for i in range(300):
      rows.append([
          '' if rng.random() < 0.2 else str(rng.choice(
              [rng.randint(-100, 100), rng.randint(-2 ** 63, 2 ** 63 - 1)])),
          rng.choice(floats) if rng.random() < 0.9 else '',
          _text(rng),
          rng.choice(['cash', 'card', '\u00e9', '\u65e5\u672c', '']),
          str(2 ** 64) if (index, i) == (0, 150) else str(rng.randint(0, 9)),
          '',
          '2.5' if (index, i) == (1, 299) else str(i),
      ])
    path = os.path.join(root, f'part-{index}.csv')
    with open(path, 'w', encoding='utf-8', newline='') as f:
      writer = csv.writer(f, lineterminator=ending)
      writer.writerow(header)
      writer.writerows(rows)
  return root


def write_spans(root: str) -> str:
  """Span 1 in two versions (2 is the latest), span 2 in one."""
  for folder, rows in [('span-1/ver-1', 'w,0\n'),
                       ('span-1/ver-2', 'x,1\ny,2\n'),
                       ('span-2/ver-1', 'z,3.5\n')]:
    os.makedirs(os.path.join(root, folder))
    with open(os.path.join(root, folder, 'data.csv'), 'w') as f:
      f.write('name,value\n' + rows)
  return root


# ----------------------------------------------------------------- the runs


def _example_gens(name: str, **kwargs):
  """CsvExampleGen and ColumnarCsvExampleGen on the same arguments."""
  from tfx.components import CsvExampleGen
  return [CsvExampleGen(**kwargs).with_id(f'tfx_{name}'),
          columnar_csv.ColumnarCsvExampleGen(**kwargs).with_id(
              f'columnar_{name}')]


class _BasePathExecutor(columnar_csv.Executor):
  """BaseExampleGenExecutor's own Do: its per-record path (partition, then
  WriteSplit), fed by our GetInputSourceToExamplePTransform."""
  Do = BaseExampleGenExecutor.Do


class _BasePathExampleGen(columnar_csv.ColumnarCsvExampleGen):
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(_BasePathExecutor)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """Every pair in one pipeline run: the corpus as input splits; the
  mixed data split by hash buckets, by an int and by a string feature;
  spans picked by range_config. Blocks and parts of 4 kB, so types widen
  across blocks and parts as well as across files, and a file is written
  as several shards."""
  from tfx.proto import example_gen_pb2, range_config_pb2
  root = str(tmp_path_factory.mktemp('columnar_csv'))
  corpus = os.path.join(root, 'corpus')
  input_config = write_corpus(corpus)
  mixed = write_mixed(os.path.join(root, 'mixed'))
  spans = write_spans(os.path.join(root, 'spans'))

  def output(**split_config):
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b)
                for n, b in [('train', 4), ('eval', 2), ('test', 1)]],
        **split_config))

  components = [
      *_example_gens('corpus', input_base=corpus, input_config=
                     example_gen_pb2.Input(**input_config)),
      *_example_gens('hash', input_base=mixed, output_config=output()),
      *_example_gens('by_int', input_base=mixed, output_config=output(
          partition_feature_name='int_gaps')),
      *_example_gens('by_str', input_base=mixed, output_config=output(
          partition_feature_name='category')),
      *_example_gens('spans', input_base=spans, input_config=
                     example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
                         name='single_split',
                         pattern='span-{SPAN}/ver-{VERSION}/*')]),
                     range_config=range_config_pb2.RangeConfig(
                         static_range=range_config_pb2.StaticRange(
                             start_span_number=1, end_span_number=1))),
      _BasePathExampleGen(input_base=mixed, output_config=output()).with_id(
          'base_path_hash'),
  ]
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(_csv_files, 'BLOCK_BYTES', 4096)
    patch.setattr(_csv_files, 'PART_BYTES', 4096)
    return run_example_gens(root, components, 'columnar_csv')


# ------------------------------------------------------------- e2e: equal


@pytest.mark.e2e
def test_every_awkward_csv_gives_tfxs_examples_split_by_split(runs):
  expected = assert_same(runs, 'corpus')
  counts = {split: sum(c.values()) for split, c in expected.items()}
  assert counts == {'types': 8, 'quoting': 9, 'odd_names': 3,
                    'one_column': 3, 'header_only': 0, 'several': 4}
  shards = sorted(os.listdir(os.path.join(runs['columnar_corpus'].uri,
                                          'Split-several')))
  assert shards == [f'data_tfrecord-0000{i}-of-00003.gz' for i in range(3)]


@pytest.mark.e2e
def test_the_corpus_types_are_tfxs(runs):
  """A few of the examples themselves, so the equality above is not of two
  equally wrong readers."""
  import tensorflow as tf
  expected, _ = read_splits(runs['columnar_corpus'])
  first = [tf.train.Example.FromString(e) for e in expected['types']]
  row = next(e.features.feature for e in first
             if e.features.feature['i2f'].float_list.value == [1.0])
  assert row['huge'].bytes_list.value == [b'1']
  assert row['edges'].int64_list.value == [-2 ** 63]
  assert not row['no_value'].HasField('kind')  # tf.train.Feature()
  assert row['py_int'].int64_list.value == [12]  # int(b' 12 ')
  assert row['blank'].bytes_list.value == [b'  ']
  assert row['udigit'].bytes_list.value == ['\u0663'.encode()]
  assert row['hex'].bytes_list.value == [b'0x10']
  gaps = [e.features.feature['gaps'] for e in first]
  assert sum(1 for g in gaps if g.HasField('int64_list')
             and not g.int64_list.value) == 4  # an empty cell: []
  several = [tf.train.Example.FromString(e).features.feature['v']
             for e in expected['several']]
  assert sorted(v.float_list.value[0] for v in several
                if v.float_list.value) == [1.0, 2.0, 2.5]


@pytest.mark.e2e
def test_hash_buckets_give_tfxs_splits(runs):
  expected = assert_same(runs, 'hash')
  assert sum(sum(c.values()) for c in expected.values()) == 600
  assert all(expected[s] for s in ('train', 'eval', 'test'))


@pytest.mark.e2e
def test_the_parts_of_a_file_are_written_as_their_own_complete_shards(runs):
  """Two files of ~40 kB in parts of 4 kB: a shard per part and split,
  numbered in order, none left incomplete."""
  folder = os.path.join(runs['columnar_hash'].uri, 'Split-train')
  names = sorted(os.listdir(folder))
  count = len(names)
  assert count > 2 * 4, names
  assert names == [f'data_tfrecord-{i:05d}-of-{count:05d}.gz'
                   for i in range(count)]


@pytest.mark.e2e
def test_partition_feature_gives_tfxs_splits(runs):
  for name in ('by_int', 'by_str'):
    expected = assert_same(runs, name)
    assert sum(sum(c.values()) for c in expected.values()) == 600


@pytest.mark.e2e
def test_spans_and_range_config_keep_their_tfx_meaning(runs):
  expected = assert_same(runs, 'spans')
  properties = runs['columnar_spans'].custom_properties
  assert (properties['span'].int_value, properties['version'].int_value) == (
      1, 2)
  assert sum(sum(c.values()) for c in expected.values()) == 2  # its rows


@pytest.mark.e2e
def test_the_base_executors_own_path_gives_the_same_examples(runs):
  assert_same(runs, 'hash', ours='base_path')


@pytest.mark.e2e
def test_a_ragged_row_fails_the_run_naming_file_line_and_fix(tmp_path):
  data = tmp_path / 'data'
  data.mkdir()
  (data / 'data.csv').write_text('a,b\n1,2\n3,4,5\n6,7\n')
  gen = columnar_csv.ColumnarCsvExampleGen(input_base=str(data))
  with pytest.raises(Exception) as failed:
    run_example_gens(str(tmp_path), [gen], 'columnar_csv')
  message = str(failed.value)
  assert f'{data / "data.csv"} line 3: has 3 fields where the header has 2' \
      in message
  assert 'fix: quote a field that holds a comma' in message
  # Beam's copy of the error keeps its parts, for the run's diagnosis.
  cause = failed.value
  while not isinstance(cause, CsvInputError) and cause is not None:
    cause = cause.__cause__ or cause.__context__
  assert (cause.path, cause.line) == (str(data / 'data.csv'), 3)


# ------------------------------------------------------- unit: the pieces

CELLS = [b'', b'0', b'-0', b'+5', b' 12 ', b'1_000', b'007', b'0x10', b'1e5',
         b'1.', b'.5', b'-.5e-3', b'inf', b'-Infinity', b'nan', b'-nan',
         b'1e400', b'9223372036854775807', b'9223372036854775808',
         b'-9223372036854775808', b'-9223372036854775809', b'1_0.5',
         b' 2.5\t', b'abc', b'\xd9\xa3', b'\xef\xbc\x91', b'  ', b'1,5',
         b'3.4028235677973366e38', b'123456789012345678901234567890',
         b'0.1', b'-', b'.', b'e5']


def test_column_types_are_tfx_bsls():
  from tfx_bsl.coders import csv_decoder
  for kind in ColumnType:
    assert kind == csv_decoder.ColumnType[kind.name]
  for cell in CELLS:
    assert _csv_types.value_type(cell) == csv_decoder._InferValueType(cell), (
        cell)


def _column(values):
  import pyarrow as pa
  return pa.array([v.decode('utf-8') for v in values], pa.string())


def test_a_column_widens_and_parses_as_tfx_does():
  import numpy as np
  import tensorflow as tf
  for cells in [CELLS, [c for c in CELLS if _csv_types.value_type(c)
                        <= ColumnType.FLOAT]]:
    kind = _csv_types.widen(_column(cells), ColumnType.UNKNOWN)
    assert kind == max(_csv_types.value_type(c) for c in cells)
  ints = [c for c in CELLS if _csv_types.value_type(c) == ColumnType.INT]
  values, present = _csv_types.ints(_column([b'', *ints]))
  assert list(values[1:]) == [int(c) for c in ints] and not present[0]
  numbers = [c for c in CELLS
             if _csv_types.value_type(c) in (ColumnType.INT, ColumnType.FLOAT)]
  values, present = _csv_types.floats(_column(numbers))
  stored = tf.train.FloatList(value=[float(c) for c in numbers])  # protobuf's
  assert values.tobytes() == np.array(stored.value, np.float32).tobytes()
  assert present.all()
  # A column typed once stays typed by what it has seen.
  assert _csv_types.widen(_column([b'1']), ColumnType.FLOAT) == \
      ColumnType.FLOAT
  assert _csv_types.widen(_column([b'', b'']), ColumnType.UNKNOWN) == \
      ColumnType.UNKNOWN


def test_random_cells_are_typed_and_parsed_as_python_does():
  """pyarrow parses some cells Python refuses ('0x10') and refuses some it
  takes ('1_0', ' 5'): random strings of number-ish characters, a block of
  each type, against tfx_bsl's rule and Python's int() / float()."""
  import numpy as np
  import tensorflow as tf
  rng = random.Random(5)
  cells = {''.join(rng.choice('0123456789.eE+- xX_infatyINFATY\t')
                   for _ in range(rng.randint(1, 7))).encode()
           for _ in range(20000)}
  by_type = collections.defaultdict(list)
  for cell in sorted(cells):
    by_type[_csv_types.value_type(cell)].append(cell)
  assert len(by_type[ColumnType.INT]) > 100
  assert len(by_type[ColumnType.FLOAT]) > 100
  for kind, block in by_type.items():
    assert _csv_types.widen(_column(block), ColumnType.UNKNOWN) == kind
  ints = by_type[ColumnType.INT]
  assert list(_csv_types.ints(_column(ints))[0]) == [int(c) for c in ints]
  numbers = ints + by_type[ColumnType.FLOAT]
  stored = tf.train.FloatList(value=[float(c) for c in numbers])
  assert (_csv_types.floats(_column(numbers))[0].tobytes() ==
          np.array(stored.value, np.float32).tobytes())


def test_example_bytes_are_protobufs_deterministic_serialization():
  import numpy as np
  import pyarrow as pa
  import tensorflow as tf
  rng = np.random.default_rng(0)
  rows = 500
  ints = rng.integers(-2 ** 63, 2 ** 63 - 1, rows, dtype=np.int64)
  ints[:6] = [0, 127, 128, -1, 2 ** 63 - 1, -2 ** 63]
  floats = (rng.standard_normal(rows) * 10.0 ** rng.integers(
      -30, 30, rows)).astype(np.float32)
  texts = ['x' * int(rng.integers(0, 300)) + '\u00e9,"\n' if i % 9 else ''
           for i in range(rows)]
  texts[1] = 'y' * 20000
  present = rng.random(rows) > 0.2
  long_name = 'k' * 200
  features = [
      (b'zeta', _example_bytes.int64_feature(ints, present)),
      (b'alpha', _example_bytes.float_feature(floats, ~present)),
      ('m\u00e9'.encode(), _example_bytes.bytes_feature(
          pa.array(texts), np.array([bool(t) for t in texts]))),
      (b'M', _example_bytes.no_type_feature(rows)),
      (long_name.encode(), _example_bytes.int64_feature(ints, ~present)),
  ]
  got = _example_bytes.examples(features, rows).to_pylist()
  for i in range(rows):
    def ints_of(mask, i=i):
      return tf.train.Feature(int64_list=tf.train.Int64List(
          value=[int(ints[i])] if mask[i] else []))
    example = tf.train.Example(features=tf.train.Features(feature={
        'zeta': ints_of(present), long_name: ints_of(~present),
        'alpha': tf.train.Feature(float_list=tf.train.FloatList(
            value=[float(floats[i])] if not present[i] else [])),
        'm\u00e9': tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[texts[i].encode()] if texts[i] else [])),
        'M': tf.train.Feature()}))
    assert got[i] == example.SerializeToString(deterministic=True), i
  keys = features[2][1].serialized().to_pylist()
  assert keys[1] == tf.train.Feature(bytes_list=tf.train.BytesList(
      value=[texts[1].encode()])).SerializeToString(deterministic=True)
  assert keys[0] == b'\x0a\x00'  # an empty bytes_list


PARSE_CASES = {
    'quoted comma': b'a,b\n"x,y",1\n',
    'quoted line breaks': b'a,b\r\n"x\r\ny","p\nq\n\nr"\r\n',
    'doubled quotes': b'a,b\n"x""y",""""\n',
    'quotes inside a field': b'a,b\nx"y"z,"ab"cd\n',
    'spaces around quotes': b'a,b\n "ab","cd" \n',
    'blank lines': b'a,b\n1,2\n\n\r\n3,4\n',
    'no final line break': b'a,b\n1,2\n3,4',
    'empty cells': b'a,b\n,\n,1\n"",\n',
    'unicode': 'a,b\n\u00e9,\u65e5\u672c\U0001F600\n'.encode(),
    'spaces': b'a,b\n 1 ,\t2 \n',
    'one column': b'a\n1\n\n""\n \n2\n',
    'header only': b'a,b\n',
    # read in blocks of 32 bytes: a longer row is read again, larger
    'a row longer than a block': (b'a,b\n' + b'1,2\n' * 20 + b'x' * 100
                                  + b',"3\n4"\n' + b'5,6\n' * 20),
    # blocks of 32 bytes end between CR and LF inside a quoted cell
    'quoted CRLFs across blocks': b'a,b\r\n' + b''.join(
        b'%d,"%s\r\n\r\ny"\r\n' % (i, b'x' * i) for i in range(40)),
}


def test_pyarrow_reads_the_cells_tfxs_csv_reader_reads(tmp_path):
  """TFX's own reading code (its executor's line grouping, tfx_bsl's
  parser), called directly, against the blocks pyarrow gives."""
  from tfx.components.example_gen.csv_example_gen import executor
  from tfx_bsl.coders import csv_decoder
  parse = csv_decoder.ParseCSVLine(delimiter=',')
  parse.setup()
  for name, data in PARSE_CASES.items():
    path = str(tmp_path / f'{name}.csv')
    with open(path, 'wb') as f:
      f.write(data)
    columns = len(_csv_files.header(path))
    expected = [cells for record in
                executor._ReadCsvRecordsFromTextFile().process(path)
                for cells, _ in parse.process(record) if cells]
    got = [list(row) for cells in _csv_files.blocks(path, columns, 32)
           for row in zip(*[[v.encode() for v in c.to_pylist()]
                            for c in cells])]
    assert got == expected, name


def test_the_parts_of_a_file_hold_its_records_and_lines(tmp_path):
  """Cut into parts of 1 to 300 bytes, a file is read part by part as it
  is read whole: the same rows in the same order; each part begins at a
  record and knows its first line's number."""
  cases = {**PARSE_CASES, **{n: t.encode() for n, t in CORPUS.items()}}
  for name, data in cases.items():
    path = str(tmp_path / 'data.csv')
    with open(path, 'wb') as f:
      f.write(data)
    columns = len(_csv_files.header(path))

    def rows(part=None, path=path, columns=columns):
      return [row for cells in _csv_files.blocks(path, columns, 64, part=part)
              for row in zip(*[c.to_pylist() for c in cells])]
    whole = rows()
    for size in (1, 7, 50, 300):
      parts = _csv_files.parts(path, size)
      assert parts[0].start == data.index(b'\n') + 1 or len(parts) == 1
      assert parts[-1].stop == len(data), name
      assert all(a.stop == b.start for a, b in zip(parts, parts[1:])), name
      assert [row for part in parts for row in rows(part)] == whole, (name,
                                                                     size)
      assert [p.line for p in parts] == [
          data[:p.start].count(b'\n') + 1 for p in parts], name


def test_a_bad_line_in_a_later_part_is_named_by_its_file_line(tmp_path):
  path = str(tmp_path / 'data.csv')
  with open(path, 'wb') as f:
    f.write(b'a,b\n' + b'1,"x\ny"\n' * 30 + b'3,4,5\n' + b'6,7\n' * 5)
  parts = _csv_files.parts(path, 40)
  assert len(parts) > 3
  with pytest.raises(CsvInputError) as failed:
    for part in parts:
      columnar_csv._part_types(path, part, 2)
  assert (failed.value.line, failed.value.problem) == (
      62, 'has 3 fields where the header has 2')


@pytest.mark.parametrize('data, line, problem, fix', [
    (b'a,b\n1,2\n3,4,5\n', 3, 'has 3 fields where the header has 2',
     'quote a field that holds a comma'),
    (b'a,b\n1,2\n3\n', 3, 'has 1 fields where the header has 2',
     'give the row 2 fields'),
    (b'a,b\n1,2\n"x\ny,3\n', 3, 'has a quote that is never closed',
     'quote a field'),
    # pyarrow reads these two; CsvExampleGen does not.
    (b'a,b\n1,5" x\n3,4\n5,6\n', 2, 'has a quote that is never closed',
     'quote a field'),
    (b'a,b\n1,2\n3,4\r5,6\n', 3, 'has a carriage return',
     'end lines with'),
    (b'a,b\n1,x"y\n2,"z\n"\n', 2,
     'joins lines 2-3 into one row and cannot parse it', 'quote a field'),
    (b'a,b\n1,2\ncaf\xe9,3\n', 3, 'is not UTF-8 text',
     'save the file as UTF-8'),
    (b'a,b\n1,x\x00y\n', 2, 'holds a NUL byte', 'remove the NUL bytes'),
    (b'caf\xe9,b\n1,2\n', 1, 'the header is not UTF-8 text',
     'save the file as UTF-8'),
])
def test_bad_input_names_the_file_the_line_and_the_fix(tmp_path, data, line,
                                                      problem, fix):
  path = str(tmp_path / 'data.csv')
  with open(path, 'wb') as f:
    f.write(data)
  with pytest.raises(CsvInputError) as failed:
    columnar_csv._file_types((0, path), len(_csv_files.header(path)))
  assert str(failed.value).startswith(f'{path} line {line}: ')
  assert problem in str(failed.value)
  assert f'\n  fix: {fix}' in str(failed.value)
  assert (failed.value.path, failed.value.line) == (path, line)


def test_an_unreadable_file_is_named_with_the_fix(tmp_path):
  for path in [tmp_path / 'folder.csv', tmp_path / 'dangling.csv']:
    if path.name == 'folder.csv':
      path.mkdir()
    else:
      path.symlink_to(tmp_path / 'gone.csv')
    with pytest.raises(CsvInputError, match=f'^{path}: cannot be read'
                       ) as failed:
      columnar_csv._file_types((0, str(path)),
                               len(_csv_files.header(str(path))))
    assert 'fix: make the file readable' in str(failed.value)


def test_the_files_of_a_split_need_one_header(tmp_path):
  from tfx.proto import example_gen_pb2
  (tmp_path / 'a.csv').write_text('x,y\n1,2\n')
  (tmp_path / 'b.csv').write_text('x,z\n1,2\n')
  with pytest.raises(CsvInputError, match=r"b\.csv line 1: its header "
                     r"\['x', 'z'\] differs from that of .*a\.csv"):
    columnar_csv._source(str(tmp_path), example_gen_pb2.Input.Split(
        name='s', pattern='*.csv'), ['out'], [], None)


@pytest.mark.parametrize('name, problem', [
    ('f', "partition_feature_name 'f' holds floats"),
    ('e', "partition_feature_name 'e' has no value in any row"),
    ('nope', "partition_feature_name 'nope' is not a column"),
])
def test_a_partition_feature_tfx_refuses_is_named(tmp_path, name, problem):
  path = str(tmp_path / 'data.csv')
  with open(path, 'w') as f:
    f.write('i,f,e\n1,1.5,\n')
  header = _csv_files.header(path)
  types = columnar_csv._file_types((0, path), len(header))
  with pytest.raises(CsvInputError, match=problem):
    list(columnar_csv._encoded_blocks(path, header, types, name))


def test_it_is_csv_example_gen_with_another_executor():
  from tfx.components import CsvExampleGen
  ours = columnar_csv.ColumnarCsvExampleGen(input_base='/data')
  theirs = CsvExampleGen(input_base='/data')
  assert ours.id == 'ColumnarCsvExampleGen'
  assert ours.with_id('CsvExampleGen').id == 'CsvExampleGen'
  assert type(ours.spec) is type(theirs.spec)
  assert ours.driver_class is theirs.driver_class
  assert ours.exec_properties == theirs.exec_properties
  assert issubclass(columnar_csv.Executor, BaseExampleGenExecutor)
  assert ours.executor_spec.executor_class is columnar_csv.Executor


def test_a_remote_input_and_output_read_and_write_as_local_ones(tmp_path):
  """A URI (here TF's in-memory `ram://` file system, as gs:// goes through
  the same file API) is read and written like a local path: the same
  examples in the same splits."""
  import tensorflow as tf
  from tfx.components.example_gen import utils
  from tfx.proto import example_gen_pb2
  from tfx.types import standard_artifacts
  from tfx.utils import proto_utils
  text = 'a,b,c\n' + ''.join(f'{i},"x, {i}",{i * 0.5}\n' for i in range(40))
  (tmp_path / 'in').mkdir()
  (tmp_path / 'in' / 'data.csv').write_text(text)
  remote = f'ram://remote_{os.getpid()}'
  with tf.io.gfile.GFile(f'{remote}/in/data.csv', 'w') as f:
    f.write(text)

  def ingest(base: str, out: str):
    examples = standard_artifacts.Examples()
    examples.uri = out
    output = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name='train', hash_buckets=2),
                example_gen_pb2.SplitConfig.Split(name='eval', hash_buckets=1)]))
    columnar_csv.Executor().Do({}, {'examples': [examples]}, {
        'input_base': base,
        'input_config': proto_utils.proto_to_json(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name='s', pattern='*')])),
        'output_config': proto_utils.proto_to_json(output),
        'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE,
        'output_file_format': example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        utils.SPAN_PROPERTY_NAME: 0, utils.FINGERPRINT_PROPERTY_NAME: ''})
    found = {}
    for split in ('train', 'eval'):
      files = tf.io.gfile.glob(f'{out}/Split-{split}/*')
      found[split] = collections.Counter(
          r.numpy() for r in tf.data.TFRecordDataset(files, 'GZIP'))
    return found

  local = ingest(str(tmp_path / 'in'), str(tmp_path / 'out'))
  assert sum(len(c) for c in local.values()) == 40
  assert ingest(f'{remote}/in', f'{remote}/out') == local
