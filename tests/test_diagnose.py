"""diagnose.short_message: a failure's one line keeps what the user acts on
when the message is long: what failed, the function with its file and line,
and the values a hint quotes from their data, summarized, never cut in the
middle of a value."""

import collections
import random
import re

from fluent_pipeline.orchestration import diagnose

PATH = '/home/someone/projects/taxi-experiments/notebooks/pipelines/filters.py'
PAYMENTS = ['Cash', 'Credit Card', 'No Charge', 'Dispute', 'Unknown',
            'Prcard', 'Mobile']
COMPANIES = ['Taxi Affiliation Services', 'Flash Cab',
             'Dispatch Taxi Affiliation', 'Blue Ribbon Taxi Association Inc.',
             'Choice Taxi Association', 'KOAM Taxi Association']


def _nothing_kept():
  """NothingKept as FilterExamples raises it, its hint quoting 1,000
  examples as the component quotes them."""
  from fluent_pipeline.components import _examples_io, filter_examples
  rng = random.Random(0)
  examples = [{'payment_type': [rng.choice(PAYMENTS)],
               'company': [rng.choice(COMPANIES)],
               'trip_miles': [rng.random()]} for _ in range(1000)]
  values = _examples_io.values_seen(examples, ['payment_type', 'company'])
  hint = (f'In its first 1,000 examples, {values}. keep_south is at {PATH}, '
          'line 12')
  return filter_examples.NothingKept('eval', 2000, 'keep_south', hint), \
      examples


def test_a_long_nothing_kept_keeps_the_function_its_place_and_the_values():
  error, examples = _nothing_kept()
  assert len(str(error)) > 450  # too long for one line as it is
  message = diagnose.short_message(error)
  assert len(message) < len(str(error))
  assert message.startswith(
      "NothingKept: FilterExamples kept none of the 2,000 examples of split "
      "'eval': keep_south returned False for every one. In its first 1,000 "
      "examples, ")
  # The function, its file and its line, whole, at the end.
  assert message.endswith(f'. keep_south is at {PATH}, line 12')
  # Each feature the hint quoted: its most common values, each whole with
  # its count, and how many more there are.
  quoted = message[message.index('examples, ') + len('examples, '):
                   message.index('. keep_south is at')]
  clauses = quoted.split('; ')
  assert [c.split(' holds ')[0] for c in clauses] == [
      "features['payment_type']", "features['company']"]
  for clause in clauses:
    name = re.match(r"features\['(\w+)'\]", clause).group(1)
    counts = collections.Counter(e[name][0] for e in examples)
    # (the component shortens a long value to 30 characters, with '...')
    shown = re.findall(r"'([^']*?)(?:'|\.\.\.) \((\d+)\)", clause)
    assert shown, clause
    for value, count in shown:
      full = next(v for v in counts if v.startswith(value))
      assert counts[full] == int(count), clause
    assert shown[0][1] == str(counts.most_common(1)[0][1])
    more = int(re.search(r' and (\d+) more$', clause).group(1))
    assert len(shown) + more == len(counts), clause


def test_a_short_message_is_left_whole():
  error = ValueError(f'keep_south returned 1 [{PATH}, line 3]')
  assert diagnose.short_message(error) == f'ValueError: {error}'


def test_a_long_message_without_a_hint_keeps_its_place():
  words = ' '.join(f'word{i}' for i in range(100))
  error = TypeError(f'predicate returned {words} [{PATH}, line 3]')
  message = diagnose.short_message(error)
  assert message.endswith(f' ... [{PATH}, line 3]')
  assert message.startswith('TypeError: predicate returned word0 word1 ')
  cut = message[:message.index(' ... [')]
  assert re.fullmatch(r'TypeError: predicate returned( word\d+)+', cut)
  assert len(message) <= 300 + len('TypeError: ')
