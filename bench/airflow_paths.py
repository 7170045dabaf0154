"""The DAG file compile writes (the compiled pipeline, read with Airflow
alone) against the DAG of TFX's legacy AirflowDagRunner (the pipeline
rebuilt at every parse), measured in the same run on the same chain:

    python bench/airflow_paths.py [--repeats 2]

For each: `parse_seconds`, the wall time of `python DAG_FILE` (what every
task process and every scheduler loop pays to parse it) with the heavy
modules it loaded; `task_overhead_seconds`, the median over the chain's
tasks of `airflow tasks test` wall time minus the execution's own time in
ML Metadata (each task of a new DAG run, in order, served by TFX's cache:
bench/airflow_overhead.py's measure, over every task rather than one);
`root_task_overhead_seconds`, the same over the tasks without inputs
(all the legacy path can be measured on); `dags_test_seconds`, the first
`airflow dags test` (every component runs).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from airflow_overhead import timed  # bench/, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
AIRFLOW = os.path.join(BIN, 'airflow')
HEAVY = ('tensorflow', 'apache_beam', 'tensorflow_transform',
         'tensorflow_model_analysis')
TASKS = ('PipelineConfigurationGen', 'CsvExampleGen', 'StatisticsGen',
         'SchemaGen')
# `airflow tasks test` of a date with no DAG run runs in a temporary run
# whose id differs at every call: the legacy launchers then find no run
# context for a task with inputs, so only the roots are measured there.
LEGACY_TASKS = TASKS[:2]

PIPELINE = '''
from fluent_pipeline import PipelineDef


def create_pipeline(root: str, data_dir: str, name: str = 'airflow_ir'):
  return (PipelineDef(name, root=root).from_csv(data_dir)
          .generate_statistics().infer_schema().cache())
'''

# What fluent_pipeline's DAG files did before the compiled pipeline: the
# pipeline built at parse time, the DAG made by TFX's AirflowDagRunner.
LEGACY_DAG = '''"""The legacy path: DAG (airflow) of TFX's AirflowDagRunner."""
import datetime
import os

from fluent_pipeline.dsl import wiring
from fluent_pipeline.project import pipeline_file
from tfx.orchestration.airflow import airflow_dag_runner

pdef = pipeline_file.load({path!r}).build({parameters!r})
os.makedirs(pdef.pipeline_root, exist_ok=True)  # sqlite's folder
DAG = airflow_dag_runner.AirflowDagRunner(
    airflow_dag_runner.AirflowPipelineConfig(airflow_dag_config={{
        'schedule': None, 'start_date': datetime.datetime(2024, 1, 1),
        'catchup': False, 'max_active_runs': 1}})
).run(wiring.build(pdef._plan, 'AirflowDagRunner'))
'''


def _parse(dag_file: str, env) -> dict:
  code = ('import runpy, sys\n'
          'runpy.run_path(sys.argv[1])\n'
          'print(",".join(m for m in sys.argv[2:] if m in sys.modules))')
  done = subprocess.run([sys.executable, '-c', code, dag_file, *HEAVY],
                        env=env, capture_output=True, text=True, check=True)
  loaded = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''
  return {'seconds': timed([sys.executable, dag_file], env),
          'heavy_modules': [m for m in loaded.split(',') if m]}


class _Path:
  """One way of making the DAG, in an Airflow home of its own (`airflow
  tasks test` parses every file of the dags folder)."""

  def __init__(self, name: str, work: str, root: str, tasks):
    self.name, self.root, self.tasks = name, root, tasks
    home = os.path.join(work, name)
    self.dags = os.path.join(home, 'dags')
    self.env = dict(os.environ, AIRFLOW_HOME=home,
                    AIRFLOW__CORE__DAGS_FOLDER=self.dags,
                    AIRFLOW__CORE__LOAD_EXAMPLES='False',
                    TF_USE_LEGACY_KERAS='1',
                    AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT='300')
    self.dag_file = os.path.join(self.dags, f'{name}_dag.py')
    self.parses, self.overheads, self.walls, self.roots = [], [], [], []
    subprocess.run([AIRFLOW, 'db', 'migrate'], env=self.env, check=True,
                   capture_output=True)

  def first_run(self) -> None:
    self.dags_test = timed([AIRFLOW, 'dags', 'test', self.name,
                             '2026-01-01'], self.env)

  def tasks_of_a_run(self, day: int) -> None:
    from fluent_pipeline import PipelineDef, read_run
    pdef = PipelineDef(self.name, root=self.root)
    for task in self.tasks:
      wall = timed([AIRFLOW, 'tasks', 'test', self.name, task,
                     f'2026-01-{day:02d}'], self.env)
      component = read_run(pdef).component(task)  # the latest run: this one
      if component.state not in ('CACHED', 'COMPLETE'):
        raise RuntimeError(f'{self.name} {task}: {component}')
      self.walls.append(wall)
      self.overheads.append(wall - component.seconds)
      if task in LEGACY_TASKS:
        self.roots.append(wall - component.seconds)

  def figures(self) -> dict:
    return {
        'parse_seconds': round(statistics.median(
            p['seconds'] for p in self.parses), 2),
        'parse_heavy_modules': self.parses[0]['heavy_modules'],
        'dags_test_seconds': round(self.dags_test, 1),
        'task_wall_seconds': round(statistics.median(self.walls), 2),
        'task_overhead_seconds': round(statistics.median(self.overheads), 2),
        'root_task_overhead_seconds': round(statistics.median(self.roots),
                                            2),
        'tasks_measured': len(self.overheads),
    }


def measure(repeats: int = 2) -> dict:
  """Both paths measured in turns, so that the machine's load falls on
  both alike."""
  sys.path.insert(0, os.path.join(REPO, 'examples', 'chicago_taxi'))
  import taxi_data
  work = tempfile.mkdtemp(prefix='airflow-paths-')
  data = taxi_data.write_data(work, rows=2000, unlabelled_rows=10)['data']
  pipeline_file = os.path.join(work, 'paths_pipeline.py')
  with open(pipeline_file, 'w', encoding='utf-8') as f:
    f.write(PIPELINE)
  root = os.path.join(work, 'root')
  ir = _Path('airflow_ir', work, root, TASKS)
  subprocess.run([os.path.join(BIN, 'fluent-pipeline'), 'compile',
                  pipeline_file, '--set', f'root={root}', '--set',
                  f'data_dir={data}', '--runner', 'airflow', '-o', ir.dags],
                 env=ir.env, check=True, capture_output=True)
  legacy = _Path('airflow_legacy', work, root, LEGACY_TASKS)
  os.makedirs(legacy.dags, exist_ok=True)
  with open(legacy.dag_file, 'w', encoding='utf-8') as f:
    f.write(LEGACY_DAG.format(path=pipeline_file, parameters={
        'root': root, 'data_dir': data, 'name': 'airflow_legacy'}))
  paths = (ir, legacy)
  for _ in range(repeats):
    for path in paths:
      path.parses.append(_parse(path.dag_file, path.env))
  for path in paths:
    path.first_run()
  for day in range(2, repeats + 2):  # a DAG run of its own each time
    for path in paths:
      path.tasks_of_a_run(day)
  tf_import = [timed([sys.executable, '-c', 'import tensorflow'], ir.env)
               for _ in range(repeats)]
  return {'ir': ir.figures(), 'legacy_airflow_dag_runner': legacy.figures(),
          'baseline_import_tensorflow_seconds': round(
              statistics.median(tf_import), 2),
          'repeats': repeats}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=2)
  print(json.dumps(measure(parser.parse_args().repeats), indent=1))
  return 0


if __name__ == '__main__':
  sys.exit(main())
