"""FilterExamples and StratifiedSample, run for real on the taxi sample.

Hand-wired TFX pipelines (CsvExampleGen -> the components) on
LocalDagRunner: one run with one Beam worker, one with two worker processes
(the same samples must come out), one whose predicate keeps nothing. Each
batch function (a DataFrame per block) runs beside its per-record form,
and both must keep the same examples. What
the components wrote is read back and checked against the input examples,
computed here independently.
"""

import collections
import hashlib
import json
import math
import os
import struct

import dataset_fns
import pytest

from fluent_pipeline.components import filter_examples, stratified_sample

FNS = os.path.abspath(dataset_fns.__file__)
NAME = 'dataset_components'
ONE_WORKER = ['--direct_num_workers=1']
TWO_PROCESSES = ['--direct_num_workers=2',
                 '--direct_running_mode=multi_processing']
SAMPLES_PER_KEY, FRACTION = 5, 0.3


# --- running pipelines and reading what they wrote ---------------------------


def _run(root, data, make_components):
  """Runs CsvExampleGen -> make_components(examples); the example gen comes
  from cache after the first run (same pipeline, root and store)."""
  from tfx import v1 as tfx
  example_gen = tfx.components.CsvExampleGen(input_base=data)
  components = make_components(example_gen.outputs['examples'])
  tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
      pipeline_name=NAME, pipeline_root=os.path.join(root, 'pipeline'),
      components=[example_gen] + components, enable_cache=True,
      metadata_connection_config=_metadata(root)))
  return _outputs(root, ['CsvExampleGen'] + [c.id for c in components])


def _metadata(root):
  from tfx import v1 as tfx
  return tfx.orchestration.metadata.sqlite_metadata_connection_config(
      os.path.join(root, 'metadata.sqlite'))


def _outputs(root, node_ids):
  """node id -> the Examples its latest execution output (an MLMD artifact)."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  store = metadata_store.MetadataStore(_metadata(root))
  result = {}
  for node_id in node_ids:
    context = store.get_context_by_type_and_name('node', f'{NAME}.{node_id}')
    latest = max(store.get_executions_by_context(context.id),
                 key=lambda e: e.id)
    (event,) = [e for e in store.get_events_by_execution_ids([latest.id])
                if e.type == metadata_store_pb2.Event.OUTPUT]
    (result[node_id],) = store.get_artifacts_by_id([event.artifact_id])
  return result


def split_names(artifact):
  return json.loads(artifact.properties['split_names'].string_value)


def counts(artifact):
  return json.loads(artifact.custom_properties['example_counts'].string_value)


def split_dir(artifact, split):
  return os.path.join(artifact.uri, f'Split-{split}')


def records(artifact, split):
  """The serialized records of a split, as written (gzip TFRecords)."""
  import tensorflow as tf
  folder = split_dir(artifact, split)
  files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
  return list(tf.data.TFRecordDataset(files, compression_type='GZIP')
              .as_numpy_iterator())


def features(record):
  """The feature dict the components give user functions, built here:
  string features as str."""
  import tensorflow as tf
  example = tf.train.Example.FromString(record)
  return {name: [v.decode() if isinstance(v, bytes) else v
                 for v in getattr(f, f.WhichOneof('kind')).value]
          if f.WhichOneof('kind') else []
          for name, f in example.features.feature.items()}


def payment_key(record):
  values = features(record).get('payment_type')
  return repr(values[0] if values else None)


def h(seed, record):
  """The component's hash, recomputed: sha256(seed, canonical bytes)."""
  import tensorflow as tf
  canonical = tf.train.Example.FromString(record).SerializeToString(
      deterministic=True)
  return int.from_bytes(hashlib.sha256(
      struct.pack('>q', seed) + canonical).digest()[:8], 'big')


def strata(recs, key):
  groups = collections.defaultdict(list)
  for record in recs:
    groups[key(record)].append(record)
  return groups


# --- the runs ----------------------------------------------------------------


def _first_components(examples):
  fe, ss = filter_examples, stratified_sample
  return [
      fe.FilterExamples(examples, predicate_fn='keep_cash', module_file=FNS,
                        code_sha256='cash', splits=['train'])
      .with_id('filter_cash'),
      fe.FilterExamples(examples, predicate_fn='dataset_fns.keep_long_trips',
                        code_sha256='long').with_id('filter_long'),
      fe.FilterExamples(examples, batch_predicate_fn='batch_keep_cash',
                        module_file=FNS, code_sha256='bcash',
                        splits=['train']).with_id('filter_cash_batch'),
      fe.FilterExamples(examples,
                        batch_predicate_fn='dataset_fns.batch_keep_long_trips',
                        code_sha256='blong').with_id('filter_long_batch'),
  ] + _sample_components(examples) + [
      ss.StratifiedSample(examples, key_feature='payment_type',
                          samples_per_key=SAMPLES_PER_KEY, seed=2)
      .with_id('sample_n_seed2'),
  ]


def _sample_components(examples):
  ss = stratified_sample
  return [
      ss.StratifiedSample(examples, key_feature='payment_type',
                          samples_per_key=SAMPLES_PER_KEY, seed=1)
      .with_id('sample_n'),
      ss.StratifiedSample(examples, key_fn='payment_kind', module_file=FNS,
                          fraction=FRACTION, seed=1, code_sha256='kind',
                          splits=['train']).with_id('sample_frac'),
      ss.StratifiedSample(examples, batch_key_fn='batch_payment_type',
                          module_file=FNS, samples_per_key=SAMPLES_PER_KEY,
                          seed=1, code_sha256='btype')
      .with_id('sample_n_batch'),
      ss.StratifiedSample(examples, batch_key_fn='batch_payment_kind',
                          module_file=FNS, fraction=FRACTION, seed=1,
                          code_sha256='bkind', splits=['train'])
      .with_id('sample_frac_batch'),
  ]


def _with_beam_args(make_components, args):
  return lambda examples: [c.with_beam_pipeline_args(args)
                           for c in make_components(examples)]


@pytest.fixture(scope='module')
def root(tmp_path_factory):
  return str(tmp_path_factory.mktemp('dataset_components'))


@pytest.fixture(scope='module')
def one_worker(root, taxi_sample):
  """The outputs of every component, run with one Beam worker."""
  return _run(root, taxi_sample['data'],
              _with_beam_args(_first_components, ONE_WORKER))


@pytest.fixture(scope='module')
def two_processes(root, taxi_sample, one_worker):
  """The samplers again, on two Beam worker processes."""
  del one_worker  # runs after it, taking its example gen from cache
  return _run(root, taxi_sample['data'],
              _with_beam_args(_sample_components, TWO_PROCESSES))


# --- FilterExamples ----------------------------------------------------------


@pytest.mark.e2e
def test_filter_keeps_exactly_the_examples_the_predicate_accepts(one_worker):
  source, out = one_worker['CsvExampleGen'], one_worker['filter_cash']
  given = records(source, 'train')
  kept = records(out, 'train')
  assert kept and all(dataset_fns.keep_cash(features(r)) for r in kept)
  expected = [r for r in given if dataset_fns.keep_cash(features(r))]
  assert 0 < len(expected) < len(given)
  assert collections.Counter(kept) == collections.Counter(expected)
  assert counts(out) == {'train': {'in': len(given), 'out': len(expected)}}


@pytest.mark.e2e
def test_filter_copies_the_unnamed_splits_byte_for_byte(one_worker):
  source, out = one_worker['CsvExampleGen'], one_worker['filter_cash']
  _assert_same_files(split_dir(source, 'eval'), split_dir(out, 'eval'))


@pytest.mark.e2e
def test_filter_by_dotted_path_filters_every_split(one_worker):
  source, out = one_worker['CsvExampleGen'], one_worker['filter_long']
  for split in split_names(source):
    given = records(source, split)
    kept = [r for r in given if dataset_fns.keep_long_trips(features(r))]
    assert collections.Counter(records(out, split)) == collections.Counter(
        kept)
    assert counts(out)[split] == {'in': len(given), 'out': len(kept)}


@pytest.mark.e2e
def test_outputs_keep_split_names_and_payload_format(one_worker):
  source = one_worker['CsvExampleGen']
  assert split_names(source) == ['train', 'eval']
  for node_id, out in one_worker.items():
    assert split_names(out) == split_names(source), node_id
    assert (out.custom_properties['payload_format'].string_value
            == 'FORMAT_TF_EXAMPLE'), node_id
    for name in ('span', 'version'):  # CsvExampleGen sets neither here
      assert (name in out.properties) == (name in source.properties), node_id
    if node_id != 'CsvExampleGen':
      assert 'example_counts' in out.custom_properties, node_id


@pytest.mark.e2e
def test_a_predicate_keeping_nothing_fails_quoting_the_data(
    root, taxi_sample, one_worker):
  given = records(one_worker['CsvExampleGen'], 'eval')
  payments = collections.Counter(
      features(r)['payment_type'][0] for r in given)
  def make(examples):
    return [filter_examples.FilterExamples(
        examples, predicate_fn='keep_lowercase_cash', module_file=FNS,
        code_sha256='lower', splits=['eval']).with_id('filter_nothing')
                             .with_beam_pipeline_args(ONE_WORKER)]
  with pytest.raises(filter_examples.NothingKept) as error:
    _run(root, taxi_sample['data'], make)
  message = str(error.value)
  assert error.value.split == 'eval' and error.value.count == len(given)
  assert f"of the {len(given):,} examples of split 'eval'" in message
  # The values the predicate's feature holds, as str, most common first.
  (top, n), = payments.most_common(1)
  assert f"features['payment_type'] holds {top!r} ({n})" in message
  assert "b'" not in message
  line = _line_of(dataset_fns.keep_lowercase_cash)
  assert f'keep_lowercase_cash is at {FNS}, line {line}' in message


def _line_of(fn):
  return fn.__code__.co_firstlineno


def _do(executor, source, tmp_path, exec_properties):
  """An executor run in this process on the fixture's examples (a Beam
  pipeline on one split, no TFX run)."""
  from tfx.types import standard_artifacts
  output = standard_artifacts.Examples()
  output.uri = str(tmp_path / 'out')
  executor.Do({'examples': [_artifact(source)]},
              {'reshaped_examples': [output]},
              dict(exec_properties, splits='["eval"]'))
  return output


def _sampler(tmp_path):
  from tfx.dsl.components.base import base_beam_executor
  return stratified_sample.Executor(base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=ONE_WORKER, tmp_dir=str(tmp_path / 'tmp'),
      unique_id='1'))


@pytest.mark.e2e
def test_a_predicate_returning_a_feature_value_fails_naming_it(
    one_worker, tmp_path):
  """The slip `return features['payment_type'][0]`: truthy for every
  example, it would keep them all in silence."""
  with pytest.raises(Exception) as error:
    _do(filter_examples.Executor(), one_worker['CsvExampleGen'], tmp_path,
        {'predicate_fn': 'payment_value', 'module_file': FNS,
         'code_sha256': 'value'})
  message = str(error.value)
  assert 'predicate payment_value returned' in message
  assert "(str, a value of features['payment_type'])" in message
  assert 'not a bool' in message
  assert "features['payment_type'] == [" in message  # the fix, with a value
  line = _line_of(dataset_fns.payment_value) + 2  # its return statement
  assert f'[{FNS}, line {line}]' in message


@pytest.mark.e2e
def test_a_key_function_returning_a_list_fails_naming_it(one_worker,
                                                         tmp_path):
  with pytest.raises(Exception) as error:
    _do(_sampler(tmp_path), one_worker['CsvExampleGen'], tmp_path,
        {'key_fn': 'dataset_fns.payment_list', 'samples_per_key': 2,
         'seed': 0, 'code_sha256': 'list'})
  message = str(error.value)
  assert 'key function payment_list returned [' in message
  assert "(list, a value of features['payment_type'])" in message
  assert "tuple(features['payment_type'])" in message
  path = os.path.abspath(dataset_fns.payment_list.__code__.co_filename)
  line = _line_of(dataset_fns.payment_list) + 2
  assert f'{path}, line {line}]' in message


@pytest.mark.e2e
def test_a_key_feature_no_example_has_fails_naming_the_features(
    one_worker, tmp_path):
  with pytest.raises(stratified_sample.KeyNotAFeature) as error:
    _do(_sampler(tmp_path), one_worker['CsvExampleGen'], tmp_path,
        {'key_feature': 'paymnt_type', 'samples_per_key': 2, 'seed': 0,
         'code_sha256': ''})
  message = str(error.value)
  assert "key 'paymnt_type' is not a feature of split 'eval'" in message
  assert "did you mean 'payment_type'?" in message
  assert 'Its features: ' in message and 'trip_miles' in message


# --- StratifiedSample --------------------------------------------------------


def _expected_bottom_k(recs, seed, n):
  """Per stratum, the n records of smallest (h, record): independently."""
  chosen = []
  for group in strata(recs, payment_key).values():
    chosen += sorted(group, key=lambda r: (h(seed, r), r))[:n]
  return collections.Counter(chosen)


@pytest.mark.e2e
def test_samples_per_key_keeps_min_of_n_and_stratum_size(one_worker):
  source, out = one_worker['CsvExampleGen'], one_worker['sample_n']
  for split in split_names(source):
    given, kept = records(source, split), records(out, split)
    sizes = {k: len(v) for k, v in strata(given, payment_key).items()}
    assert min(sizes.values()) < SAMPLES_PER_KEY < max(sizes.values())
    got = {k: len(v) for k, v in strata(kept, payment_key).items()}
    assert got == {k: min(SAMPLES_PER_KEY, n) for k, n in sizes.items()}
    assert collections.Counter(kept) == _expected_bottom_k(
        given, 1, SAMPLES_PER_KEY)
    assert counts(out)[split] == {'in': len(given), 'out': len(kept),
                                  'per_key': dict(sorted(got.items()))}


@pytest.mark.e2e
def test_fraction_keeps_about_that_share_of_every_stratum(one_worker):
  source, out = one_worker['CsvExampleGen'], one_worker['sample_frac']
  given, kept = records(source, 'train'), records(out, 'train')
  def kind(r):
    return repr(dataset_fns.payment_kind(features(r)))
  sizes = {k: len(v) for k, v in strata(given, kind).items()}
  got = {k: len(v) for k, v in strata(kept, kind).items()}
  for key, n in sizes.items():
    spread = 4 * math.sqrt(n * FRACTION * (1 - FRACTION)) + 1
    assert abs(got[key] - FRACTION * n) <= spread, (key, got[key], n)
  expected = [r for r in given if h(1, r) < FRACTION * 2**64]
  assert collections.Counter(kept) == collections.Counter(expected)
  assert counts(out) == {'train': {'in': len(given), 'out': len(kept),
                                   'per_key': got}}
  _assert_same_files(split_dir(source, 'eval'), split_dir(out, 'eval'))


@pytest.mark.e2e
def test_same_seed_same_sample_on_two_worker_processes(one_worker,
                                                       two_processes):
  for node_id in ('sample_n', 'sample_frac', 'sample_n_batch',
                  'sample_frac_batch'):
    a, b = one_worker[node_id], two_processes[node_id]
    assert a.uri != b.uri, 'the second run must not come from cache'
    for split in split_names(a):
      assert collections.Counter(records(a, split)) == collections.Counter(
          records(b, split)), (node_id, split)
    assert counts(a) == counts(b)


@pytest.mark.e2e
def test_another_seed_another_sample(one_worker):
  a, b = one_worker['sample_n'], one_worker['sample_n_seed2']
  assert collections.Counter(records(a, 'train')) != collections.Counter(
      records(b, 'train'))
  assert counts(a) == counts(b)  # same sizes per key, other examples


# --- the batch forms ----------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize('per_record, batch', [
    ('filter_cash', 'filter_cash_batch'),  # module_file, one split
    ('filter_long', 'filter_long_batch'),  # dotted path, every split
    ('sample_n', 'sample_n_batch'),  # key_feature / a batch key function
    ('sample_frac', 'sample_frac_batch'),  # key_fn / its batch form
])
def test_a_batch_function_keeps_what_its_per_record_form_keeps(
    one_worker, per_record, batch):
  """The same examples, byte for byte, and the same counts per key."""
  a, b = one_worker[per_record], one_worker[batch]
  for split in split_names(a):
    assert collections.Counter(records(a, split)) == collections.Counter(
        records(b, split)), split
  assert counts(a) == counts(b)
  assert all(c['out'] < c['in'] for c in counts(b).values())


@pytest.mark.e2e
def test_a_batch_predicate_returning_rows_fails_naming_it(one_worker,
                                                          tmp_path):
  """The slip `return df[df.payment_type == 'Cash']`: the rows, not the
  mask."""
  with pytest.raises(Exception) as error:
    _do(filter_examples.Executor(), one_worker['CsvExampleGen'], tmp_path,
        {'batch_predicate_fn': 'batch_rows', 'module_file': FNS,
         'code_sha256': 'rows'})
  message = str(error.value)
  assert 'batch predicate batch_rows returned a DataFrame of ' in message
  assert 'not a boolean mask of ' in message
  assert ('return the condition itself (df.trip_seconds > 0), not the rows '
          'it selects') in message
  line = _line_of(dataset_fns.batch_rows) + 2
  assert f'[{FNS}, line {line}]' in message


@pytest.mark.e2e
def test_a_batch_key_with_missing_values_fails_naming_the_row(one_worker,
                                                              tmp_path):
  with pytest.raises(Exception) as error:
    _do(_sampler(tmp_path), one_worker['CsvExampleGen'], tmp_path,
        {'batch_key_fn': 'dataset_fns.batch_company', 'samples_per_key': 2,
         'seed': 0, 'code_sha256': 'company'})
  message = str(error.value)
  assert "batch key function batch_company returned a Series of " in message
  assert "df['company']" in message
  assert 'holds None (NoneType); fill missing values first' in message


# --- errors found without a run ----------------------------------------------


def _examples_channel():
  from tfx.types import channel, standard_artifacts
  return channel.Channel(type=standard_artifacts.Examples)


@pytest.mark.parametrize('kwargs, message', [
    ({}, 'predicate_fn is required'),
    ({'predicate_fn': 'keep_cash'}, 'give a dotted path'),
    ({'predicate_fn': 'a.b', 'module_file': FNS}, 'not a dotted path'),
    ({'predicate_fn': 'a.b', 'splits': 'train'}, 'list of split names'),
    ({'predicate_fn': 'a.b', 'batch_predicate_fn': 'a.c'}, 'not both'),
    ({'batch_predicate_fn': 'keep'}, 'batch_predicate_fn=.keep.: give a '
     'dotted path'),
])
def test_filter_refuses_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    filter_examples.FilterExamples(_examples_channel(), **kwargs)


@pytest.mark.parametrize('kwargs, message', [
    ({'samples_per_key': 1}, 'exactly one of key_feature'),
    ({'key_feature': 'a', 'key_fn': 'm.f', 'samples_per_key': 1},
     'exactly one of key_feature'),
    ({'key_fn': 'm.f', 'batch_key_fn': 'm.g', 'samples_per_key': 1},
     'exactly one of key_feature'),
    ({'batch_key_fn': 'g', 'samples_per_key': 1},
     'batch_key_fn=.g.: give a dotted path'),
    ({'key_feature': 'a', 'module_file': FNS, 'samples_per_key': 1},
     'module_file goes with key_fn'),
    ({'key_feature': 'a'}, 'exactly one of samples_per_key'),
    ({'key_feature': 'a', 'samples_per_key': 1, 'fraction': 0.5},
     'exactly one of samples_per_key'),
    ({'key_feature': 'a', 'samples_per_key': 0}, 'int >= 1'),
    ({'key_feature': 'a', 'fraction': 0.0}, r'in \(0, 1\]'),
    ({'key_feature': 'a', 'fraction': 1.5}, r'in \(0, 1\]'),
    ({'key_feature': 'a', 'fraction': 0.5, 'seed': 2**63}, '64-bit int'),
])
def test_sample_refuses_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    stratified_sample.StratifiedSample(_examples_channel(), **kwargs)


def _artifact(mlmd_artifact):
  from tfx.types import standard_artifacts
  artifact = standard_artifacts.Examples()
  copy = type(mlmd_artifact)()
  copy.CopyFrom(mlmd_artifact)  # the fixture's stays as it is
  artifact.set_mlmd_artifact(copy)
  return artifact


@pytest.mark.e2e
def test_unknown_split_and_other_payloads_are_refused(one_worker, tmp_path):
  from tfx.types import standard_artifacts
  source = _artifact(one_worker['CsvExampleGen'])
  output = standard_artifacts.Examples()
  output.uri = str(tmp_path)
  def do(splits):
    return filter_examples.Executor().Do(
        {'examples': [source]}, {'reshaped_examples': [output]},
        {'predicate_fn': 'dataset_fns.keep_cash', 'splits': splits})
  with pytest.raises(ValueError, match=r"\['test'\].*\['train', 'eval'\]"):
    do('["test"]')
  source.set_string_custom_property('payload_format', 'FORMAT_PARQUET')
  with pytest.raises(ValueError, match='FORMAT_PARQUET'):
    do(None)


def test_properties_carry_over_and_sequence_examples_give_their_context():
  import tensorflow as tf
  from tfx.proto import example_gen_pb2
  from tfx.types import standard_artifacts

  from fluent_pipeline.components import _examples_io
  source, output = standard_artifacts.Examples(), standard_artifacts.Examples()
  source.split_names, source.span, source.version = '["a", "b"]', 7, 2
  source.set_string_custom_property('payload_format',
                                    'FORMAT_TF_SEQUENCE_EXAMPLE')
  _examples_io.copy_properties(source, output)
  assert (output.split_names, output.span, output.version) == (
      '["a", "b"]', 7, 2)
  fmt = _examples_io.payload_format(output, 'test')
  assert fmt == example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE
  sequence = tf.train.SequenceExample()
  sequence.context.feature['id'].int64_list.value.append(3)
  sequence.context.feature['kind'].bytes_list.value.extend(
      [b'x', 'é'.encode(), b'\xff'])
  sequence.feature_lists.feature_list['steps'].feature.add()
  proto = _examples_io.parse(sequence.SerializeToString(), fmt)
  # str where a value is UTF-8, bytes where it is not.
  assert _examples_io.features_of(proto, fmt) == {
      'id': [3], 'kind': ['x', 'é', b'\xff']}
  assert stratified_sample.feature_key({'k': [1, 2]}, 'k') == (1, 2)
  assert stratified_sample.feature_key({'k': []}, 'k') is None
  assert stratified_sample.feature_key({}, 'k') is None


def _assert_same_files(a, b):
  assert sorted(os.listdir(a)) == sorted(os.listdir(b))
  for name in os.listdir(a):
    with open(os.path.join(a, name), 'rb') as fa, \
        open(os.path.join(b, name), 'rb') as fb:
      assert fa.read() == fb.read(), name


# --- what user functions return, checked without a run ----------------------


def _region(features):
  return features['region'][0]


def test_only_bools_pass_as_a_predicates_answer():
  import numpy as np

  from fluent_pipeline.components import _examples_io
  assert _examples_io.is_bool(True) and _examples_io.is_bool(np.bool_(False))
  for value in ('south', b'x', 1, 0.0, None, ['a'], np.array([True])):
    assert not _examples_io.is_bool(value), value
  for key in ('a', b'a', 3, 2.5, np.int64(3), ('a', 1)):
    assert _examples_io.is_key(key), key
  for key in (None, ['a'], {'a': 1}, ('a', ['b']), object()):
    assert not _examples_io.is_key(key), key


def test_a_wrong_return_names_function_file_line_value_and_type():
  from fluent_pipeline.components import _examples_io
  features = {'region': ['south'], 'fare': [3.5]}
  error = _examples_io.wrong_return(
      _region, {}, features, _region(features), 'predicate', 'a bool',
      'generic fix', 'return features[{feature}] == {value}')
  line = _region.__code__.co_firstlineno + 1
  assert str(error) == (
      "predicate _region returned 'south' (str, a value of "
      "features['region']), not a bool: return features['region'] == "
      f"['south'] [{__file__}, line {line}]")
  # A module file given to the step is named, not the copy TFX installed.
  props = {'module_file': os.path.join('/my/project', os.path.basename(
      __file__))}
  error = _examples_io.wrong_return(_region, props, features, 7, 'key', 'x',
                                    'generic fix')
  assert '7 (int), not x: generic fix [/my/project/' in str(error)


def test_the_values_seen_are_the_named_features_most_common_first():
  from fluent_pipeline.components import _examples_io
  seen = [{'region': ['south'], 'city': ['a'], 'n': [1]},
          {'region': ['north'], 'city': ['b'], 'n': [2]},
          {'region': ['north'], 'city': [], 'n': [3]}]
  assert _examples_io.named_features(_region, seen[0]) == ['region']
  assert _examples_io.values_seen(seen, ['region']) == (
      "features['region'] holds 'north' (2), 'south' (1)")
  # Without names: the string features, each with its own values.
  assert _examples_io.values_seen(seen, per_feature=1) == (
      "features['city'] holds 'a' (1) and 2 more; "
      "features['region'] holds 'north' (2) and 1 more")
