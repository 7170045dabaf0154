"""The dataset steps' functions: which features they read, and the batch
form's DataFrame, masks and keys.

Unit tests (no run): `features_read` on the bytecode of functions written
every way a user does; the DataFrame a block of real tf.Example /
SequenceExample records decodes to; what a batch predicate or key function
may return and the errors for what it may not; the same keys, and so the
same strata, from the per-record and the batch form. The real runs of the
executors are in test_dataset_components.py, the chain's in
test_dataset_steps.py.
"""

import math

import dataset_fns
import numpy as np
import pandas as pd
import pytest

from fluent_pipeline.components import _examples_io

# --- which features a function reads -----------------------------------------


def _subscript(features):
  return features['fare'][0] > 0 and features['company'] == ['x']


def _get_with_default(features):
  return features.get('tips', [0.0])[0] > (features.get('fare') or [0])[0]


def _contains(features):
  return 'company' in features and 'tips' not in features


def _helper(features):
  return _subscript(features)  # passed on: cannot tell


def _iterates(features):
  return len([n for n in features if n.startswith('trip')]) > 2


def _variable(features, name='fare'):
  return features[name][0] > 0


def _computed(features):
  return features['trip_' + 'miles'.upper().lower()][0] > 0


def _get_computed_default(features):
  return features.get('fare', features.get('tips'))[0] > 0


def _locals(features):
  return eval('features')['fare'][0] > 0


def _rebinds(features):
  features = dict(features)
  return features['fare'][0] > 0


def _closure(features):
  return any(lambda: features['fare'] for _ in range(1))


def _frame(df):
  return (df.trip_seconds > 0) & (df['payment_type'] == 'Cash')


def _frame_method(df):
  return df.eval('fare > 0')


@pytest.mark.parametrize('fn, attributes, read', [
    (_subscript, False, {'fare', 'company'}),
    (_get_with_default, False, {'tips', 'fare'}),
    (_contains, False, {'company', 'tips'}),
    (dataset_fns.keep_long_trips, False, {'trip_miles'}),
    (lambda f: f['fare'][0] > 0, False, {'fare'}),
    (lambda f: True, False, set()),
    # The step cannot tell: every feature is read.
    (_helper, False, None),
    (_iterates, False, None),
    (_variable, False, None),
    (_computed, False, None),
    (_locals, False, None),
    (_rebinds, False, None),
    (_closure, False, None),
    (len, False, None),
    (_get_computed_default, False, {'fare', 'tips'}),
    # A DataFrame's columns by attribute too; a method of it: cannot tell.
    (_frame, True, {'trip_seconds', 'payment_type'}),
    (_frame, False, None),
    (_frame_method, True, None),
    (dataset_fns.batch_keep_long_trips, True, {'trip_miles'}),
])
def test_the_features_a_function_reads_are_found_or_all_are_read(
    fn, attributes, read):
  found = _examples_io.features_read(fn, attributes=attributes)
  assert found == (None if read is None else frozenset(read))


def test_only_the_features_read_are_converted():
  import tensorflow as tf
  example = tf.train.Example()
  example.features.feature['fare'].float_list.value.append(2.5)
  example.features.feature['company'].bytes_list.value.append(b'Taxi Co')
  example.features.feature['tips'].float_list.value.extend([])
  proto = _examples_io.parse(example.SerializeToString(), 0)
  every = _examples_io.features_of(proto, 0)
  assert set(every) == {'fare', 'company', 'tips'}
  assert _examples_io.features_of(proto, 0, {'fare', 'absent'}) == {
      'fare': every['fare']}
  assert 'absent' not in proto.features.feature  # looking did not add it


# --- a block of examples as a DataFrame ----------------------------------------


def _examples():
  """Four examples: an int feature one lacks, a float, a string one lacks
  and one holds bytes that are not UTF-8, a feature with two values in one
  example, and one only the third example has (empty)."""
  import tensorflow as tf
  rows = [
      {'n': [3], 'x': [0.1], 's': [b'Cash'], 'many': [1], 'id': [b'\xff']},
      {'x': [2.0], 'many': [1, 2], 'id': [b'a']},
      {'n': [5], 'x': [], 's': ['é'.encode()], 'id': [b'b'], 'blank': []},
      {'n': [2**40], 'x': [-1.5], 's': [b'Card'], 'id': [b'c']},
  ]
  protos = []
  for row in rows:
    example = tf.train.Example()
    for name, values in row.items():
      feature = example.features.feature[name]
      if name in ('n', 'many'):
        feature.int64_list.value.extend(values)
      elif name == 'x':
        feature.float_list.value.extend(values)
      elif name != 'blank':
        feature.bytes_list.value.extend(values)
    protos.append(example)
  return protos


def _sequence(example):
  import tensorflow as tf
  sequence = tf.train.SequenceExample()
  for name, feature in example.features.feature.items():
    sequence.context.feature[name].CopyFrom(feature)
  sequence.feature_lists.feature_list['steps'].feature.add()
  return sequence


def test_a_block_is_a_dataframe_of_scalar_and_list_columns():
  records = [e.SerializeToString() for e in _examples()]
  df = _examples_io.Frames(0)(records)
  assert list(df.columns) == ['blank', 'id', 'many', 'n', 's', 'x']
  assert df.n.dtype == 'Int64' and df.n.isna().tolist() == [
      False, True, False, False]
  assert df.n[3] == 2**40  # an int stays an int, missing or not
  # float64 holding the per-record form's values (float32 widened).
  features = [_examples_io.features_of(e, 0) for e in _examples()]
  assert df.x.dtype == np.float64 and df.x[0] == features[0]['x'][0]
  assert math.isnan(df.x[2])
  assert df.s.tolist() == ['Cash', None, 'é', 'Card']
  assert df.id.tolist() == [b'\xff', 'a', 'b', 'c']  # bytes: not UTF-8
  assert df.many.tolist() == [[1], [1, 2], None, None]
  assert df.blank.tolist() == [None] * 4
  # Every int present: numpy's int64.
  assert _examples_io.Frames(0)(records[2:]).n.dtype == np.int64
  # Only the features named, a named one no example has as None.
  named = _examples_io.Frames(0, frozenset(('x', 'absent')))(records)
  assert list(named.columns) == ['absent', 'x']
  assert named.absent.tolist() == [None] * 4
  # A SequenceExample's context features give the same DataFrame.
  sequences = [_sequence(e).SerializeToString() for e in _examples()]
  from_context = _examples_io.Frames(1)(sequences)
  pd.testing.assert_frame_equal(from_context.drop(columns='blank'),
                                df.drop(columns='blank'))


# --- what batch functions return -----------------------------------------------


def _keep_fares(df):
  return df.fare


def _mask_of(value, df):
  return _examples_io.batch_mask(_keep_fares, {}, df, value)


FRAME = pd.DataFrame({'fare': [1.0, 0.0, 3.0], 'kind': ['a', None, 'b']})


@pytest.mark.parametrize('value, kept', [
    (FRAME.fare > 0, [True, False, True]),
    ((FRAME.fare > 0).to_numpy(), [True, False, True]),
    ([True, False, False], [True, False, False]),
    (np.array([np.bool_(True)] * 3), [True] * 3),
    # pandas' boolean with <NA> (a comparison with a missing int): False.
    (pd.Series(pd.array([True, None, True], dtype='boolean')),
     [True, False, True]),
])
def test_a_boolean_mask_keeps_its_true_rows(value, kept):
  assert _mask_of(value, FRAME).tolist() == kept


@pytest.mark.parametrize('value, said, fix', [
    (FRAME[FRAME.fare > 0], 'returned a DataFrame of 2 rows and 2 columns',
     'return the condition itself (df.trip_seconds > 0), not the rows'),
    (FRAME.fare, "returned a Series of 3 float64, df['fare']",
     'return a boolean mask'),
    (True, 'returned True (bool)', 'return a boolean mask'),
    (np.array([True, False]), 'returned a ndarray of 2 bool',
     'one value per row of the DataFrame'),
    ((FRAME.fare > 0).sort_values(), 'returned a Series of 3 bool',
     "a Series on the DataFrame's own index"),
])
def test_anything_but_a_mask_fails_naming_function_value_and_fix(
    value, said, fix):
  with pytest.raises(_examples_io.WrongReturn) as error:
    _mask_of(value, FRAME)
  message = str(error.value)
  assert message.startswith(f'batch predicate _keep_fares {said} for a '
                            'block of 3 examples, not a boolean mask of 3 '
                            'values: '), message
  assert fix in message
  line = _keep_fares.__code__.co_firstlineno + 1
  assert message.endswith(f'[{__file__}, line {line}]')


def test_batch_keys_are_python_values_one_per_row():
  def keys(value):
    return _examples_io.batch_keys(_keep_fares, {}, FRAME, value)
  ints = keys(FRAME.fare.astype(int) // 2)
  assert ints == [0, 0, 1] and all(type(k) is int for k in ints)
  assert keys(FRAME.fare) == [1.0, 0.0, 3.0]
  assert keys(np.where(FRAME.fare > 0, 'paid', 'free')) == [
      'paid', 'free', 'paid']
  assert keys(pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})) == [
      (1, 'x'), (2, 'y'), (3, 'z')]
  with pytest.raises(_examples_io.WrongReturn,
                     match=r"row 1 holds None \(NoneType\); fill missing "
                     r"values first, e.g. df.payment_type.fillna\('none'\)"):
    keys(FRAME.kind)
  with pytest.raises(_examples_io.WrongReturn,
                     match='returned a list of 2 for a block of 3'):
    keys(['a', 'b'])
  with pytest.raises(_examples_io.WrongReturn,
                     match=r"returned 'a' \(str\)"):
    keys('a')


@pytest.mark.parametrize('key_fn, batch_key_fn', [
    (dataset_fns.payment_kind, dataset_fns.batch_payment_kind),
    (dataset_fns.hour_block, dataset_fns.batch_hour_block),
    (lambda f: (f.get('x') or [0.0])[0] * 3,
     lambda df: df.x.fillna(0.0) * 3),
    (lambda f: (f['id'][0], (f.get('n') or [0])[0] % 7),
     lambda df: pd.DataFrame({'id': df.id, 'n': df.n.fillna(0) % 7})),
])
def test_the_same_key_gives_the_same_strata_in_both_forms(key_fn,
                                                          batch_key_fn):
  """The strata are the repr of the keys: equal reprs, equal samples."""
  import tensorflow as tf
  examples = _examples()
  for example, payment, hour in zip(examples, ('Cash', 'Card', None, 'Cash'),
                                    (3, None, 23, 12)):
    for name, value in (('payment_type', payment),
                        ('trip_start_hour', hour)):
      if value is not None:
        feature = example.features.feature[name]
        if isinstance(value, int):
          feature.int64_list.value.append(value)
        else:
          feature.bytes_list.value.append(value.encode())
  records = [e.SerializeToString() for e in examples]
  per_record = [repr(key_fn(_examples_io.features_of(
      tf.train.Example.FromString(r), 0))) for r in records]
  frame = _examples_io.Frames(0)(records)
  batch = [repr(k) for k in _examples_io.batch_keys(
      batch_key_fn, {}, frame, batch_key_fn(frame))]
  assert batch == per_record


def test_a_module_without_the_batch_function_is_a_clear_error(
    tmp_path, taxi_csv_dir):
  step, fn_name = 'filter_examples', 'batch_predicate_fn'
  from fluent_pipeline import PipelineDef
  from fluent_pipeline.errors import UserCodeError
  module = tmp_path / 'steps.py'
  module.write_text('def other(df):\n  return df.fare > 0\n')
  chain = PipelineDef('batch', root=str(tmp_path / 'root')).from_csv(
      taxi_csv_dir)
  with pytest.raises(UserCodeError) as raised:
    getattr(chain, step)(str(module), batch=True).build()
  assert f'does not define {fn_name}' in raised.value.problem
  assert f'def {fn_name}(df)' in raised.value.fix
