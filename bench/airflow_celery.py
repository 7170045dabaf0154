"""Airflow's CeleryExecutor with two workers: what a task costs besides its
component, with workers that import TFX before they fork
(fluent_pipeline.airflow.CELERY_CONFIG, docs/SCALING.md's set-up) and
without, in turns, in one invocation:

    python bench/airflow_celery.py [--repeats 2]

Each round runs tests/test_airflow_celery.py (Redis, PostgreSQL, MariaDB,
two `airflow celery worker` processes and a scheduler, the head of the taxi
chain, then a LocalDagRunner run of the same chain) and reads what it
prints: the median over the chain's tasks of a task's time in Airflow minus
its execution's own seconds, the Celery run's wall time (trigger to end)
and LocalDagRunner's. Writes bench/airflow_celery.json and the section
"Airflow CeleryExecutor vs LocalDagRunner" of docs/BENCHMARKS.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TEST = os.path.join(REPO, 'tests', 'test_airflow_celery.py')
OUT = os.path.join(HERE, 'airflow_celery.json')
DOC = os.path.join(REPO, 'docs', 'BENCHMARKS.md')
TITLE = '## Airflow CeleryExecutor vs LocalDagRunner'
OVERHEAD = re.compile(r'task overhead median ([\d.]+) s over (\d+) tasks')
WALLS = re.compile(r'CeleryExecutor with two workers (\d+) s .*'
                   r'LocalDagRunner (\d+) s')


def one_round(preload: bool) -> dict:
  env = dict(os.environ, FLUENT_BENCH_CELERY_PRELOAD='1' if preload else '0')
  done = subprocess.run(
      [sys.executable, '-m', 'pytest', TEST, '-q', '-s', '-p',
       'no:cacheprovider'], cwd=REPO, env=env, capture_output=True,
      text=True, check=False)
  out = done.stdout + done.stderr
  overhead, walls = OVERHEAD.search(out), WALLS.search(out)
  if done.returncode or not overhead or not walls:
    raise SystemExit('the Celery test failed:\n' + out[-4000:])
  return {'task_overhead_seconds': float(overhead.group(1)),
          'tasks': int(overhead.group(2)),
          'celery_seconds': float(walls.group(1)),
          'local_dag_runner_seconds': float(walls.group(2))}


def summary(rounds: list[dict]) -> dict:
  def median(key):
    return round(statistics.median(r[key] for r in rounds), 1)
  return {key: median(key) for key in
          ('task_overhead_seconds', 'celery_seconds',
           'local_dag_runner_seconds')}


def ratio(result: dict) -> float:
  return result['celery_seconds'] / result['local_dag_runner_seconds']


def lines(results: dict) -> list[str]:
  warm, cold = results['preload'], results['no_preload']
  local_seconds = [r['local_dag_runner_seconds'] for rounds in
                   results['rounds'].values() for r in rounds]
  return [
      TITLE, '',
      f'Written by `python bench/airflow_celery.py --repeats '
      f'{results["repeats"]}` ({results["date"]}, {results["machine"]}, '
      f'{results["seconds"]:.0f} s in all): tests/test_airflow_celery.py, '
      'the head of the taxi chain (the configuration, CsvExampleGen, '
      'StatisticsGen, SchemaGen, ExampleValidator, Transform) on the '
      'CeleryExecutor with two workers (Redis, PostgreSQL, ML Metadata on '
      'MariaDB), then LocalDagRunner on the same chain and store, in the '
      'same test; rounds with and without the workers importing TFX before '
      'they fork (`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS='
      'fluent_pipeline.airflow.CELERY_CONFIG`) in turns. Medians over the '
      'rounds.', '',
      '| workers | task overhead (s, median over the tasks) | Celery run (s) '
      '| LocalDagRunner, same chain (s) | Celery / Local |',
      '|---|---|---|---|---|',
      *(f'| {name} | {r["task_overhead_seconds"]} | {r["celery_seconds"]} | '
        f'{r["local_dag_runner_seconds"]} | '
        f'{ratio(r):.2f} |'
        for name, r in (('import TFX before forking (the documented set-up)',
                         warm), ('plain `airflow celery worker`', cold))),
      '',
      f'- The preload cuts a task\'s overhead from '
      f'{cold["task_overhead_seconds"]} s to {warm["task_overhead_seconds"]} '
      f's ({warm["task_overhead_seconds"] / cold["task_overhead_seconds"]:.2f}'
      'x): a task forked from a worker that has TFX imported no longer '
      'imports TensorFlow, Beam, TFDV, TFT and TFMA itself. The overhead '
      'is a task\'s time in Airflow minus its execution\'s own seconds in '
      'ML Metadata: Airflow\'s fork and bookkeeping, reading the compiled '
      'pipeline, the Launcher\'s ML Metadata work.',
      f'- The Celery run took {ratio(warm):.2f}x LocalDagRunner\'s time '
      f'with warm workers and {ratio(cold):.2f}x without. LocalDagRunner '
      'runs every node in one process that imports TFX once; on this '
      'machine two workers, the scheduler and three servers share its two '
      'cores, and LocalDagRunner\'s own time varied from '
      f'{min(local_seconds):.0f} to {max(local_seconds):.0f} s over the '
      'rounds with the load, so read the overhead column first.',
      '- Before this issue, TFX\'s AirflowDagRunner DAG cost 24 s a task '
      '(bench/airflow_overhead.py, `make bench` part airflow).', '']


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=1)
  parser.add_argument('--report', action='store_true',
                      help='rewrite the section from airflow_celery.json')
  args = parser.parse_args()
  if args.report:
    with open(OUT) as f:
      write_section(json.load(f))
    return
  results = measure(args.repeats)
  write_section(results)


def measure(repeats: int) -> dict:
  """Rounds with and without the preload, in turns; saved to OUT."""
  started = datetime.datetime.now()
  rounds = {'preload': [], 'no_preload': []}
  for i in range(repeats):
    for key in (('no_preload', 'preload') if i % 2 else
                ('preload', 'no_preload')):
      result = one_round(key == 'preload')
      print(key, result, flush=True)
      rounds[key].append(result)
  results = {
      'date': started.date().isoformat(), 'repeats': repeats,
      'machine': f'{platform.system()} {platform.machine()}, '
                 f'{os.cpu_count()} cores',
      'seconds': round((datetime.datetime.now() - started).total_seconds()),
      'rounds': rounds,
      **{key: summary(value) for key, value in rounds.items()}}
  with open(OUT, 'w') as f:
    json.dump(results, f, indent=1)
  return results


def write_section(results: dict) -> None:
  sys.path.insert(0, HERE)
  import report
  report.replace_section(DOC, TITLE, lines(results))
  print('\n'.join(lines(results)))


if __name__ == '__main__':
  main()
