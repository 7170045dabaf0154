"""The report's charts, drawn with matplotlib as inline SVG.

SVG keeps the report one self-contained file whose text stays text (small,
sharp, searchable). Each chart gets its own hash salt so the ids matplotlib
writes are unique across the many charts of one page.
"""

import functools
import html
import io
import itertools
import re
from collections.abc import Sequence
from typing import Optional

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


@_drawn
def histogram(feature: dict) -> Optional[str]:
  """A small histogram of one feature's statistics: value buckets for a
  number, the most frequent values for a string."""
  buckets = feature.get('histogram') or []
  if not buckets:
    return None
  figure = _figure(2.0, 0.55)
  ax = figure.add_axes((0, 0, 1, 1))
  if 'mean' in feature:
    lows = [b[0] for b in buckets]
    widths = [max(b[1] - b[0], 1e-12) for b in buckets]
    counts = [b[2] for b in buckets]
    ax.bar(lows, counts, width=widths, align='edge', color=_PALETTE[0],
           linewidth=0)
  else:
    top = buckets[:10]
    ax.bar(range(len(top)), [b[1] for b in top], color=_PALETTE[1],
           linewidth=0, width=0.8)
  ax.set_axis_off()
  return _svg(figure, f'histogram of {feature["name"]}')


@_drawn
def slice_bars(slices: dict[str, dict[str, dict[str, float]]], metric: str,
               bound: Optional[float], column: str) -> Optional[str]:
  """`metric` per slice of one slicing `column` (candidate, and baseline
  when evaluated), with the overall value and a threshold as lines."""
  names = [n for n, v in slices.items()
           if n.rpartition(':')[0] == column and ' vs ' not in n
           and metric in v['candidate']]
  if not names:
    return None
  labels = [n.rpartition(':')[2] for n in names]
  feature = column
  candidate = [slices[n]['candidate'][metric] for n in names]
  baseline = [slices[n]['baseline'].get(metric) for n in names]
  figure = _figure(7.5, 2.4)
  ax = figure.add_subplot()
  width = 0.4 if any(b is not None for b in baseline) else 0.8
  xs = list(range(len(names)))
  ax.bar([x - (width / 2 if width < 0.8 else 0) for x in xs], candidate,
         width=width, color=_PALETTE[0], label='candidate')
  if width < 0.8:
    ax.bar([x + width / 2 for x in xs], [b or 0 for b in baseline],
           width=width, color='#9ca3af', label='baseline')
  overall = slices.get('Overall', {}).get('candidate', {}).get(metric)
  if overall is not None:
    ax.axhline(overall, color=_PALETTE[2], linewidth=1, linestyle='--',
               label=f'overall {overall:.3g}')
  if bound is not None:
    ax.axhline(bound, color=_PALETTE[4], linewidth=1, linestyle=':',
               label=f'threshold {bound:.3g}')
  ax.set_xticks(xs)
  ax.set_xticklabels(labels, fontsize=7)
  ax.set_xlabel(feature, fontsize=8)
  ax.set_ylabel(metric, fontsize=8)
  ax.legend(fontsize=7, frameon=False, loc='lower center',
            bbox_to_anchor=(0.5, 1.0), ncol=4)
  _style(ax)
  return _svg(figure, f'{metric} per {feature}')


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
