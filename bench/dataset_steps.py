"""Do the dataset steps cost less than the ExampleGen that fed them?

    python bench/dataset_steps.py [--factors 1 4 16] [--repeats 1] [--quick]
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
`dataset_steps`. --quick (one size, 15,000 rows) prints and writes nothing.
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


def holds(sizes: list[dict]) -> bool:
  return all(s['ratio'][n] < 1 for s in sizes for n in STEPS)


def update_benchmarks_md(results: dict, path: str) -> None:
  """Replaces (or appends) this section in an existing BENCHMARKS.md, and
  leaves the others as they are."""
  sys.path.insert(0, HERE)
  import report
  report.replace_section(path, report.DATASET_STEPS_TITLE,
                         report.dataset_steps_lines(results))


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
                      help='a smoke run: 15,000 rows only; writes nothing')
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
    sizes = bench_dataset_steps(work, factors, args.fraction_factors,
                                args.repeats, args.quiet_wait)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  results = {
      'machine': (f'{platform.system()} {platform.machine()}, '
                  f'{os.cpu_count()} cores, Python '
                  f'{platform.python_version()}'),
      'date': time.strftime('%Y-%m-%d'),
      'target': TARGET,
      'target_holds': holds(sizes),
      'sizes': sizes,
      'bench_seconds': round(time.perf_counter() - started)}
  sys.path.insert(0, HERE)
  import report
  log('\n'.join(report.dataset_steps_table(sizes)))
  log(f'target ({TARGET}): {"holds" if results["target_holds"] else "missed"}')
  if not (args.quick or args.no_write):
    _write(results)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
