"""The benchmark's recorded results and the report written from them."""

import json
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'bench')
REQUIRED = ('e2e_ratio_same_runner', 'e2e_ratio_tfx_defaults',
            'cached_rerun_ratio', 'build_ratio', 'import_seconds',
            'peak_rss_mb', 'help_seconds')


@pytest.fixture(name='bench')
def _bench(monkeypatch):
  monkeypatch.syspath_prepend(BENCH)
  with open(os.path.join(BENCH, 'results.json')) as f:
    results = json.load(f)
  import report
  import run
  yield results, report, run
  for name in ('report', 'run', 'workloads', 'taxi_data'):
    sys.modules.pop(name, None)


def test_recorded_results_have_every_figure_the_issue_asks_for(bench):
  results, _, _ = bench
  for key in REQUIRED:
    assert isinstance(results[key], (int, float)) and results[key] > 0, key
  assert results['repeats_e2e'] >= 3
  for kind, runs in results['e2e_all_runs'].items():
    assert len(runs) == results['repeats_e2e'], kind


def test_report_states_each_figure_its_baseline_and_the_time_per_component(
    bench, tmp_path):
  results, report, run = bench
  results['notes'] = run.notes(results)
  report.write(results, str(tmp_path), chart=False)
  text = (tmp_path / 'BENCHMARKS.md').read_text()
  s = results['e2e_seconds']
  assert (f"| End to end, first run: fluent vs hand-written TFX, both "
          f"LocalDagRunner | {report._fmt(s['fluent'])} | "
          f"{report._fmt(s['tfx_local'])} | "
          f"{report._fmt(results['e2e_ratio_same_runner'])} | <= 1.0 |") in text
  trainer = results['first_run_components']['Trainer']
  assert f'| Trainer | {trainer} |' in text
  assert '| outside components |' in text
  assert 'The in-process Beam default saves' in text
  assert results['machine'] in text


@pytest.mark.parametrize('parts, error', [
    ('e2e,bogus', 'unknown part(s) bogus'),
    ('history', 'history reads the runs e2e makes: add e2e to --parts'),
])
def test_bench_parts_are_checked_before_anything_is_measured(parts, error):
  """`python bench/run.py --parts e2e,history` (README) re-measures only
  some parts; a wrong list is refused at once, and results.json kept."""
  import subprocess
  path = os.path.join(BENCH, 'results.json')
  with open(path) as f:
    before = f.read()
  done = subprocess.run([sys.executable, os.path.join(BENCH, 'run.py'),
                         '--parts', parts], capture_output=True, text=True,
                        timeout=300, check=False)
  assert done.returncode == 2 and error in done.stderr, done.stderr
  with open(path) as f:
    assert f.read() == before


def test_report_dates_parts_measured_on_other_days(bench):
  results, report, _ = bench
  results = dict(results, parts_measured={'e2e': '2026-12-02',
                                          'scaling': '2026-11-29'},
                 last_parts_seconds={'parts': ['e2e'], 'seconds': 900})
  text = report._parts_measured(results)
  assert 'e2e 2026-12-02, scaling 2026-11-29' in text
  assert 'the last re-measurement (e2e) took 900 s' in text


def test_recorded_ingest_figures_compare_both_readers_at_15k_240k_and_1m(
    bench):
  """`bench/run.py --parts ingest`: the columnar readers against TFX's,
  same run, for CSV and Parquet, and their ratios; both wrote splits of
  one size; the data stage before and after."""
  results, _, _ = bench
  ingest = results['ingest']
  for fmt in ('csv', 'parquet'):
    alone = [s for s in ingest['readers']
             if s['format'] == fmt and s['files'] == 1 and not s['workers']]
    assert [s['rows'] for s in alone] == [15_002, 240_032, 1_005_134]
  for size in ingest['readers']:
    for reader in ('tfx', 'columnar'):
      for key in ('seconds', 'cpu_seconds', 'rows_per_second', 'peak_rss_mb'):
        assert size[reader][key] > 0, (size['rows'], reader, key)
    assert size['ratio']['rows_per_second'] == round(
        size['columnar']['rows_per_second'] / size['tfx']['rows_per_second'],
        3)
    assert size['same_split_sizes'] is True
  assert {(s['files'], s['workers']) for s in ingest['spread']} == {
      (1, 0), (1, 2), (4, 0), (4, 2)}
  stage = ingest['stage']
  assert stage['speedup'] == round(stage['tfx']['seconds'] /
                                   stage['columnar']['seconds'], 1)
  assert results['parts_measured']['ingest']


def test_ingest_section_is_in_the_report_with_its_ratios(bench, tmp_path):
  """report.write rewrites BENCHMARKS.md; run.py adds the ingest section
  after it, so docs/BENCHMARKS.md holds it as results.json renders it."""
  results, report, run = bench
  lines = run.ingest_lines(results)
  largest = results['ingest']['readers'][-2]  # Parquet, 1M rows, in-process
  ratio = largest['ratio']
  assert (f"| {largest['format']} | {largest['rows']:,} | 1 | 0 | "
          f"{ratio['rows_per_second']} | {ratio['seconds']} |"
          ) in '\n'.join(lines)
  assert results['machine'] in lines[2]
  path = tmp_path / 'BENCHMARKS.md'
  path.write_text('# Benchmarks\n\n## Notes\n\n- a note\n')
  report.replace_section(str(path), run.INGEST_TITLE, lines)
  report.replace_section(str(path), run.INGEST_TITLE, lines)  # idempotent
  assert path.read_text().count(run.INGEST_TITLE) == 1
  with open(os.path.join(os.path.dirname(BENCH), 'docs', 'BENCHMARKS.md'),
            encoding='utf-8') as f:
    assert '\n'.join(lines) in f.read()
