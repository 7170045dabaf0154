"""predicate_fn for TFX: keep_cash and what it uses, as source code (written by fluent_pipeline)."""


def keep_cash(features):
  return features['payment_type'] == [b'Cash']


predicate_fn = keep_cash
