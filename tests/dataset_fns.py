"""User functions for the FilterExamples / StratifiedSample tests.

They get an example's features as a dict: name -> list of values (bytes for
string features), as the components pass them.
"""


def keep_cash(features):
  return features.get('payment_type') == [b'Cash']


def keep_cash_str(features):
  """The usual mistake: a str never equals the bytes a feature holds."""
  return features.get('payment_type') == ['Cash']


def keep_long_trips(features):
  return (features.get('trip_miles') or [0.0])[0] >= 2.0


def payment_kind(features):
  """Two strata: cash, and everything else."""
  return 'cash' if features.get('payment_type') == [b'Cash'] else 'other'
