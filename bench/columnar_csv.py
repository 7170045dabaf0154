"""CsvExampleGen against ColumnarCsvExampleGen, rows/s on the taxi data.

    python bench/columnar_csv.py [--factors 1,16] [--repeats 1] [--json PATH]
        [--readers tfx,columnar] [--files 1] [--workers N]

The taxi CSV that examples/chicago_taxi/data holds (15,002 trips, shipped
with TFX) is repeated `factor` times (1 and 16: 15k and 240k rows). Each
reader's executor (`Do`, real artifacts, the default in-process Beam runner,
TFX's default train/eval 2:1 split) runs in a fresh process, one after the
other, on the same file in the same invocation; its wall and CPU seconds and
peak RSS are measured there. The split sizes of the two outputs are checked
equal (the examples themselves are compared by tests/test_columnar_csv.py).
`--files N` writes the rows as N files; `--workers N` runs Beam's
DirectRunner with N processes (fluent_pipeline.beam.local(N)) for both.
Nothing here asserts a target: the goal, 10x at 240k rows, is printed next
to the ratio.
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

GOAL = 10.0  # issue 23: at least 10x at 240k rows
READERS = {
    'tfx': 'tfx.components.example_gen.csv_example_gen.executor.Executor',
    'columnar': 'fluent_pipeline.components.columnar_csv.Executor',
}


def write_data(work: str, factor: int, files: int = 1) -> tuple[str, int]:
  """The taxi CSV repeated `factor` times, in `files` files: (their folder,
  the rows)."""
  import taxi_data  # examples/chicago_taxi, on the path above
  with open(taxi_data.SHIPPED_CSV, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header, rows = next(reader), list(reader)
  folder = os.path.join(work, f'taxi_x{factor}')
  os.makedirs(folder)
  everything = rows * factor
  share = -(-len(everything) // files)
  for index in range(files):
    with open(os.path.join(folder, f'data-{index}.csv'), 'w', newline='',
              encoding='utf-8') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow(header)
      writer.writerows(everything[index * share:(index + 1) * share])
  return folder, len(everything)


def run_one(reader: str, data: str, out: str, workers: str) -> dict:
  """In this (fresh) process: one executor's Do, timed; the split sizes."""
  import importlib

  import tensorflow as tf
  from tfx.components.example_gen import utils
  from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
  from tfx.proto import example_gen_pb2
  from tfx.types import artifact_utils, standard_artifacts
  from tfx.utils import proto_utils
  module, name = READERS[reader].rsplit('.', 1)
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
  wall, cpu = time.perf_counter(), time.process_time()
  executor.Do({}, {'examples': [examples]}, properties)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  splits = {}
  for split in artifact_utils.decode_split_names(examples.split_names):
    folder = artifact_utils.get_split_uri([examples], split)
    files = [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
    splits[split] = sum(1 for _ in tf.data.TFRecordDataset(
        files, compression_type='GZIP'))
  return {'seconds': round(wall, 2), 'cpu_seconds': round(cpu, 2),
          'peak_rss_mb': round(peak), 'splits': splits}


def measure(reader: str, data: str, work: str, workers: int) -> dict:
  out = tempfile.mkdtemp(prefix=f'{reader}-', dir=work)
  done = subprocess.run(
      [sys.executable, __file__, '--one', reader, data, out, str(workers)],
      capture_output=True, text=True, check=False)
  shutil.rmtree(out, ignore_errors=True)
  for line in done.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[len('RESULT '):])
  tail = '\n'.join((done.stdout + done.stderr).splitlines()[-30:])
  raise SystemExit(f'{reader} on {data} failed (exit {done.returncode}):\n'
                   f'{tail}')


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--factors', default='1,16',
                      help='copies of the 15,002 taxi rows, comma-separated')
  parser.add_argument('--repeats', type=int, default=1,
                      help='runs of each reader per size (median kept)')
  parser.add_argument('--json', help='also write the figures here')
  parser.add_argument('--readers', default=','.join(READERS),
                      help='which readers (tfx, columnar)')
  parser.add_argument('--files', type=int, default=1,
                      help='files the rows are written in')
  parser.add_argument('--workers', type=int, default=0,
                      help="Beam worker processes (0: Beam's in-process "
                      'default)')
  parser.add_argument('--one', nargs=4, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:
    print('RESULT ' + json.dumps(run_one(*args.one)), flush=True)
    return 0

  readers = args.readers.split(',')
  results = []
  with tempfile.TemporaryDirectory(prefix='bench-columnar-') as work:
    for factor in [int(f) for f in args.factors.split(',')]:
      data, rows = write_data(work, factor, args.files)
      runs = {reader: [] for reader in readers}
      for _ in range(args.repeats):
        for reader in readers:
          runs[reader].append(measure(reader, data, work, args.workers))
          print(f'  {rows:>9,} rows  {reader:<9} {runs[reader][-1]}',
                flush=True)
      figures = {'rows': rows, 'files': args.files, 'workers': args.workers}
      for reader, measured in runs.items():
        seconds = statistics.median(r['seconds'] for r in measured)
        figures[reader] = {
            'seconds': seconds,
            'cpu_seconds': statistics.median(r['cpu_seconds']
                                             for r in measured),
            'rows_per_second': round(rows / seconds),
            'peak_rss_mb': max(r['peak_rss_mb'] for r in measured),
            'splits': measured[0]['splits'],
        }
      if len(readers) == 2:
        figures['same_split_sizes'] = (figures['tfx']['splits'] ==
                                       figures['columnar']['splits'])
        figures['speedup'] = round(figures['tfx']['seconds'] /
                                   figures['columnar']['seconds'], 1)
        figures['cpu_speedup'] = round(figures['tfx']['cpu_seconds'] /
                                       figures['columnar']['cpu_seconds'], 1)
      results.append(figures)

  print(f'\nExampleGen on the taxi CSV ({platform.system()} '
        f'{platform.machine()}, {os.cpu_count()} cores, Python '
        f'{platform.python_version()}; {args.files} file(s), '
        f"{args.workers or 'in-process'} Beam workers; median of "
        f'{args.repeats})')
  print('| rows | reader | seconds | CPU s | rows/s | peak RSS MB |')
  print('|---|---|---|---|---|---|')
  for figures in results:
    for reader in readers:
      r = figures[reader]
      print(f"| {figures['rows']:,} | {reader} | {r['seconds']} | "
            f"{r['cpu_seconds']} | {r['rows_per_second']:,} | "
            f"{r['peak_rss_mb']} |")
  for figures in (f for f in results if 'speedup' in f):
    print(f"{figures['rows']:,} rows: columnar {figures['speedup']}x the "
          f"rows/s of CsvExampleGen ({figures['cpu_speedup']}x in CPU "
          f"time; goal {GOAL:g}x at 240k rows); split sizes "
          + ('equal' if figures['same_split_sizes'] else
             f"DIFFER: {figures['tfx']['splits']} vs "
             f"{figures['columnar']['splits']}"))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'date': time.strftime('%Y-%m-%d'), 'goal': GOAL,
                 'results': results}, f, indent=1)
  return 0 if all(f.get('same_split_sizes', True) for f in results) else 1


if __name__ == '__main__':
  sys.exit(main())
