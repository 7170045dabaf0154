"""The columnar ExampleGens against TFX's, rows/s and peak RSS, taxi data.

    python bench/columnar_csv.py --suite [--quick] --json PATH
    python bench/columnar_csv.py [--format csv] [--factors 1,16] [--files 1]
        [--workers N] [--readers tfx,columnar] [--repeats 1]

The taxi CSV that examples/chicago_taxi/data holds (15,002 trips, shipped
with TFX) is repeated `factor` times (1, 16 and 67: 15k, 240k and 1M rows)
and written as CSV, or as Parquet (pyarrow's types, row groups of 65,536
rows), in one or several files. Each reader's executor (`Do`, real
artifacts, TFX's default train/eval 2:1 split; Beam in-process, or
`fluent_pipeline.beam.local(workers)`) runs in a fresh process, one after
the other, on the same files in the same invocation; its wall and CPU
seconds and peak RSS (ru_maxrss of the process; of its Beam worker
processes apart) are measured there. The split sizes of the outputs are
checked equal (the examples themselves are compared by
tests/test_columnar_csv.py and tests/test_columnar_parquet.py).

`--suite` measures what issue 23 asks, in one invocation: both readers of
both formats at the three sizes; the columnar reader on 1M rows in one file
and in four, in-process and with two Beam workers (and both readers with
two workers on 240k rows in four files); and the taxi data stage
(ExampleGen, StatisticsGen, SchemaGen, Transform through `from_csv`) at
240k rows with `reader='tfx'` and with the default. `--quick`: 15k rows
only. Nothing here asserts a target: the goal, 10x at 240k and 1M rows, is
printed next to the ratios.
"""

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import fluent_pipeline.beam  # first: selects tf-keras before TF loads

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'examples', 'chicago_taxi'))

GOAL = 10.0  # issue 23: at least 10x at 240k and 1M rows
FORMATS = ('csv', 'parquet')
READERS = {
    'csv': {
        'tfx': 'tfx.components.example_gen.csv_example_gen.executor.Executor',
        'columnar': 'fluent_pipeline.components.columnar_csv.Executor',
    },
    'parquet': {
        'tfx': 'tfx.components.example_gen.custom_executors.parquet_executor'
               '.Executor',
        'columnar': 'fluent_pipeline.components.columnar_parquet.Executor',
    },
}
ROW_GROUP_ROWS = 65_536
SIZES = (1, 16, 67)  # x 15,002 rows: 15k, 240k, 1M
SPREAD_FACTOR, SPREAD_FILES = 67, 4  # 1M rows, in 1 file and in 4
STAGE_FACTOR = 16  # the data stage at 240k rows


def write_data(work: str, fmt: str, factor: int, files: int = 1
               ) -> tuple[str, int]:
  """The taxi CSV repeated `factor` times, in `files` files of `fmt`:
  (their folder, the rows)."""
  import taxi_data  # examples/chicago_taxi, on the path above
  with open(taxi_data.SHIPPED_CSV, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header, rows = next(reader), list(reader)
  folder = os.path.join(work, f'taxi_{fmt}_x{factor}_{files}files')
  os.makedirs(folder)
  everything = rows * factor
  share = -(-len(everything) // files)
  for index in range(files):
    path = os.path.join(folder, f'data-{index}.csv')
    with open(path, 'w', newline='', encoding='utf-8') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow(header)
      writer.writerows(everything[index * share:(index + 1) * share])
    if fmt == 'parquet':
      import pyarrow.csv as pcsv
      import pyarrow.parquet as pq
      pq.write_table(pcsv.read_csv(path), path[:-len('csv')] + 'parquet',
                     row_group_size=ROW_GROUP_ROWS)
      os.remove(path)
  return folder, len(everything)


def executor_class(fmt: str, reader: str) -> str:
  """A reader's executor: a name of READERS, or a dotted class path."""
  return READERS[fmt].get(reader, reader)


def run_one(fmt: str, reader: str, data: str, out: str, workers: str
            ) -> dict:
  """In this (fresh) process: one executor's Do, timed; the split sizes."""
  import importlib

  import tensorflow as tf
  from tfx.components.example_gen import utils
  from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
  from tfx.proto import example_gen_pb2
  from tfx.types import artifact_utils, standard_artifacts
  from tfx.utils import proto_utils
  module, name = executor_class(fmt, reader).rsplit('.', 1)
  beam_args = fluent_pipeline.beam.local(int(workers)) if int(workers) else []
  executor = getattr(importlib.import_module(module), name)(
      BaseBeamExecutor.Context(beam_pipeline_args=beam_args))
  examples = standard_artifacts.Examples()
  examples.uri = out
  input_config = utils.make_default_input_config()
  properties = {
      'input_base': data,
      'input_config': proto_utils.proto_to_json(input_config),
      'output_config': proto_utils.proto_to_json(
          utils.make_default_output_config(input_config)),
      'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE,
      'output_file_format': example_gen_pb2.FORMAT_TFRECORDS_GZIP,
  }
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  wall, cpu = time.perf_counter(), time.process_time()
  executor.Do({}, {'examples': [examples]}, properties)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  children = resource.getrusage(resource.RUSAGE_CHILDREN)
  splits, shards = {}, 0
  for split in artifact_utils.decode_split_names(examples.split_names):
    folder = artifact_utils.get_split_uri([examples], split)
    files = [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
    shards += len(files)
    splits[split] = sum(1 for _ in tf.data.TFRecordDataset(
        files, compression_type='GZIP'))
  return {'seconds': round(wall, 2), 'cpu_seconds': round(cpu, 2),
          'peak_rss_mb': round(peak), 'rss_before_mb': round(before),
          'workers_cpu_seconds': round(children.ru_utime
                                       + children.ru_stime, 2),
          'workers_peak_rss_mb': round(children.ru_maxrss / 1024),
          'splits': splits, 'shards': shards}


def _result(args: list[str], what: str) -> dict:
  done = subprocess.run([sys.executable, __file__, *args],
                        capture_output=True, text=True, check=False)
  for line in done.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[len('RESULT '):])
  tail = '\n'.join((done.stdout + done.stderr).splitlines()[-30:])
  raise SystemExit(f'{what} failed (exit {done.returncode}):\n{tail}')


def measure(fmt: str, reader: str, data: str, work: str, workers: int
            ) -> dict:
  out = tempfile.mkdtemp(prefix='examples-', dir=work)
  try:
    return _result(['--one', fmt, reader, data, out, str(workers)],
                   f'{fmt} {reader} on {data}')
  finally:
    shutil.rmtree(out, ignore_errors=True)


def run_stage(reader: str, data: str, root: str) -> dict:
  """In this (fresh) process: the taxi data stage through from_csv."""
  sys.path.insert(0, HERE)
  import workloads  # bench/workloads.py: the taxi module file

  from fluent_pipeline import PipelineDef, read_run
  started = time.perf_counter()
  pdef = (PipelineDef('ingest_stage', root=root)
          .from_csv(data, reader=reader).generate_statistics()
          .infer_schema().preprocess(workloads.module_file()))
  pdef.run()
  wall = time.perf_counter() - started
  components = {c.node_id: round(c.seconds, 2)
                for c in read_run(pdef).components}
  steps = [n for n in components
           if n.endswith(('ExampleGen', 'StatisticsGen', 'SchemaGen',
                          'Transform'))]
  return {'wall_seconds': round(wall, 2), 'components': components,
          'seconds': round(sum(components[n] for n in steps), 2)}


# --- the figures --------------------------------------------------------------


def _summary(measured: list[dict], rows: int) -> dict:
  seconds = statistics.median(r['seconds'] for r in measured)
  return {
      'seconds': seconds,
      'cpu_seconds': statistics.median(r['cpu_seconds'] for r in measured),
      'workers_cpu_seconds': statistics.median(r['workers_cpu_seconds']
                                               for r in measured),
      'rows_per_second': round(rows / seconds),
      'peak_rss_mb': max(r['peak_rss_mb'] for r in measured),
      'workers_peak_rss_mb': max(r['workers_peak_rss_mb'] for r in measured),
      'rss_before_mb': max(r['rss_before_mb'] for r in measured),
      'shards': measured[0]['shards'],
      'splits': measured[0]['splits'],
  }


def compare(work: str, fmt: str, factor: int, files: int, workers: int,
            readers: list[str], repeats: int = 1,
            data: tuple[str, int] | None = None) -> dict:
  """Each reader on the same data, `repeats` times, interleaved: their
  figures, and the columnar / TFX ratios when both ran."""
  folder, rows = data or write_data(work, fmt, factor, files)
  runs: dict[str, list[dict]] = {reader: [] for reader in readers}
  for _ in range(repeats):
    for reader in readers:
      runs[reader].append(measure(fmt, reader, folder, work, workers))
      print(f'  {fmt:<7} {rows:>9,} rows {files} file(s) workers={workers} '
            f'{reader:<9} {runs[reader][-1]}', flush=True)
  figures = {'format': fmt, 'rows': rows, 'files': files,
             'workers': workers}
  for reader, measured in runs.items():
    figures[reader] = _summary(measured, rows)
  if 'tfx' in runs and 'columnar' in runs:
    tfx, ours = figures['tfx'], figures['columnar']
    figures['same_split_sizes'] = tfx['splits'] == ours['splits']
    figures['speedup'] = round(tfx['seconds'] / ours['seconds'], 1)
    figures['cpu_speedup'] = round(
        (tfx['cpu_seconds'] + tfx['workers_cpu_seconds'])
        / (ours['cpu_seconds'] + ours['workers_cpu_seconds']), 1)
  return figures


def suite(work: str, quick: bool) -> dict:
  """What issue 23 asks, in one invocation (see the module docstring)."""
  sizes = (1,) if quick else SIZES
  spread_factor = 1 if quick else SPREAD_FACTOR
  stage_factor = 1 if quick else STAGE_FACTOR
  out: dict = {'date': time.strftime('%Y-%m-%d'), 'goal': GOAL,
               'row_group_rows': ROW_GROUP_ROWS, 'readers': [], 'spread': [],
               'stage': {}}
  for fmt in FORMATS:
    one_file = {}
    for factor in sizes:
      one_file[factor] = write_data(work, fmt, factor)
      out['readers'].append(compare(work, fmt, factor, 1, 0,
                                    ['tfx', 'columnar'],
                                    data=one_file[factor]))
    several = write_data(work, fmt, spread_factor, SPREAD_FILES)
    for data, files in ((one_file[spread_factor], 1),
                        (several, SPREAD_FILES)):
      for workers in (0, 2):
        out['spread'].append(compare(work, fmt, spread_factor, files, workers,
                                     ['columnar'], data=data))
    four = (several if spread_factor == stage_factor else
            write_data(work, fmt, stage_factor, SPREAD_FILES))
    out['readers'].append(compare(work, fmt, stage_factor, SPREAD_FILES, 2,
                                  ['tfx', 'columnar'], data=four))
    for factor in sizes:
      shutil.rmtree(one_file[factor][0], ignore_errors=True)
  folder, rows = write_data(work, 'csv', stage_factor)
  stage = {'rows': rows}
  for reader in ('tfx', 'columnar'):
    root = tempfile.mkdtemp(prefix=f'stage-{reader}-', dir=work)
    stage[reader] = _result(['--stage', reader, folder, root],
                            f'data stage with reader={reader}')
    shutil.rmtree(root, ignore_errors=True)
    print(f'  data stage {rows:,} rows reader={reader}: {stage[reader]}',
          flush=True)
  stage['speedup'] = round(stage['tfx']['seconds']
                           / stage['columnar']['seconds'], 1)
  out['stage'] = stage
  return out


def _print_table(results: list[dict], readers: list[str]) -> None:
  print('| format | rows | files | workers | reader | seconds | CPU s | '
        'rows/s | peak RSS MB | shards |')
  print('|---|---|---|---|---|---|---|---|---|---|')
  for figures in results:
    for reader in readers:
      if reader not in figures:
        continue
      r = figures[reader]
      print(f"| {figures['format']} | {figures['rows']:,} | "
            f"{figures['files']} | {figures['workers']} | {reader} | "
            f"{r['seconds']} | {r['cpu_seconds']} | "
            f"{r['rows_per_second']:,} | {r['peak_rss_mb']} | "
            f"{r['shards']} |")
  for figures in (f for f in results if 'speedup' in f):
    print(f"{figures['format']} {figures['rows']:,} rows, "
          f"{figures['files']} file(s), workers={figures['workers']}: "
          f"columnar {figures['speedup']}x the rows/s of TFX's reader "
          f"({figures['cpu_speedup']}x in CPU time; goal {GOAL:g}x); split "
          'sizes ' + ('equal' if figures['same_split_sizes'] else
                      f"DIFFER: {figures['tfx']['splits']} vs "
                      f"{figures['columnar']['splits']}"))


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--suite', action='store_true',
                      help="issue 23's figures (see above)")
  parser.add_argument('--quick', action='store_true',
                      help='with --suite: 15k rows only')
  parser.add_argument('--format', default='csv', choices=FORMATS)
  parser.add_argument('--factors', default='1,16',
                      help='copies of the 15,002 taxi rows, comma-separated')
  parser.add_argument('--repeats', type=int, default=1,
                      help='runs of each reader per size (median kept)')
  parser.add_argument('--json', help='also write the figures here')
  parser.add_argument('--readers', default='tfx,columnar',
                      help='tfx, columnar, or executors\' dotted class paths')
  parser.add_argument('--files', type=int, default=1,
                      help='files the rows are written in')
  parser.add_argument('--workers', type=int, default=0,
                      help="Beam worker processes (0: Beam's in-process "
                      'default)')
  parser.add_argument('--one', nargs=5, help=argparse.SUPPRESS)
  parser.add_argument('--stage', nargs=3, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:
    print('RESULT ' + json.dumps(run_one(*args.one)), flush=True)
    return 0
  if args.stage:
    print('RESULT ' + json.dumps(run_stage(*args.stage)), flush=True)
    return 0

  print(f'{platform.system()} {platform.machine()}, {os.cpu_count()} cores, '
        f'Python {platform.python_version()}', flush=True)
  with tempfile.TemporaryDirectory(prefix='bench-ingest-') as work:
    if args.suite:
      figures = suite(work, args.quick)
      results = figures['readers'] + figures['spread']
      readers = ['tfx', 'columnar']
    else:
      readers = args.readers.split(',')
      results = [compare(work, args.format, int(factor), args.files,
                         args.workers, readers, args.repeats)
                 for factor in args.factors.split(',')]
      figures = {'date': time.strftime('%Y-%m-%d'), 'goal': GOAL,
                 'readers': results}
  _print_table(results, readers)
  if args.suite:
    stage = figures['stage']
    print(f"data stage at {stage['rows']:,} rows: "
          f"{stage['tfx']['seconds']} s with reader='tfx', "
          f"{stage['columnar']['seconds']} s with the default "
          f"({stage['speedup']}x)")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(figures, f, indent=1)
  return 0 if all(f.get('same_split_sizes', True) for f in results) else 1


if __name__ == '__main__':
  sys.exit(main())
