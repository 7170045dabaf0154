"""The report's charts, as inline SVG: drawn with matplotlib, but for
TFMA's per-slice plots (ROC, precision-recall, calibration), which are
written as SVG directly (three per slice: matplotlib takes a quarter of a
second for each).

SVG keeps the report one self-contained file whose text stays text (small,
sharp, searchable). Each matplotlib chart gets its own hash salt so the ids
it writes are unique across the many charts of one page.
"""

import functools
import html
import io
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any, Optional

_PALETTE = ('#2563eb', '#f97316', '#16a34a', '#9333ea', '#dc2626', '#0891b2')
_counter = itertools.count()


def _drawn(chart):
  """Draws `chart` with the report's settings: text stays text in the SVG,
  and labels are data (feature values, metric names), so '$' is not TeX."""
  @functools.wraps(chart)
  def draw(*args, **kwargs):
    import matplotlib
    with matplotlib.rc_context({'svg.fonttype': 'none',
                                'text.parse_math': False}):
      return chart(*args, **kwargs)
  return draw


def _figure(width: float, height: float):
  from matplotlib.figure import Figure
  return Figure(figsize=(width, height))


def _svg(figure, label: str) -> str:
  import matplotlib
  buffer = io.StringIO()
  with matplotlib.rc_context({'svg.hashsalt': f'fluent{next(_counter)}'}):
    figure.savefig(buffer, format='svg', metadata={'Date': None},
                   bbox_inches='tight', pad_inches=0.02, transparent=True)
  text = buffer.getvalue()
  text = text[text.index('<svg'):]
  # Scale with the page: keep the viewBox, drop the fixed size.
  return re.sub(
      r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
      lambda m: (f'<svg{m.group(1)} class="chart" role="img" '
                 f'aria-label="{html.escape(label, quote=True)}"'),
      text, count=1)


def _style(ax, grid: bool = True) -> None:
  for side in ('top', 'right'):
    ax.spines[side].set_visible(False)
  ax.tick_params(labelsize=8, colors='#444')
  if grid:
    ax.grid(axis='y', color='#e5e7eb', linewidth=0.6)
    ax.set_axisbelow(True)


def value_range(values: Sequence[Optional[float]]) -> tuple[float, float]:
  """The axis range of a chart of `values`: from just below the smallest to
  just above the largest, not from 0, so 0.66 against 0.68 shows; a tenth
  of the spread (at least a hundredth of the values' size) on each side."""
  shown = [v for v in values if v is not None and math.isfinite(v)]
  if not shown:
    return 0.0, 1.0
  low, high = min(shown), max(shown)
  pad = max((high - low) * 0.1, 0.01 * max(abs(low), abs(high)), 1e-9)
  return low - pad, high + pad


@_drawn
def slice_bars(slices: dict[str, dict[str, dict[str, float]]], metric: str,
               bound: Optional[float], column: str,
               intervals: Optional[dict[str, dict[str, tuple[float, float]]]]
               = None) -> Optional[dict[str, Any]]:
  """`metric` per slice of one slicing `column`: the candidate as a dot
  (with its confidence interval when TFMA computed one), the baseline as a
  hollow diamond, the overall value and a threshold as lines. The value
  axis spans the values shown, not 0 to 1: {'svg', 'metric', 'column',
  'low', 'high'}."""
  intervals = intervals or {}
  names = [n for n, v in slices.items()
           if n.rpartition(':')[0] == column and ' vs ' not in n
           and metric in v['candidate']]
  if not names:
    return None
  labels = [n.rpartition(':')[2] for n in names]
  candidate = [slices[n]['candidate'][metric] for n in names]
  baseline = [slices[n]['baseline'].get(metric) for n in names]
  spans = [intervals.get(n, {}).get(metric) for n in names]
  overall = slices.get('Overall', {}).get('candidate', {}).get(metric)
  # The axis spans the values, not their intervals: an interval of a small
  # slice can be wider than the metric's range (TFMA's jackknife is a
  # normal approximation) and would flatten every difference. An interval
  # is drawn cut at the axis.
  low, high = value_range(candidate + baseline + [overall, bound])
  figure = _figure(7.5, 2.4)
  ax = figure.add_subplot()
  xs = list(range(len(names)))
  shift = 0.15 if any(b is not None for b in baseline) else 0.0
  for x, span in zip(xs, spans):
    if span:
      ax.plot([x - shift] * 2, span, color=_PALETTE[0], linewidth=1,
              alpha=0.6)
  ax.plot([x - shift for x in xs], candidate, 'o', color=_PALETTE[0],
          markersize=4, label='candidate' + (
              ' (95% interval)' if any(spans) else ''))
  if shift:
    ax.plot([x + shift for x, b in zip(xs, baseline) if b is not None],
            [b for b in baseline if b is not None], 'D', markersize=4,
            markerfacecolor='none', color='#6b7280', label='baseline')
  if overall is not None:
    ax.axhline(overall, color=_PALETTE[2], linewidth=1, linestyle='--',
               label=f'overall {overall:.4g}')
  if bound is not None:
    ax.axhline(bound, color=_PALETTE[4], linewidth=1, linestyle=':',
               label=f'threshold {bound:.4g}')
  ax.set_ylim(low, high)
  ax.set_xlim(-0.6, len(names) - 0.4)
  ax.set_xticks(xs)
  ax.set_xticklabels(labels, fontsize=7)
  ax.set_xlabel(column, fontsize=8)
  ax.set_ylabel(metric, fontsize=8)
  ax.legend(fontsize=7, frameon=False, loc='lower center',
            bbox_to_anchor=(0.5, 1.0), ncol=4)
  _style(ax)
  ax.grid(axis='x', color='#f3f4f6', linewidth=0.6)
  return {'svg': _svg(figure, f'{metric} per {column}, axis from '
                      f'{low:.4g} to {high:.4g}'),
          'metric': metric, 'column': column, 'low': low, 'high': high}


def _thin(points: list, limit: int = 120) -> list:
  """At most about `limit` points of a curve, its ends kept."""
  if len(points) <= limit:
    return points
  step = len(points) / limit
  return [points[int(i * step)] for i in range(limit)] + [points[-1]]


_MODELS = (('candidate', _PALETTE[0], False), ('baseline', '#6b7280', True))

# The unit-square charts (ROC, precision-recall, calibration) are written
# as SVG directly: a report has three per slice, and matplotlib takes a
# quarter of a second for each.
_SIZE, _LEFT, _TOP = 150.0, 34.0, 20.0


def _unit_svg(title: str, xlabel: str, ylabel: str,
              series: list[dict[str, Any]], label: str,
              diagonal: bool = True, legend_top: bool = False) -> str:
  """A chart of [0, 1] x [0, 1]: each series {'points', 'color',
  'dashed', 'label', 'sizes' (dots, optional)}, with 0 / 0.5 / 1 ticks and
  the diagonal."""
  esc = html.escape
  width, height = _LEFT + _SIZE + 8, _TOP + _SIZE + 30

  def x(v: float) -> float:
    return round(_LEFT + min(max(v, 0.0), 1.0) * _SIZE, 1)

  def y(v: float) -> float:
    return round(_TOP + (1 - min(max(v, 0.0), 1.0)) * _SIZE, 1)
  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} '
           f'{height:g}" class="chart" role="img" aria-label="'
           f'{esc(label, quote=True)}" font-family="sans-serif" '
           'font-size="8" fill="#444">',
           f'<text x="{_LEFT + _SIZE / 2:g}" y="11" text-anchor="middle" '
           f'font-size="9" fill="#222">{esc(title)}</text>']
  for tick in (0.0, 0.5, 1.0):
    parts += [f'<line x1="{x(tick)}" y1="{_TOP:g}" x2="{x(tick)}" '
              f'y2="{_TOP + _SIZE:g}" stroke="#eef0f3" stroke-width="0.6"/>',
              f'<line x1="{_LEFT:g}" y1="{y(tick)}" x2="{_LEFT + _SIZE:g}" '
              f'y2="{y(tick)}" stroke="#eef0f3" stroke-width="0.6"/>',
              f'<text x="{x(tick)}" y="{_TOP + _SIZE + 10:g}" '
              f'text-anchor="middle">{tick:g}</text>',
              f'<text x="{_LEFT - 4:g}" y="{y(tick) + 3}" '
              f'text-anchor="end">{tick:g}</text>']
  parts += [f'<rect x="{_LEFT:g}" y="{_TOP:g}" width="{_SIZE:g}" '
            f'height="{_SIZE:g}" fill="none" stroke="#9ca3af" '
            'stroke-width="0.6"/>',
            f'<text x="{_LEFT + _SIZE / 2:g}" y="{height - 4:g}" '
            f'text-anchor="middle">{esc(xlabel)}</text>',
            f'<text transform="translate(9 {_TOP + _SIZE / 2:g}) '
            f'rotate(-90)" text-anchor="middle">{esc(ylabel)}</text>']
  if diagonal:
    parts.append(f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" '
                 'stroke="#d1d5db" stroke-width="0.8" '
                 'stroke-dasharray="2 2"/>')
  for i, line in enumerate(series):
    dash = ' stroke-dasharray="4 2"' if line['dashed'] else ''
    points = ' '.join(f'{x(a)},{y(b)}' for a, b in line['points'])
    parts.append(f'<polyline points="{points}" fill="none" '
                 f'stroke="{line["color"]}" stroke-width="1.3"{dash}/>')
    for (a, b), size in zip(line['points'], line.get('sizes') or []):
      parts.append(f'<circle cx="{x(a)}" cy="{y(b)}" r="{size:.1f}" '
                   f'fill="{line["color"]}" fill-opacity="0.6"/>')
    top = _TOP + 10 + 10 * i if legend_top else _TOP + _SIZE - 6 - 10 * (
        len(series) - 1 - i)
    left = _LEFT + (8 if legend_top else _SIZE - 96)
    parts += [f'<line x1="{left:g}" y1="{top - 3:g}" x2="{left + 12:g}" '
              f'y2="{top - 3:g}" stroke="{line["color"]}" '
              f'stroke-width="1.3"{dash}/>',
              f'<text x="{left + 15:g}" y="{top:g}">'
              f'{esc(line["label"])}</text>']
  parts.append('</svg>')
  return ''.join(parts)


def _models(models: dict[str, dict[str, list]], key: str
            ) -> list[tuple[str, str, bool, list]]:
  return [(role, color, dashed, models[role][key])
          for role, color, dashed in _MODELS
          if (models.get(role) or {}).get(key)]


def _area(curve: Sequence[tuple[float, float]]) -> float:
  """The area under a curve given as (x, y) points (trapezoids, x sorted)."""
  points = sorted(curve)
  return sum((x1 - x0) * (y0 + y1) / 2
             for (x0, y0), (x1, y1) in zip(points, points[1:]))


def roc(models: dict[str, dict[str, list]], name: str) -> Optional[str]:
  """The ROC curve (true against false positive rate over the
  thresholds) of the candidate, and of the baseline when evaluated."""
  series = []
  for role, color, dashed, points in _models(models, 'thresholds'):
    curve = sorted((p['fpr'], p['recall']) for p in points
                   if p['fpr'] is not None and p['recall'] is not None)
    series.append({'points': _thin(curve), 'color': color, 'dashed': dashed,
                   'label': f'{role} AUC {_area(curve):.3f}'})
  if not series:
    return None
  return _unit_svg('ROC', 'false positive rate', 'true positive rate',
                   series, f'ROC curve, {name}')


def precision_recall(models: dict[str, dict[str, list]], name: str
                     ) -> Optional[str]:
  """Precision against recall over the thresholds (where anything is
  predicted positive: precision is undefined elsewhere)."""
  series = []
  for role, color, dashed, points in _models(models, 'thresholds'):
    curve = sorted((p['recall'], p['precision']) for p in points
                   if p['recall'] is not None and p['precision'] is not None
                   and p['tp'] + p['fp'] > 0)
    series.append({'points': _thin(curve), 'color': color, 'dashed': dashed,
                   'label': role})
  if not series:
    return None
  return _unit_svg('precision-recall', 'recall', 'precision', series,
                   f'precision-recall curve, {name}', diagonal=False)


def _calibration_bins(buckets: list[dict[str, float]], bins: int = 10
                     ) -> list[dict[str, float]]:
  """TFMA's calibration buckets (up to 10,000) merged into `bins` equal
  ranges of the prediction over [0, 1]: each bin's example count, mean
  prediction and mean label; empty bins left out."""
  merged = [{'count': 0.0, 'label': 0.0, 'prediction': 0.0}
            for _ in range(bins)]
  for bucket in buckets:
    if not bucket['count']:
      continue
    middle = bucket['prediction'] / bucket['count']
    index = min(max(int(middle * bins), 0), bins - 1)
    for key in ('count', 'label', 'prediction'):
      merged[index][key] += bucket[key]
  return [{'low': i / bins, 'high': (i + 1) / bins, 'count': b['count'],
           'prediction': b['prediction'] / b['count'],
           'label': b['label'] / b['count']}
          for i, b in enumerate(merged) if b['count']]


def calibration(models: dict[str, dict[str, list]], name: str
                ) -> Optional[str]:
  """Mean label against mean prediction per tenth of the prediction's
  range (a calibrated model lies on the diagonal), a dot's area its share
  of the examples."""
  series = []
  for role, color, dashed, buckets in _models(models, 'calibration'):
    bins = _calibration_bins(buckets)
    if not bins:
      continue
    total = sum(b['count'] for b in bins)
    series.append({'points': [(b['prediction'], b['label']) for b in bins],
                   'sizes': [1.5 + 6 * math.sqrt(b['count'] / total)
                             for b in bins],
                   'color': color, 'dashed': dashed, 'label': role})
  if not series:
    return None
  return _unit_svg('calibration', 'mean prediction', 'mean label', series,
                   f'calibration, {name}', legend_top=True)


@_drawn
def distributions(features: Sequence[Optional[dict]], names: Sequence[str]
                  ) -> Optional[str]:
  """One feature's distribution in several statistics (splits, or two
  runs) overlaid as shares, so a shift shows: the histogram of a number,
  the shares of the most frequent values of a string."""
  shown = [(f, n) for f, n in zip(features, names) if f and f.get('histogram')]
  if not shown:
    return None
  figure = _figure(2.0, 0.6)
  ax = figure.add_axes((0, 0, 1, 1))
  if 'mean' in shown[0][0]:
    for (feature, _), color in zip(shown, _PALETTE):
      buckets = feature['histogram']
      total = sum(b[2] for b in buckets) or 1
      # A density outline from 0: buckets of different widths (each
      # split's own) compare by area.
      xs, ys = [buckets[0][0]], [0.0]
      for low, high, count in buckets:
        width = max(high - low, 1e-12)
        xs += [low, high]
        ys += [count / total / width] * 2
      xs.append(buckets[-1][1])
      ys.append(0.0)
      ax.fill(xs, ys, color=color, alpha=0.18, linewidth=0)
      ax.plot(xs, ys, color=color, linewidth=1.0)
    ax.set_ylim(bottom=0)
  else:
    values: list[str] = []
    for feature, _ in shown:
      values += [v for v, _ in feature['top_values'][:8] if v not in values]
    values = values[:8]
    width = 0.8 / len(shown)
    for i, ((feature, _), color) in enumerate(zip(shown, _PALETTE)):
      share = dict(feature['top_values'])
      total = feature.get('count') or sum(share.values()) or 1
      ax.bar([j + i * width for j in range(len(values))],
             [share.get(v, 0) / total for v in values], width=width,
             color=color, linewidth=0, align='edge')
  ax.set_axis_off()
  return _svg(figure, f'distribution of {shown[0][0]["name"]} in '
              + ' and '.join(n for _, n in shown))


@_drawn
def curves(tags: dict[str, dict[str, list[tuple[int, float]]]]
           ) -> list[tuple[str, str]]:
  """One line chart per logged scalar (loss, accuracy, ...), a line per
  run (train, validation): [(tag, svg)]."""
  charts = []
  for tag in sorted(tags, key=lambda t: (t.replace('epoch_', '') != 'loss', t)):
    runs = tags[tag]
    if not any(len(points) for points in runs.values()):
      continue
    figure = _figure(3.4, 2.0)
    ax = figure.add_subplot()
    for color, (run, points) in zip(_PALETTE, sorted(runs.items())):
      steps = [p[0] for p in points]
      values = [p[1] for p in points]
      ax.plot(steps, values, color=color, linewidth=1.5,
              marker='o' if len(points) < 25 else None, markersize=3,
              label=run or 'train')
    ax.set_title(tag, fontsize=9)
    ax.set_xlabel('epoch' if tag.startswith('epoch_') else 'step', fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    _style(ax)
    charts.append((tag, _svg(figure, f'{tag} by epoch')))
  return charts


@_drawn
def latency(latencies_ms: Sequence[float]) -> Optional[str]:
  """The serving check's request latencies, in request order."""
  if not latencies_ms:
    return None
  figure = _figure(3.4, 1.8)
  ax = figure.add_subplot()
  ax.set_title('latency per request', fontsize=9)
  ax.bar(range(1, len(latencies_ms) + 1), latencies_ms, color=_PALETTE[0])
  ax.set_xlabel('request', fontsize=8)
  ax.set_ylabel('ms', fontsize=8)
  _style(ax)
  return _svg(figure, 'serving latency per request')
