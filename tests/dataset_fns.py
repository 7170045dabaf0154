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
