"""Benchmarks: fluent pipelines against hand-written TFX, in one invocation.

    make bench            # or: python bench/run.py [--repeats N] [--quick]

Every figure is measured here, now, beside its baseline, on fresh pipeline
roots, and written to bench/results.json, docs/BENCHMARKS.md and
docs/benchmarks.png. Nothing here asserts a target: the figures and ratios
are printed and recorded, and the targets are listed next to them.
"""

import argparse
import csv
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'examples', 'chicago_taxi'))

import taxi_data  # noqa: E402  (on the path above)

WORKLOADS = os.path.join(HERE, 'workloads.py')


def log(message: str) -> None:
  print(message, flush=True)


def run_workload(kind: str, root: str, data_dir: str) -> dict:
  """Runs one workload in a fresh process; its wall time and its RESULT."""
  started = time.perf_counter()
  done = subprocess.run([sys.executable, WORKLOADS, kind, root, data_dir],
                        capture_output=True, text=True, check=False)
  wall = time.perf_counter() - started
  for line in done.stdout.splitlines():
    if line.startswith('RESULT '):
      result = json.loads(line[len('RESULT '):])
      result['wall_seconds'] = round(wall, 2)
      return result
  tail = '\n'.join((done.stdout + done.stderr).splitlines()[-30:])
  raise SystemExit(f'workload {kind} failed (exit {done.returncode}):\n{tail}')


def median_of(values: list[float]) -> float:
  return round(statistics.median(values), 3)


def component_medians(runs: list[dict]) -> dict[str, float]:
  """Seconds per component, the median over repeated runs."""
  nodes = runs[0]['components']
  return {n: round(statistics.median(r['components'].get(n, 0.0)
                                     for r in runs), 2) for n in nodes}


def timed_subprocess(args: list[str], repeats: int) -> float:
  times = []
  for _ in range(repeats):
    started = time.perf_counter()
    subprocess.run(args, capture_output=True, check=True)
    times.append(time.perf_counter() - started)
  return median_of(times)


def write_rows(target_dir: str, rows: list[list[str]], header) -> str:
  os.makedirs(target_dir, exist_ok=True)
  path = os.path.join(target_dir, 'data.csv')
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
  return path


def scaled_data(work: str, factor: int) -> str:
  """The shipped taxi CSV resampled (with replacement) to factor x rows."""
  with open(taxi_data.SHIPPED_CSV, newline='') as f:
    reader = csv.reader(f)
    header, rows = next(reader), list(reader)
  if factor > 1:
    rows = random.Random(factor).choices(rows, k=len(rows) * factor)
  folder = os.path.join(work, f'data_x{factor}')
  write_rows(folder, rows, header)
  return folder


def bench_e2e(work: str, data_dir: str, repeats: int) -> dict:
  """Figures 1, 2 and 6: first runs, cached re-runs, peak memory."""
  out: dict[str, list[dict]] = {'fluent': [], 'tfx_local': [],
                                'tfx_defaults': [], 'fluent_cached': [],
                                'tfx_local_cached': [], 'fluent_third': []}
  for i in range(repeats):
    kinds = ('fluent', 'tfx_local', 'tfx_defaults')
    for kind in kinds if i % 2 == 0 else kinds[::-1]:  # interleaved
      root = os.path.join(work, f'e2e_{kind}_{i}')
      log(f'  e2e {kind} (run {i + 1}/{repeats}) ...')
      out[kind].append(run_workload(kind, root, data_dir))
      log(f'    {out[kind][-1]["wall_seconds"]:.1f} s')
      if kind in ('fluent', 'tfx_local'):
        log(f'  e2e {kind}, second run, nothing changed ...')
        out[f'{kind}_cached'].append(run_workload(kind, root, data_dir))
        log(f'    {out[f"{kind}_cached"][-1]["wall_seconds"]:.1f} s')
      if kind == 'fluent':
        log('  e2e fluent, third run, nothing changed ...')
        out['fluent_third'].append(run_workload(kind, root, data_dir))
        log(f'    {out["fluent_third"][-1]["wall_seconds"]:.1f} s')
  return out


def bench_build(repeats: int) -> dict:
  """Figure 3: build + compile of the pipeline object, in milliseconds."""
  sys.path.insert(0, HERE)
  import workloads
  from tfx.dsl.compiler import compiler
  work = tempfile.mkdtemp(prefix='bench-build-')
  data_dir = scaled_data(work, 1)
  workloads.eval_config()  # imports TFMA outside the timing
  timings = {'fluent': [], 'tfx': []}
  for _ in range(repeats):
    for kind in ('fluent', 'tfx'):
      started = time.perf_counter()
      if kind == 'fluent':
        pipeline = workloads.fluent_chain(work, data_dir).build()
      else:
        pipeline = workloads.tfx_pipeline(work, data_dir, [])
      compiler.Compiler().compile(pipeline)
      timings[kind].append((time.perf_counter() - started) * 1000)
  shutil.rmtree(work, ignore_errors=True)
  return {k: median_of(v) for k, v in timings.items()}


def bench_scaling(work: str, factors: list[int]) -> list[dict]:
  """Figure 5: the data stage at several sizes, and a plain pyarrow read."""
  import pyarrow.csv
  rows_out = []
  for factor in factors:
    data_dir = scaled_data(work, factor)
    path = os.path.join(data_dir, 'data.csv')
    started = time.perf_counter()
    table = pyarrow.csv.read_csv(path)
    arrow_seconds = time.perf_counter() - started
    log(f'  data stage x{factor} ({table.num_rows} rows) ...')
    result = run_workload('data_stage', os.path.join(work, f'scale_x{factor}'),
                          data_dir)
    stages = {k: v for k, v in result['components'].items()}
    rows_out.append({
        'factor': factor, 'rows': table.num_rows,
        'seconds': stages,
        'rows_per_second': {k: round(table.num_rows / v) if v else None
                            for k, v in stages.items()},
        'pyarrow_read_seconds': round(arrow_seconds, 3),
        'example_gen_vs_pyarrow': round(
            stages['CsvExampleGen'] / max(arrow_seconds, 1e-6), 1)})
    log(f'    {stages}')
  return rows_out


INGEST_TITLE = '## Ingestion: the columnar ExampleGens vs TFX\'s'
OLD_INGEST_TITLES = ('## Ingestion: columnar CsvExampleGen vs TFX\'s',)
INGEST_SCRIPT = os.path.join(HERE, 'columnar_csv.py')
_READER_KEYS = ('seconds', 'cpu_seconds', 'workers_cpu_seconds',
                'rows_per_second', 'peak_rss_mb', 'workers_peak_rss_mb',
                'rss_before_mb', 'shards')


def bench_ingest(work: str, quick: bool) -> dict:
  """The default (columnar) CSV and Parquet readers against TFX's: each
  executor's Do in a fresh process, same files, same invocation
  (bench/columnar_csv.py --suite --json): rows/s, seconds, peak RSS and
  their ratios at 15k, 240k and 1M rows; the columnar reader on 1M rows in
  one file and in four, in-process and with two Beam workers; the data
  stage at 240k rows with either reader."""
  out = os.path.join(work, 'ingest.json')
  done = subprocess.run(
      [sys.executable, INGEST_SCRIPT, '--suite', '--json', out]
      + (['--quick'] if quick else []),
      capture_output=True, text=True, check=False)
  if not os.path.exists(out):
    tail = '\n'.join((done.stdout + done.stderr).splitlines()[-30:])
    raise SystemExit(f'bench/columnar_csv.py failed (exit {done.returncode})'
                     f':\n{tail}')
  with open(out) as f:
    measured = json.load(f)

  def reader(figures: dict) -> dict:
    return {k: figures[k] for k in _READER_KEYS}

  readers = []
  for figures in measured['readers']:
    tfx, columnar = figures['tfx'], figures['columnar']
    readers.append({
        'format': figures['format'], 'rows': figures['rows'],
        'files': figures['files'], 'workers': figures['workers'],
        'tfx': reader(tfx), 'columnar': reader(columnar),
        'ratio': {  # columnar / TFX: rows/s above 1 and seconds below 1 win
            'rows_per_second': ratio(columnar['rows_per_second'],
                                     tfx['rows_per_second']),
            'seconds': ratio(columnar['seconds'], tfx['seconds']),
            'cpu_seconds': ratio(
                columnar['cpu_seconds'] + columnar['workers_cpu_seconds'],
                tfx['cpu_seconds'] + tfx['workers_cpu_seconds']),
            'peak_rss_mb': ratio(columnar['peak_rss_mb'],
                                 tfx['peak_rss_mb'])},
        'splits': tfx['splits'],
        'same_split_sizes': figures['same_split_sizes'],
    })
    log(f'    {figures["format"]} {figures["rows"]:,} rows, '
        f'{figures["files"]} file(s), workers={figures["workers"]}: '
        f'columnar {columnar["rows_per_second"]:,} rows/s, TFX '
        f'{tfx["rows_per_second"]:,} rows/s '
        f'({readers[-1]["ratio"]["rows_per_second"]}x)')
  spread = [{'format': f['format'], 'rows': f['rows'], 'files': f['files'],
             'workers': f['workers'], 'columnar': reader(f['columnar'])}
            for f in measured['spread']]
  stage = measured['stage']
  return {'goal': measured['goal'],
          'row_group_rows': measured['row_group_rows'],
          'readers': readers, 'spread': spread,
          'stage': {'rows': stage['rows'], 'speedup': stage['speedup'],
                    **{r: {'seconds': stage[r]['seconds'],
                           'components': stage[r]['components']}
                       for r in ('tfx', 'columnar')}}}


# TFX's AirflowDagRunner DAG, before issue 24 (bench/airflow_overhead.py,
# 2026-11-29): the DAG file rebuilt the pipeline in every task.
AIRFLOW_DAG_RUNNER_TASK_OVERHEAD_SECONDS = 24.0


def airflow_figures(tasks_test: dict | None, celery: dict) -> dict:
  """results.json's Airflow figures: a task's overhead on the
  CeleryExecutor with warm workers (the headline), without, and under
  `airflow tasks test`, beside the figure before the compiled DAG."""
  figures = {
      'airflow_celery': {k: celery[k] for k in ('preload', 'no_preload',
                                                'date', 'repeats')},
      'airflow_task_overhead_seconds': celery['preload'][
          'task_overhead_seconds'],
      'airflow_task_overhead_seconds_plain_workers': celery['no_preload'][
          'task_overhead_seconds'],
      'airflow_task_overhead_seconds_before':
          AIRFLOW_DAG_RUNNER_TASK_OVERHEAD_SECONDS,
  }
  if tasks_test:
    figures['airflow'] = tasks_test
    figures['airflow_tasks_test_overhead_seconds'] = tasks_test[
        'airflow_task_overhead_seconds']
  return figures


def ingest_lines(results: dict) -> list[str]:
  """The section "Ingestion", from results.json `ingest`."""
  ingest = results['ingest']
  day = (results.get('parts_measured') or {}).get('ingest', '')
  goal = ingest['goal']
  lines = [
      INGEST_TITLE, '',
      f'Written by `make bench` (bench/run.py part `ingest`, {day}); '
      f'{results["machine"]}. bench/columnar_csv.py runs each reader\'s '
      'executor (`Do`, real artifacts, TFX\'s default 2:1 train/eval hash '
      'split) in a fresh process, one after the other, on the same files: '
      'the taxi CSV shipped with TFX (15,002 trips) repeated 1, 16 and 67 '
      'times (15k, 240k, 1M rows), as CSV and as Parquet (pyarrow\'s types, '
      f'row groups of {ingest["row_group_rows"]:,} rows). "columnar" is the '
      'default of `from_csv(path)` and `from_parquet(path)` (fluent_pipeline/'
      'components/columnar_csv.py, columnar_parquet.py), "TFX" is '
      '`reader=\'tfx\'`: TFX\'s CsvExampleGen and parquet executor. Beam '
      'runs in-process (its default) unless "workers" says 2 '
      '(`beam.local(workers=2)`). Seconds are wall time of `Do`, CPU '
      'seconds its process\'s and its Beam workers\' CPU time, peak RSS the '
      'process\'s maximum (ru_maxrss; TensorFlow and TFX imported, about '
      f'{_rss_before(ingest)} MB before `Do` starts, are included; the Beam '
      'workers\' own peak is in bench/results.json). Shards are the output '
      'files: one per part of an input file (about 8 MB of CSV text, or '
      '65,536 rows of Parquet row groups) and split. Ratios are columnar / '
      'TFX of the same run: rows/s above 1 and seconds or MB below 1 favour '
      'the columnar reader. Both readers wrote splits of the same sizes '
      'where "same splits" says yes (the examples themselves are compared by '
      'tests/test_columnar_csv.py and tests/test_columnar_parquet.py). Goal '
      f'(issue 23): at least {goal:g}x the rows/s at 240k and 1M rows.', '',
      '| format | rows | files | workers | reader | seconds | CPU s | rows/s '
      '| peak RSS MB | shards |', '|---|---|---|---|---|---|---|---|---|---|']
  for size in ingest['readers']:
    for name, key in (('TFX', 'tfx'), ('columnar', 'columnar')):
      r = size[key]
      lines.append(
          f'| {size["format"]} | {size["rows"]:,} | {size["files"]} | '
          f'{size["workers"]} | {name} | {r["seconds"]} | '
          f'{round(r["cpu_seconds"] + r["workers_cpu_seconds"], 2)} | '
          f'{r["rows_per_second"]:,} | {r["peak_rss_mb"]} | {r["shards"]} |')
  lines += ['', '| format | rows | files | workers | rows/s, columnar / TFX '
            '| seconds | CPU s | peak RSS | same splits |',
            '|---|---|---|---|---|---|---|---|---|']
  for size in ingest['readers']:
    r = size['ratio']
    lines.append(f'| {size["format"]} | {size["rows"]:,} | {size["files"]} '
                 f'| {size["workers"]} | {r["rows_per_second"]} | '
                 f'{r["seconds"]} | {r["cpu_seconds"]} | {r["peak_rss_mb"]} '
                 f'| {"yes" if size["same_split_sizes"] else "NO"} |')
  lines += ['', 'The columnar reader alone, in one file and in four, '
            'in-process and with two Beam workers:', '',
            '| format | rows | files | workers | seconds | CPU s | rows/s | '
            'peak RSS MB (workers\') | shards |',
            '|---|---|---|---|---|---|---|---|---|']
  for size in ingest['spread']:
    r = size['columnar']
    workers_rss = (f' ({r["workers_peak_rss_mb"]})' if size['workers']
                   else '')
    lines.append(
        f'| {size["format"]} | {size["rows"]:,} | {size["files"]} | '
        f'{size["workers"]} | {r["seconds"]} | '
        f'{round(r["cpu_seconds"] + r["workers_cpu_seconds"], 2)} | '
        f'{r["rows_per_second"]:,} | {r["peak_rss_mb"]}{workers_rss} | '
        f'{r["shards"]} |')
  stage = ingest['stage']
  order = ('ExampleGen', 'StatisticsGen', 'SchemaGen', 'Transform')
  names = sorted((n for n in set(stage['tfx']['components'])
                  | set(stage['columnar']['components'])
                  if n.endswith(order)),
                 key=lambda n: [n.endswith(o) for o in order].index(True))
  lines += ['', f'The taxi data stage at {stage["rows"]:,} rows through '
            '`from_csv` (ExampleGen, StatisticsGen, SchemaGen, Transform; '
            'LocalDagRunner, Beam in-process), component seconds as the run '
            'records them:', '',
            '| reader | ' + ' | '.join(names) + ' | total |',
            '|---|' + '---|' * (len(names) + 1)]
  for name, key in (("`reader='tfx'`", 'tfx'), ('default', 'columnar')):
    seconds = stage[key]['components']
    lines.append(f'| {name} | '
                 + ' | '.join(str(seconds.get(n, '')) for n in names)
                 + f' | {stage[key]["seconds"]} |')
  lines += ['', *ingest_findings(ingest), '', *INGEST_TIME_GOES]
  return lines


# Not measured by `make bench`: a cProfile of each columnar executor's Do.
INGEST_TIME_GOES = [
    'Where the time goes (cProfile of the columnar executors\' `Do` at '
    '240k rows, one file, in-process, 2026-12-02; shares of `Do` under the '
    'profiler). Writing the records is the largest part: '
    '`tf.io.TFRecordWriter.write`, one call per record with its gzip, '
    'about 30% (CSV) to 45% (Parquet); framing the records in Python with '
    'google_crc32c and zlib was measured slower (0.53 s against 0.40 s '
    'for 60k records). Then serializing the examples with numpy (15-20%), '
    'TFX\'s sha256 split rule per record (about 12%), for CSV the typing '
    'pass over every part (pyarrow\'s parse and the type checks, about '
    '12%; the parse is done twice, once per pass, so that memory stays '
    'bounded by a part), and Beam\'s fixed cost of building and running '
    'the pipeline (under a second). That fixed cost is why the ratio is '
    'lower at 15k rows. TFX\'s readers spend theirs converting each row '
    'to a tf.Example in Python and passing every record through Beam one '
    'by one (partition, shuffle, write).',
]


def _rss_before(ingest: dict) -> int:
  return max(s['columnar']['rss_before_mb'] for s in ingest['readers'])


_FORMAT_NAMES = {'csv': 'CSV', 'parquet': 'Parquet'}


def ingest_findings(ingest: dict) -> list[str]:
  """What the ingestion figures say, written from the figures."""
  out = []
  goal = ingest['goal']
  for fmt in ('csv', 'parquet'):
    cells = [s for s in ingest['readers']
             if s['format'] == fmt and s['files'] == 1 and not s['workers']]
    if not cells:
      continue
    ratios = ', '.join(f'{s["ratio"]["rows_per_second"]:.1f}x at '
                       f'{s["rows"]:,} rows' for s in cells)
    big = [s for s in cells if s['rows'] >= 200_000]
    held = big and all(s['ratio']['rows_per_second'] >= goal for s in big)
    out.append(
        f'- {_FORMAT_NAMES[fmt]}, one file, in-process: the columnar reader\'s '
        f'rows/s are {ratios} those of TFX\'s reader; '
        + ('the goal holds.' if held else
           'the goal is missed.' if big else 'no 240k or 1M figure here.'))
  largest = max(ingest['readers'], key=lambda s: s['rows'])
  if largest['rows'] >= 1_000_000:
    both = [s for s in ingest['readers'] if s['rows'] == largest['rows']
            and s['files'] == 1 and not s['workers']]
    small = [s for s in ingest['readers'] if s['rows'] < 20_000
             and s['files'] == 1 and not s['workers']]
    out.append(
        '- Memory: at 1M rows the columnar reader\'s process peaks at '
        + ', '.join(f'{s["columnar"]["peak_rss_mb"]} MB ({s["format"]})'
                    for s in both)
        + ' against '
        + ', '.join(f'{s["columnar"]["peak_rss_mb"]} MB' for s in small)
        + ' at 15k rows and TFX\'s '
        + ', '.join(f'{s["tfx"]["peak_rss_mb"]} MB' for s in both)
        + ': bounded by the part size, not the file size.')
  for fmt in ('csv', 'parquet'):
    spread = {(s['files'], s['workers']): s for s in ingest['spread']
              if s['format'] == fmt}
    if len(spread) < 4:
      continue
    rows = next(iter(spread.values()))['rows']

    def seconds(files, workers, spread=spread):
      return spread[(files, workers)]['columnar']['seconds']

    def cpu(files, workers, spread=spread):
      r = spread[(files, workers)]['columnar']
      return r['cpu_seconds'] + r['workers_cpu_seconds']
    several = max(files for files, _ in spread)
    extra = max(cpu(f, 2) - cpu(f, 0) for f in (1, several))
    pays = min(seconds(1, 2), seconds(several, 2)) < min(seconds(1, 0),
                                                         seconds(several, 0))
    out.append(
        f'- Two Beam workers, {_FORMAT_NAMES[fmt]} at {rows:,} rows: one file '
        f'{seconds(1, 0)} s in-process and {seconds(1, 2)} s with '
        f'`beam.local(workers=2)`; {several} files {seconds(several, 0)} s '
        f'and {seconds(several, 2)} s. One file is cut into parts as '
        f'{several} files are ({spread[(1, 2)]["columnar"]["shards"]} and '
        f'{spread[(several, 2)]["columnar"]["shards"]} shards), which the '
        'workers share alike. The two worker '
        f'processes cost up to {extra:.0f} CPU seconds more than the '
        'in-process run (each starts Python and imports TensorFlow and TFX; '
        'the parts are pickled to them), on 2 cores shared with the '
        'process that drives them and with other sessions: '
        + ('here two workers pay.' if pays else
           'here they do not pay, and the in-process default stays the '
           'faster choice on this machine; workers pay where there are '
           'cores to spare or many files (Dataflow, a larger machine).'))
  twice = [(s['columnar']['seconds'], t['columnar']['seconds'])
           for s in ingest['readers'] for t in ingest['spread']
           if (s['format'], s['rows'], s['files'], s['workers']) ==
           (t['format'], t['rows'], t['files'], t['workers'])]
  out.append(
      '- One run per cell on a 2-core VM shared with other sessions, where '
      'run-to-run noise reaches 30% or more'
      + (' (the columnar reader in-process on one file of the largest size '
         'ran twice above: ' + ', '.join(f'{a} s and {b} s' for a, b in twice)
         + ')' if twice else '')
      + ': compare the ratios, which set both readers of the same run side '
      'by side, rather than absolute seconds across rows.')
  stage = ingest['stage']
  out.append(
      f'- End to end, the taxi data stage at {stage["rows"]:,} rows takes '
      f'{stage["columnar"]["seconds"]} s with the default reader against '
      f'{stage["tfx"]["seconds"]} s with `reader=\'tfx\'` '
      f'({stage["speedup"]}x).')
  return out


def _rename_section(path: str, old_titles: tuple, title: str) -> None:
  """The section under a title it had before, renamed in place."""
  if not os.path.exists(path):
    return
  with open(path, encoding='utf-8') as f:
    text = f.read()
  for old in old_titles:
    if f'{old}\n' in text and title not in text:
      text = text.replace(f'{old}\n', f'{title}\n')
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)


def notes(results: dict) -> list[str]:
  """What the figures mean, written from the figures themselves."""
  out = []
  runs = results['e2e_all_runs']
  spread = {k: (min(v), max(v)) for k, v in runs.items() if len(v) > 1}
  if spread:
    out.append('- Spread of the end-to-end runs (min-max s): ' + ', '.join(
        f'{k} {lo:.0f}-{hi:.0f}' for k, (lo, hi) in spread.items()) + '.')
  cached = results['cached_rerun_components']
  rerun = {k: v for k, v in cached.items() if v > 1.0}
  if rerun:
    out.append(
        '- The second run re-executes ' + ', '.join(
            f'{k} ({v:.0f} s)' for k, v in rerun.items()) +
        ': on the first run no model was blessed yet, so the Evaluator had '
        'no baseline; on the second the latest blessed model is its '
        'baseline, a new input, so TFX cannot serve it from cache (nor the '
        'Pusher after it). Hand-written TFX does the same. The third run, '
        f'with every component cached, takes {results["third_run_ratio"]:.2f}x '
        'the first.')
  outside = results.get('outside_components_seconds', {})
  if 'fluent_cached' in outside:
    out.append(
        f'- Outside its components the second run spends '
        f'{outside["fluent_cached"]:.1f} s (the third '
        f'{outside["fluent_third"]:.1f} s): starting Python and importing '
        'TensorFlow, which every TFX component class imports, and TFMA, '
        'which the eval config needs; then building the pipeline and one '
        'ML Metadata cache lookup per component. User-code wheels are '
        'reused when the module files are unchanged (TFX rebuilds them on '
        'every run).')
  first, local = results['first_run_components'], results.get(
      'first_run_components_tfx_local', {})
  defaults = results.get('first_run_components_tfx_defaults', {})
  if defaults:
    beam = [n for n in ('CsvExampleGen', 'StatisticsGen', 'Transform',
                        'Evaluator') if n in first and n in defaults]
    saved = sum(defaults[n] - first[n] for n in beam)
    out.append(
        '- The in-process Beam default saves '
        f'{saved:.0f} s over TFX\'s example defaults in the Beam components '
        '(' + ', '.join(f'{n} {defaults[n]:.0f} -> {first[n]:.0f} s'
                        for n in beam) + '); the Trainer, which does not '
        f'use Beam, takes {first.get("Trainer", 0):.0f} s either way '
        f'(hand-written, same runner: {local.get("Trainer", 0):.0f} s).')
  sizes = results.get('dataset_steps')
  if sizes:
    import dataset_steps
    out.append(
        f'- Dataset steps (target: {dataset_steps.TARGET}): step seconds / '
        'CsvExampleGen seconds, FilterExamples / StratifiedSample, ' +
        ', '.join(f'{s["ratio"]["FilterExamples"]} / '
                  f'{s["ratio"]["StratifiedSample"]} at {s["rows"]:,} rows'
                  f' ({s["variant"]})' for s in sizes) +
        ('; the target holds.' if dataset_steps.holds(sizes)
         else '; the target is missed.'))
  return out


def ratio(a: float, b: float) -> float:
  return round(a / b, 3) if b else float('nan')


def machine() -> str:
  return (f'{platform.system()} {platform.machine()}, {os.cpu_count()} cores, '
          f'Python {platform.python_version()}')


def e2e_figures(e2e: dict, repeats: int) -> dict:
  """The end-to-end figures and ratios, medians over the repeats."""
  med = {k: median_of([r['wall_seconds'] for r in v]) for k, v in e2e.items()}
  return {
      'repeats_e2e': repeats,
      'e2e_seconds': med,
      'e2e_ratio_same_runner': ratio(med['fluent'], med['tfx_local']),
      'e2e_ratio_tfx_defaults': ratio(med['fluent'], med['tfx_defaults']),
      'cached_rerun_ratio': ratio(med['fluent_cached'], med['fluent']),
      'cached_rerun_ratio_tfx': ratio(med['tfx_local_cached'],
                                      med['tfx_local']),
      'third_run_ratio': ratio(med['fluent_third'], med['fluent']),
      'cached_rerun_components': component_medians(e2e['fluent_cached']),
      'third_run_components': component_medians(e2e['fluent_third']),
      'first_run_components': component_medians(e2e['fluent']),
      'first_run_components_tfx_local': component_medians(e2e['tfx_local']),
      'first_run_components_tfx_defaults': component_medians(
          e2e['tfx_defaults']),
      'outside_components_seconds': {
          kind: median_of([r['wall_seconds'] - sum(r['components'].values())
                           for r in runs]) for kind, runs in e2e.items()},
      'peak_rss_mb': max(r['peak_rss_mb'] for r in e2e['fluent']),
      'peak_rss_mb_tfx_local': max(r['peak_rss_mb'] for r in e2e['tfx_local']),
      'e2e_all_runs': {k: [r['wall_seconds'] for r in v]
                       for k, v in e2e.items()},
  }


PARTS = ('startup', 'build', 'e2e', 'history', 'scaling', 'dataset_steps',
         'airflow', 'ingest')


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=3,
                      help='end-to-end repeats, interleaved (each takes minutes)')
  parser.add_argument('--quick', action='store_true',
                      help='smaller data and fewer sizes (a smoke run)')
  parser.add_argument('--parts', default=','.join(PARTS),
                      help='comma-separated parts to measure again (default: '
                      'all): ' + ', '.join(PARTS) + '; the others keep their '
                      'figures from bench/results.json (history needs e2e)')
  args = parser.parse_args()
  parts = [p.strip() for p in args.parts.split(',') if p.strip()]
  unknown = sorted(set(parts) - set(PARTS))
  if unknown:
    parser.error(f'unknown part(s) {", ".join(unknown)}; choose from '
                 + ', '.join(PARTS))
  if 'history' in parts and 'e2e' not in parts:
    parser.error('history reads the runs e2e makes: add e2e to --parts')
  results_path = os.path.join(HERE, 'results.json')
  results: dict = {}
  if set(parts) != set(PARTS):  # a partial re-run keeps the other figures
    with open(results_path) as f:
      results = json.load(f)
  # Figures recorded before parts were dated: the last full run's day.
  measured = dict(results.get('parts_measured') or (
      {part: results.get('date', '2026-11-29') for part in PARTS}
      if results else {}))
  today = time.strftime('%Y-%m-%d')
  work = tempfile.mkdtemp(prefix='fluent-bench-')
  log(f'work dir: {work}; parts: {", ".join(parts)}')
  started = time.perf_counter()
  cli = os.path.join(os.path.dirname(sys.executable), 'fluent-pipeline')

  if 'startup' in parts:
    log('import and --help ...')
    help_each = {command or '--help': timed_subprocess(
        [cli, *([command] if command else []), '--help'], 5)
                 for command in ('', 'run', 'show', 'runs', 'diff', 'compile',
                                 'export')}
    results.update({
        'import_seconds': timed_subprocess(
            [sys.executable, '-c', 'import fluent_pipeline'], 5),
        'import_tfx_v1_seconds': timed_subprocess(
            [sys.executable, '-c', 'import tfx.v1'], 5),
        'help_seconds': max(help_each.values()),  # the slowest --help
        'help_seconds_each': help_each})

  if 'build' in parts:
    log('build + compile ...')
    build = bench_build(20)
    results.update({'build_ms': build,
                    'build_ratio': ratio(build['fluent'], build['tfx'])})

  if 'e2e' in parts:
    data_dir = scaled_data(work, 1)
    if args.quick:  # a smoke run: a 2,000-row sample
      with open(os.path.join(data_dir, 'data.csv')) as f:
        lines = f.readlines()[:2001]
      with open(os.path.join(data_dir, 'data.csv'), 'w') as f:
        f.writelines(lines)
    log('end to end ...')
    e2e = bench_e2e(work, data_dir, args.repeats)
    results.update(e2e_figures(e2e, args.repeats))

  if 'history' in parts:
    log('run history commands ...')
    history_root = os.path.join(work, 'e2e_fluent_0')  # 3 runs, with metrics
    results['history_command_seconds'] = {
        'runs': timed_subprocess([cli, 'runs', '--root', history_root], 3),
        'diff': timed_subprocess(
            [cli, 'diff', 'latest~2', 'latest', '--root', history_root], 3),
        'show': timed_subprocess(
            [cli, 'show', 'latest', '--root', history_root], 3),
    }

  if 'scaling' in parts:
    log('data stage scaling ...')
    results['scaling'] = bench_scaling(work,
                                       [1, 4] if args.quick else [1, 4, 16])

  if 'dataset_steps' in parts:
    log('dataset steps (FilterExamples, StratifiedSample) vs CsvExampleGen ...')
    import dataset_steps
    results['dataset_steps'] = dataset_steps.bench_dataset_steps(
        work, [1, 4] if args.quick else [1, 4, 16])

  if 'airflow' in parts:
    log('airflow task start-up ...')
    import airflow_celery
    import airflow_overhead
    # `airflow tasks test`: a task in a process of its own (the issue 24
    # baseline's measure, now of the compiled DAG); then the executor the
    # tests use, CeleryExecutor, with and without warm workers.
    airflow = airflow_overhead.measure(args.repeats)
    celery = airflow_celery.measure(args.repeats)
    results.update(airflow_figures(airflow, celery))

  if 'ingest' in parts:
    log('ingestion: the columnar CSV and Parquet readers vs TFX\'s ...')
    results['ingest'] = bench_ingest(work, args.quick)

  seconds = round(time.perf_counter() - started)
  measured.update({part: today for part in parts})
  results.update({'machine': machine(), 'parts_measured': measured})
  if set(parts) == set(PARTS):
    results['bench_seconds'] = seconds
  else:
    results['last_parts_seconds'] = {'parts': parts, 'seconds': seconds}
  results['notes'] = notes(results)
  with open(results_path, 'w') as f:
    json.dump(results, f, indent=2)
  import report
  report.write(results, os.path.join(REPO, 'docs'))
  if results.get('ingest'):  # report.py writes the others; this one is ours
    _rename_section(os.path.join(REPO, 'docs', 'BENCHMARKS.md'),
                    OLD_INGEST_TITLES, INGEST_TITLE)
    report.replace_section(os.path.join(REPO, 'docs', 'BENCHMARKS.md'),
                           INGEST_TITLE, ingest_lines(results))
  shutil.rmtree(work, ignore_errors=True)
  log(json.dumps({k: v for k, v in results.items()
                  if k.endswith(('ratio', 'seconds', 'rss_mb'))}, indent=2))
  log('dataset steps: ' + json.dumps([
      {'rows': s['rows'], 'variant': s['variant'],
       'rows_per_second': s['rows_per_second'], 'ratio': s['ratio']}
      for s in results.get('dataset_steps', [])]))
  return 0


if __name__ == '__main__':
  sys.path.insert(0, HERE)
  sys.exit(main())
