"""Do the dataset steps cost less than the ExampleGen that fed them?

    python bench/dataset_steps.py [--factors 1 4 16] [--repeats 1] [--quick]
    python bench/dataset_steps.py --forms-only [--forms-factor 16] [--quick]
    python bench/dataset_steps.py --report   # rewrite the doc section only

Runs `from_csv(data).filter_examples(keep_timed_trips).stratified_sample(
'payment_type', samples_per_key=1000)`, cache off and nothing else (bench/
workloads.py's `dataset_steps`), on the taxi CSV resampled to 15,000 x each
factor rows (bench/run.py's `scaled_data`, the data stage scaling sizes),
each run in a fresh process on a fresh pipeline root; at the largest size
also with `fraction=0.1`. Each step's throughput is the examples it read
over its own seconds (from the run's RunResult), beside CsvExampleGen's on
the same data in the same run, and its ratio is step seconds / CsvExampleGen
seconds. The target: each ratio below 1.

Writes bench/dataset_steps.json and the section "Dataset steps" of
docs/BENCHMARKS.md (only that section), which bench/report.py writes again
whenever `make bench` regenerates the file; `make bench` measures the same
through `bench_dataset_steps` and records it in results.json as
`dataset_steps`. --quick (one size, 15,000 rows; the forms at 60,000)
prints and writes nothing.

The forms (`bench_forms`, key `forms`): in one fresh process, ExampleGen on
the taxi CSV at --forms-factor x 15,000 rows (default 16: 240,000), then
each step's executor on its output, for each form of the step's function
(bench/workloads.py DATASET_FORMS): per record reading every feature (the
cost before the steps read only the features used), per record now, the
batch form (a DataFrame per block), and StratifiedSample's key_feature;
two rounds, the second in reverse order, the least seconds (wall and the
process's CPU) kept. Rows/s is examples in over the executor's least
wall seconds; the forms of a step
must keep the same examples (a digest of the kept records), else the bench
fails. --forms-only measures the forms alone and keeps the sizes recorded.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, 'dataset_steps.json')
WORKLOADS = os.path.join(HERE, 'workloads.py')
EXAMPLE_GEN = 'CsvExampleGen'
STEPS = ('FilterExamples', 'StratifiedSample')
NODES = (EXAMPLE_GEN,) + STEPS
VARIANTS = {'dataset_steps': 'samples_per_key=1000',
            'dataset_steps_fraction': 'fraction=0.1'}
TARGET = ('each dataset step costs less than the CsvExampleGen that produced '
          'its input')


def log(message: str) -> None:
  print(message, flush=True)


def _run(kind: str, root: str, data_dir: str, quiet_wait: float) -> dict:
  """One workload in a fresh process: its RESULT and COUNTS lines, its wall
  time, and the cores it and other processes kept busy meanwhile."""
  sys.path.insert(0, HERE)
  import beam_workers
  if quiet_wait > 0:
    beam_workers.wait_for_quiet(quiet_wait)
  shutil.rmtree(root, ignore_errors=True)  # a fresh pipeline root
  busy = beam_workers._busy_cpu_seconds()
  own = beam_workers._children_cpu_seconds()
  started = time.perf_counter()
  done = subprocess.run([sys.executable, WORKLOADS, kind, root, data_dir],
                        capture_output=True, text=True, check=False)
  wall = time.perf_counter() - started
  own = beam_workers._children_cpu_seconds() - own
  others = max(0.0, beam_workers._busy_cpu_seconds() - busy - own)
  found = {}
  for line in done.stdout.splitlines():
    for tag in ('RESULT', 'COUNTS'):
      if line.startswith(tag + ' '):
        found[tag] = json.loads(line[len(tag) + 1:])
  shutil.rmtree(root, ignore_errors=True)
  if len(found) == 2 and all(found['COUNTS']['states'].get(n) == 'COMPLETE'
                             for n in NODES):
    result = found['RESULT']
    result.update(found['COUNTS'])
    result['wall_seconds'] = round(wall, 2)
    result['own_cores'] = round(own / wall, 2)
    result['other_cores'] = round(others / wall, 2)
    return result
  tail = '\n'.join((done.stdout + done.stderr).splitlines()[-30:])
  raise SystemExit(f'workload {kind} failed (exit {done.returncode}):\n{tail}')


def _examples(counts: dict, key: str) -> int:
  """Examples in (key='in') or out over a step's splits."""
  return sum(split[key] for split in counts.values())


def summarize(factor: int, rows: int, kind: str, runs: list[dict]) -> dict:
  """One size and variant: medians over its runs, rows/s and ratios."""
  seconds = {n: round(statistics.median(r['components'][n] for r in runs), 2)
             for n in NODES}
  counts = runs[0]['example_counts']  # the same data and seed every run
  rows_in = {EXAMPLE_GEN: rows,
             **{n: _examples(counts[n], 'in') for n in STEPS}}
  rows_out = {EXAMPLE_GEN: _examples(counts[STEPS[0]], 'in'),
              **{n: _examples(counts[n], 'out') for n in STEPS}}
  return {
      'factor': factor, 'rows': rows, 'kind': kind,
      'variant': VARIANTS[kind], 'runs': len(runs),
      'seconds': seconds, 'rows_in': rows_in, 'rows_out': rows_out,
      'rows_per_second': {n: round(rows_in[n] / seconds[n])
                          if seconds[n] else None for n in NODES},
      'ratio': {n: round(seconds[n] / seconds[EXAMPLE_GEN], 3)
                for n in STEPS},
      **{key: round(statistics.median(r[key] for r in runs), 2)
         for key in ('run_seconds', 'wall_seconds', 'peak_rss_mb',
                     'own_cores', 'other_cores')},
      'all_runs': [{'components': {n: r['components'][n] for n in NODES},
                    'other_cores': r['other_cores']} for r in runs],
  }


def bench_dataset_steps(work: str, factors: Sequence[int],
                        fraction_factors: Optional[Sequence[int]] = None,
                        repeats: int = 1,
                        quiet_wait: float = 0.0) -> list[dict]:
  """The dataset steps beside CsvExampleGen at each size (see the module
  docstring): one dict per size and variant. fraction_factors: the sizes
  also run with fraction=0.1 (default: the largest). quiet_wait: seconds a
  run may wait for other processes to leave the cores (0: no wait)."""
  sys.path.insert(0, HERE)
  import run as bench_run
  if fraction_factors is None:
    fraction_factors = list(factors)[-1:]
  out = []
  for factor in factors:
    data_dir = bench_run.scaled_data(work, factor)
    with open(os.path.join(data_dir, 'data.csv')) as f:
      rows = sum(1 for _ in f) - 1
    kinds = ['dataset_steps'] + (['dataset_steps_fraction']
                                 if factor in fraction_factors else [])
    for kind in kinds:
      runs = []
      for i in range(repeats):
        log(f'  dataset steps x{factor} ({rows} rows), {VARIANTS[kind]} '
            f'(run {i + 1}/{repeats}) ...')
        runs.append(_run(kind, os.path.join(work, f'dataset_steps_x{factor}'),
                         data_dir, quiet_wait))
        r = runs[-1]
        log('    ' + ', '.join(f'{n} {r["components"][n]} s' for n in NODES) +
            f'; cores: own {r["own_cores"]}, others {r["other_cores"]}')
      out.append(summarize(factor, rows, kind, runs))
      s = out[-1]
      log('    -> rows/s ' + ', '.join(
          f'{n} {s["rows_per_second"][n]}' for n in NODES) + '; ratio ' +
          ', '.join(f'{n} {s["ratio"][n]}' for n in STEPS))
  return out


FORM_LABELS = {
    'filter_all': 'FilterExamples, per record, every feature read '
                  '(the cost before)',
    'filter': 'FilterExamples, per record, the features used',
    'filter_batch': 'FilterExamples, batch (DataFrame per block)',
    'sample_all': 'StratifiedSample key_fn, per record, every feature read '
                  '(the cost before)',
    'sample': 'StratifiedSample key_fn, per record, the features used',
    'sample_batch': 'StratifiedSample key_fn, batch (DataFrame per block)',
    'sample_key_feature': "StratifiedSample key_feature='payment_type'",
}


def bench_forms(work: str, factor: int, quiet_wait: float = 0.0) -> dict:
  """Each form of the steps' functions on one ExampleGen output, in one
  fresh process (see the module docstring): seconds, rows/s, and each
  form's speed-up over the same step's per-record form reading every
  feature."""
  sys.path.insert(0, HERE)
  import beam_workers
  import run as bench_run
  data_dir = bench_run.scaled_data(work, factor)
  with open(os.path.join(data_dir, 'data.csv')) as f:
    rows = sum(1 for _ in f) - 1
  if quiet_wait > 0:
    beam_workers.wait_for_quiet(quiet_wait)
  root = os.path.join(work, f'forms_x{factor}')
  log(f'  dataset step forms x{factor} ({rows} rows) ...')
  busy = beam_workers._busy_cpu_seconds()
  own = beam_workers._children_cpu_seconds()
  started = time.perf_counter()
  done = subprocess.run(
      [sys.executable, WORKLOADS, 'dataset_forms', root, data_dir],
      capture_output=True, text=True, check=False)
  wall = time.perf_counter() - started
  own = beam_workers._children_cpu_seconds() - own
  others = max(0.0, beam_workers._busy_cpu_seconds() - busy - own)
  shutil.rmtree(root, ignore_errors=True)
  found = [json.loads(line[len('FORMS '):])
           for line in done.stdout.splitlines() if line.startswith('FORMS ')]
  if not found:
    tail = '\n'.join((done.stdout + done.stderr).splitlines()[-30:])
    raise SystemExit(f'workload dataset_forms failed (exit '
                     f'{done.returncode}):\n{tail}')
  forms = found[0]['forms']
  for step in STEPS:
    digests = {f['kept_sha256'] for f in forms.values()
               if f['component'] == step}
    if len(digests) != 1:
      raise SystemExit(f'the forms of {step} kept different examples: '
                       f'{forms}')
  for form in forms.values():  # the least disturbed of the rounds
    form['all_seconds'], form['all_cpu_seconds'] = (
        form.pop('seconds'), form.pop('cpu_seconds'))
    form['seconds'] = min(form['all_seconds'])
    form['cpu_seconds'] = min(form['all_cpu_seconds'])
  for name, form in forms.items():
    form['rows_per_second'] = round(form['in'] / form['seconds'])
    before = forms['filter_all' if name.startswith('filter') else
                   'sample_all']
    form['speedup'] = round(before['seconds'] / form['seconds'], 2)
    form['cpu_speedup'] = round(before['cpu_seconds'] / form['cpu_seconds'],
                                2)
    log(f'    {name}: {form["seconds"]} s ({form["cpu_seconds"]} s CPU), '
        f'{form["rows_per_second"]:,} rows/s, x{form["speedup"]} '
        f'(CPU x{form["cpu_speedup"]})')
  return {'factor': factor, 'rows': rows,
          'example_gen_seconds': found[0]['example_gen_seconds'],
          'forms': forms, 'wall_seconds': round(wall, 2),
          'other_cores': round(others / wall, 2)}


def forms_lines(forms: dict) -> list[str]:
  """The forms' table and what it says, for the section."""
  lines = [
      '', "### Per record and batch forms of the steps' functions", '',
      f'Written by `python bench/dataset_steps.py --forms-only` '
      f'({forms.get("date", "?")}): in one fresh process, ExampleGen on '
      f'{forms["rows"]:,} taxi rows ({forms["example_gen_seconds"]} s), then '
      'each step\'s executor alone on its output (both splits, the chain\'s '
      'Beam settings), for each form of its function (bench/workloads.py '
      '`DATASET_FORMS`: keep trips with trip_seconds > 0; '
      'samples_per_key=1000 of each payment_type), in two rounds, the '
      'second in reverse order; the least of the two is shown, of the wall '
      'seconds and of the process\'s CPU seconds (less disturbed by other '
      'processes). "Every feature read" is the per-record cost before the '
      'steps converted only the features a function reads (a function '
      'whose reads the step cannot tell still pays it). Every form of a '
      'step kept the same examples (checked by the bench).', '',
      '| form | seconds | CPU seconds | rows/s | vs. every feature read: '
      'seconds, CPU |',
      '|---|---|---|---|---|']
  for name, form in forms['forms'].items():
    lines.append(f'| {FORM_LABELS.get(name, name)} | {form["seconds"]} | '
                 f'{form["cpu_seconds"]} | {form["rows_per_second"]:,} | '
                 f'x{form["speedup"]}, x{form["cpu_speedup"]} |')
  rows = forms['forms']
  lines += [
      '',
      f'- The batch filter read {rows["filter_batch"]["speedup"]}x the rows a '
      f'second of the per-record filter reading every feature, and '
      f'{_ratio(rows, "filter_batch", "filter")}x those of the per-record '
      'filter now (CPU: '
      f'{rows["filter_batch"]["cpu_speedup"]}x and '
      f'{_ratio(rows, "filter_batch", "filter", "cpu_seconds")}x). It reads '
      'blocks of 4,096 records with tf.data, decodes them with tfx_bsl\'s '
      'C++ decoder, and writes the kept records a block per Beam element; '
      'what is left is mostly the decoding (all features: the parse '
      'dominates, projecting to the features used saved nothing) and the '
      'gzip TFRecord write, record by record in Python.',
      f'- StratifiedSample\'s batch form gains less '
      f'({rows["sample_batch"]["speedup"]}x, CPU '
      f'{rows["sample_batch"]["cpu_speedup"]}x against every feature read; '
      f'{_ratio(rows, "sample_batch", "sample")}x, CPU '
      f'{_ratio(rows, "sample_batch", "sample", "cpu_seconds")}x against the '
      'per-record key function now): every form pays the per-example hash '
      'of the deterministic re-serialization (the sample\'s definition), for '
      'which the batch form parses each example in Python after the C++ '
      'decoder has parsed it for the DataFrame, and the pipeline\'s '
      'grouping, count per key and two writes. The batch form sends on only '
      'the examples a block can contribute (its N smallest hashes per key, '
      'or those under the fraction), which does not make up for the second '
      'parse here: for a sample, the per-record key function reading the '
      'features it names is the faster form.',
      f'- Other processes took {forms["other_cores"]} cores on average '
      'during the run. The table "FilterExamples and StratifiedSample vs '
      'CsvExampleGen" above was measured before these changes, on whole '
      'runs of the chain.']
  return lines


def _ratio(forms: dict, a: str, b: str, key: str = 'seconds') -> float:
  """How many times form a's rows/s (or CPU speed) form b's is."""
  return round(forms[b][key] / forms[a][key], 2)


def holds(sizes: list[dict]) -> bool:
  return all(s['ratio'][n] < 1 for s in sizes for n in STEPS)


def update_benchmarks_md(results: dict, path: str) -> None:
  """Replaces (or appends) this section in an existing BENCHMARKS.md, and
  leaves the others as they are."""
  sys.path.insert(0, HERE)
  import report
  lines = report.dataset_steps_lines(results)
  if results.get('forms'):
    lines += forms_lines(results['forms'])
  report.replace_section(path, report.DATASET_STEPS_TITLE, lines)


def _write(results: dict) -> None:
  with open(RESULTS, 'w') as f:
    json.dump(results, f, indent=2)
  update_benchmarks_md(results, os.path.join(REPO, 'docs', 'BENCHMARKS.md'))


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--factors', type=int, nargs='+', default=[1, 4, 16],
                      help='sizes, in multiples of the 15,000-row taxi CSV')
  parser.add_argument('--fraction-factors', type=int, nargs='*',
                      help='sizes also run with fraction=0.1 (default: the '
                      'largest)')
  parser.add_argument('--repeats', type=int, default=1,
                      help='runs per size and variant (median reported)')
  parser.add_argument('--quiet-wait', type=float, default=120.0,
                      help='seconds each run may wait for other processes '
                      'to leave the cores (0: none)')
  parser.add_argument('--quick', action='store_true',
                      help='a smoke run: 15,000 rows only (the forms: '
                      '60,000); writes nothing')
  parser.add_argument('--forms-factor', type=int, default=16,
                      help='the size of the forms run, in multiples of the '
                      '15,000-row taxi CSV')
  parser.add_argument('--forms-only', action='store_true',
                      help='measure only the forms; keep the recorded sizes')
  parser.add_argument('--no-write', action='store_true',
                      help='print only; keep the recorded results')
  parser.add_argument('--report', action='store_true',
                      help='measure nothing: rewrite the section of '
                      'docs/BENCHMARKS.md from bench/dataset_steps.json')
  args = parser.parse_args(argv[1:])
  if args.report:
    with open(RESULTS) as f:
      _write(json.load(f))
    return 0
  factors = [1] if args.quick else args.factors
  work = tempfile.mkdtemp(prefix='fluent-dataset-steps-')
  started = time.perf_counter()
  try:
    forms = bench_forms(work, 4 if args.quick else args.forms_factor,
                        args.quiet_wait)
    forms['date'] = time.strftime('%Y-%m-%d')
    sizes = None if args.forms_only else bench_dataset_steps(
        work, factors, args.fraction_factors, args.repeats, args.quiet_wait)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  sys.path.insert(0, HERE)
  import report
  log('\n'.join(forms_lines(forms)))
  if sizes is None:  # the sizes as recorded, the forms measured now
    with open(RESULTS) as f:
      results = json.load(f)
    results['forms'] = forms
    if not (args.quick or args.no_write):
      _write(results)
    return 0
  results = {
      'machine': (f'{platform.system()} {platform.machine()}, '
                  f'{os.cpu_count()} cores, Python '
                  f'{platform.python_version()}'),
      'date': time.strftime('%Y-%m-%d'),
      'target': TARGET,
      'target_holds': holds(sizes),
      'sizes': sizes,
      'forms': forms,
      'bench_seconds': round(time.perf_counter() - started)}
  log('\n'.join(report.dataset_steps_table(sizes)))
  log(f'target ({TARGET}): {"holds" if results["target_holds"] else "missed"}')
  if not (args.quick or args.no_write):
    _write(results)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
