"""What one Airflow task costs before its component does any work.

Each component of a fluent pipeline on Airflow is one task, and each task
runs in a fresh process (`airflow tasks run`): it imports Airflow, parses the
DAG file (which imports TFX and TensorFlow and builds the pipeline) and only
then runs the component. This measures that start-up on a real Airflow:

    python bench/airflow_overhead.py [--repeats 3]

prints `airflow_task_overhead_seconds` (the wall time of `airflow tasks
test` for a component TFX serves from its cache, CsvExampleGen of unchanged
files, minus that execution's own time in ML Metadata) beside the baseline of the same machine: a bare
`import tensorflow` and a bare `import airflow`, each in a fresh process.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)

PIPELINE = '''
from fluent_pipeline import PipelineDef


def create_pipeline(root: str, data_dir: str):
  return (PipelineDef('airflow_overhead', root=root).from_csv(data_dir)
          .generate_statistics().infer_schema().cache())
'''


def timed(args, env) -> float:
  """Seconds of one command, which must succeed (its stderr else)."""
  start = time.perf_counter()
  done = subprocess.run(args, env=env, capture_output=True, text=True,
                        stdin=subprocess.DEVNULL)
  seconds = time.perf_counter() - start
  if done.returncode != 0:
    raise RuntimeError(f'{args} failed:\n{done.stderr[-3000:]}')
  return seconds


def measure(repeats: int = 3) -> dict:
  sys.path.insert(0, os.path.join(REPO, 'examples', 'chicago_taxi'))
  import taxi_data
  work = tempfile.mkdtemp(prefix='airflow-overhead-')
  data = taxi_data.write_data(work, rows=2000, unlabelled_rows=10)['data']
  home = os.path.join(work, 'airflow')
  env = dict(os.environ, AIRFLOW_HOME=home,
             AIRFLOW__CORE__DAGS_FOLDER=os.path.join(home, 'dags'),
             AIRFLOW__CORE__LOAD_EXAMPLES='False', TF_USE_LEGACY_KERAS='1')
  pipeline_file = os.path.join(work, 'overhead_pipeline.py')
  with open(pipeline_file, 'w', encoding='utf-8') as f:
    f.write(PIPELINE)
  root = os.path.join(work, 'root')
  subprocess.run([os.path.join(BIN, 'airflow'), 'db', 'migrate'], env=env,
                 check=True, capture_output=True)
  subprocess.run([os.path.join(BIN, 'fluent-pipeline'), 'compile',
                  pipeline_file, '--set', f'root={root}', '--set',
                  f'data_dir={data}', '--runner', 'airflow', '-o',
                  env['AIRFLOW__CORE__DAGS_FOLDER']], env=env, check=True,
                 capture_output=True)
  timed([os.path.join(BIN, 'airflow'), 'dags', 'test', 'airflow_overhead',
          '2026-01-01'], env)  # the first run: every component executes
  from fluent_pipeline import PipelineDef, read_run
  pdef = PipelineDef('airflow_overhead', root=root)
  overheads, walls = [], []
  for day in range(2, repeats + 2):  # a run of its own each time
    wall = timed([os.path.join(BIN, 'airflow'), 'tasks', 'test',
                   'airflow_overhead', 'CsvExampleGen', f'2026-01-{day:02d}'],
                  env)
    result = read_run(pdef)  # the latest run: this task's
    example_gen = result.component('CsvExampleGen')
    assert example_gen.state == 'CACHED', result
    walls.append(wall)
    overheads.append(wall - example_gen.seconds)
  tf_import = [timed([sys.executable, '-c', 'import tensorflow'], env)
               for _ in range(repeats)]
  airflow_import = [timed([sys.executable, '-c', 'import airflow'], env)
                    for _ in range(repeats)]
  overhead = statistics.median(overheads)
  return {
      'airflow_task_overhead_seconds': round(overhead, 2),
      'airflow_task_wall_seconds': round(statistics.median(walls), 2),
      'baseline_import_tensorflow_seconds': round(
          statistics.median(tf_import), 2),
      'baseline_import_airflow_seconds': round(
          statistics.median(airflow_import), 2),
      'overhead_vs_tensorflow_import': round(
          overhead / statistics.median(tf_import), 2),
      'repeats': repeats,
  }


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=3)
  figures = measure(parser.parse_args().repeats)
  print(json.dumps(figures, indent=1))
  return 0


if __name__ == '__main__':
  sys.exit(main())
