"""User functions for the FilterExamples / StratifiedSample tests.

They get an example's features as a dict: name -> list of values (str for
string features), as the components pass them.
"""


def keep_cash(features):
  return features.get('payment_type') == ['Cash']


def keep_lowercase_cash(features):
  """A slip: the data says 'Cash'; nothing is kept, and the error quotes
  the values payment_type holds."""
  return features.get('payment_type') == ['cash']


def keep_long_trips(features):
  return (features.get('trip_miles') or [0.0])[0] >= 2.0


def keep_every_trip(features):
  return 'payment_type' in features


def payment_value(features):
  """A slip: a feature's value, not a bool (truthy for every example)."""
  return features['payment_type'][0]


def payment_kind(features):
  """Two strata: cash, and everything else."""
  return 'cash' if features.get('payment_type') == ['Cash'] else 'other'


def payment_list(features):
  """A slip: a list is not a stratum key (a tuple is)."""
  return features['payment_type']


def one_kind(features):
  """Every example in one stratum."""
  del features
  return 'trips'


def hour_block(features):
  """Four strata of trip_start_hour (an int key; -1: no hour)."""
  return (features.get('trip_start_hour') or [-1])[0] // 6


# The batch forms: a block of examples as a pandas DataFrame, one row per
# example; the same decisions as the per-record functions above.


def batch_keep_cash(df):
  return df.payment_type == 'Cash'


def batch_keep_long_trips(df):
  return df.trip_miles.fillna(0.0) >= 2.0


def batch_payment_kind(df):
  import numpy as np
  return np.where(df.payment_type == 'Cash', 'cash', 'other')


def batch_hour_block(df):
  return df.trip_start_hour.fillna(-1) // 6


def batch_rows(df):
  """A slip: the rows the condition selects, not the condition."""
  return df[df.payment_type == 'Cash']


def batch_company(df):
  """A slip: company is missing in some examples (None is no stratum)."""
  return df.company


def batch_payment_type(df):
  """key_feature='payment_type' as a batch key (every example has one)."""
  return df.payment_type
