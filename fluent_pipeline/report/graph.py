"""A pipeline's component graph as inline SVG, for HTML pages and notebooks.

Both the run report (components with their state and duration) and
`PipelineDef._repr_html_` (the planned graph) draw with `svg()`. networkx
lays the DAG out in left-to-right layers; an edge that skips layers runs
through reserved lanes (one per source and layer, shared by its edges), so no
edge is ever drawn across a box. matplotlib draws it, with text kept as text.
The output is self-contained (no external reference, no global CSS) and
deterministic, so it can be inlined several times in one page and compared in
tests.
"""

import dataclasses
import io
import re
from collections.abc import Iterable, Sequence
from typing import Optional

# State -> (fill, edge colour); None is a planned node that has not run.
_COLOURS = {
    'COMPLETE': ('#dcf1df', '#2e7d32'),
    'CACHED': ('#dde6f2', '#4a6a94'),
    'REUSED': ('#ece4f4', '#6a4c93'),  # taken from another run (partial)
    'FAILED': ('#fbdcdc', '#c62828'),
    'RUNNING': ('#fdefc6', '#b7791f'),
    'NEW': ('#fdefc6', '#b7791f'),
    'CANCELED': ('#ececec', '#757575'),
    None: ('#f7f7f9', '#5f6b7a'),
}
_UNKNOWN_STATE = ('#ececec', '#757575')
_LEGEND_ORDER = ('COMPLETE', 'CACHED', 'REUSED', 'FAILED', 'RUNNING', 'NEW',
                 'CANCELED')

# Sizes in points (the SVG's user units).
_ID_SIZE = 9.0
_LINE_SIZE = 8.0
_TITLE_SIZE = 10.0
_PAD_X = 6.0  # text to box edge
_LINE_STEP = 11.0  # baseline to baseline
_BOX_MIN_WIDTH = 60.0
_LANE_HEIGHT = 6.0  # room a passing edge takes in a column
_COLUMN_GAP = 26.0
_ROW_GAP = 12.0
_MARGIN = 8.0
_DETAIL_CHARS = 36
# Text is measured in DejaVu Sans, which matplotlib ships. Browsers may
# substitute the font (the SVG names matplotlib's sans-serif list); DejaVu
# Sans is among the widest, and the margin covers the rest.
_FONT = 'DejaVu Sans'
_TEXT_SLACK = 1.05


@dataclasses.dataclass(frozen=True)
class Node:
  """One component: its node id, and how its run went (None: planned)."""
  id: str
  state: Optional[str] = None
  seconds: Optional[float] = None
  detail: Optional[str] = None  # a short extra line, e.g. 'train(run_fn)'


def svg(nodes: Sequence[Node], edges: Iterable[tuple[str, str]], *,
        title: Optional[str] = None) -> str:
  """The graph as an <svg> element (no XML prolog/doctype), self-contained:
  nothing referenced outside it.

  Edges naming unknown nodes are ignored; of nodes with the same id, the
  first is drawn.
  """
  import matplotlib
  nodes = _unique(nodes)
  known = {n.id for n in nodes}
  edges = sorted({(a, b) for a, b in edges
                  if a in known and b in known and a != b})
  rc = {'svg.fonttype': 'none', 'svg.hashsalt': 'fluent_pipeline',
        'font.family': 'sans-serif',
        'text.parse_math': False, 'text.usetex': False}
  with matplotlib.rc_context(rc):
    figure = _draw(nodes, edges, title)
    out = io.StringIO()
    figure.savefig(out, format='svg', metadata={
        'Date': None, 'Creator': None, 'Format': None, 'Type': None})
  return _tidy(out.getvalue())


def _unique(nodes: Sequence[Node]) -> list[Node]:
  seen: dict[str, Node] = {}
  for node in nodes:
    seen.setdefault(node.id, node)
  return list(seen.values())


def _lines(node: Node) -> list[str]:
  """The text under the id: state and duration, then the detail."""
  lines = []
  if node.state is not None:
    lines.append(node.state if node.seconds is None
                 else f'{node.state} · {_duration(node.seconds)}')
  if node.detail:
    detail = ' '.join(node.detail.split())
    if len(detail) > _DETAIL_CHARS:
      detail = detail[:_DETAIL_CHARS - 1] + '…'
    lines.append(detail)
  return lines


def _duration(seconds: float) -> str:
  if seconds < 60:
    return f'{seconds:.1f} s'
  if seconds < 3600:
    return f'{int(seconds // 60)} min {int(seconds % 60)} s'
  return f'{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min'


# ---------------------------------------------------------------- layout
@dataclasses.dataclass
class _Slot:
  """A box, or a lane an edge runs through, in one layer."""
  key: tuple[str, ...]  # ('node', id) or ('lane', source id, layer)
  layer: int
  height: float
  y: float = 0.0  # centre, filled in by the layout


def _layers(nodes: list[Node], edges: list[tuple[str, str]]
            ) -> dict[str, int]:
  """Each node's layer: networkx's topological generations, then every node
  with successors moved right next to its nearest one (a model resolver
  sits beside the Evaluator it feeds, not in the first column)."""
  import networkx as nx
  graph = nx.DiGraph()
  graph.add_nodes_from(n.id for n in nodes)
  graph.add_edges_from(edges)
  # A cycle cannot come from TFX, but must not break the drawing: lay out
  # the DAG of its strongly connected parts instead.
  dag = nx.condensation(graph)
  member = dag.graph['mapping']
  layer_of = {}
  for i, generation in enumerate(nx.topological_generations(dag)):
    for part in generation:
      layer_of[part] = i
  for part in reversed(list(nx.topological_sort(dag))):
    after = [layer_of[s] for s in dag.successors(part)]
    if after:
      layer_of[part] = min(after) - 1
  first = min(layer_of.values(), default=0)
  return {n.id: layer_of[member[n.id]] - first for n in nodes}


def _layout(nodes: list[Node], edges: list[tuple[str, str]], box_height):
  """Slots by layer (ordered to limit crossings) and each edge's route as
  the slots it passes."""
  import networkx as nx
  layer = _layers(nodes, edges)
  slots: dict[tuple[str, ...], _Slot] = {
      ('node', n.id): _Slot(('node', n.id), layer[n.id], box_height)
      for n in nodes}
  routed = nx.DiGraph()  # slots and the hops between them
  routed.add_nodes_from(slots)
  routes = {}
  for a, b in edges:
    if layer[b] <= layer[a]:  # inside a cycle: not drawn
      continue
    route = [('node', a)]
    for i in range(layer[a] + 1, layer[b]):
      key = ('lane', a, str(i))
      slots.setdefault(key, _Slot(key, i, _LANE_HEIGHT))
      route.append(key)
    route.append(('node', b))
    routed.add_edges_from(zip(route, route[1:]))
    routes[(a, b)] = route
  count = max((s.layer for s in slots.values()), default=-1) + 1
  columns: list[list[_Slot]] = [[] for _ in range(count)]
  for slot in slots.values():  # in input order: the order ties keep
    columns[slot.layer].append(slot)
  _order(columns, routed)
  for column in columns:
    total = sum(s.height for s in column) + _ROW_GAP * (len(column) - 1)
    top = total / 2
    for slot in column:
      slot.y = top - slot.height / 2
      top -= slot.height + _ROW_GAP
  return columns, slots, routes


def _order(columns: list[list[_Slot]], routed) -> None:
  """Barycenter sweeps: each slot moves towards its neighbours' mean rank
  in the layer before (down) or after (up), which removes most crossings."""
  def sweep(indices, before, neighbours):
    for i in indices:
      rank = {s.key: r for r, s in enumerate(columns[before(i)])}

      def centre(item, rank=rank):
        r, slot = item
        near = [rank[k] for k in neighbours(slot.key) if k in rank]
        return (sum(near) / len(near) if near else r, r)
      columns[i] = [s for _, s in sorted(enumerate(columns[i]), key=centre)]

  down = (range(1, len(columns)), lambda i: i - 1, routed.predecessors)
  up = (range(len(columns) - 2, -1, -1), lambda i: i + 1, routed.successors)
  for _ in range(2):
    sweep(*down)
    sweep(*up)
  sweep(*down)


# --------------------------------------------------------------- drawing
def _text_width(text: str, size: float, bold: bool = False) -> float:
  """The width matplotlib's DejaVu Sans gives `text`, with slack."""
  from matplotlib.font_manager import FontProperties
  from matplotlib.textpath import TextToPath
  prop = FontProperties(family=_FONT, size=size,
                        weight='bold' if bold else 'normal')
  width, _, _ = TextToPath().get_text_width_height_descent(
      text, prop, ismath=False)
  return width * _TEXT_SLACK


def _draw(nodes: list[Node], edges: list[tuple[str, str]],
          title: Optional[str]):
  from matplotlib.figure import Figure
  from matplotlib.transforms import Affine2D
  lines = {n.id: _lines(n) for n in nodes}
  box_height = 14 + _ID_SIZE + _LINE_STEP * max(
      (len(v) for v in lines.values()), default=0)
  columns, slots, routes = _layout(nodes, edges, box_height)
  box_width = {n.id: max([_BOX_MIN_WIDTH, _text_width(n.id, _ID_SIZE, True)] +
                         [_text_width(t, _LINE_SIZE) for t in lines[n.id]])
                     + 2 * _PAD_X for n in nodes}
  column_width = [max([_LANE_HEIGHT] + [box_width[s.key[1]] for s in column
                                        if s.key[0] == 'node'])
                  for column in columns]
  centre_x, x = [], _MARGIN
  for width in column_width:
    centre_x.append(x + width / 2)
    x += width + _COLUMN_GAP
  graph_width = max(x - _COLUMN_GAP, 0) + _MARGIN
  graph_height = max((sum(s.height for s in column) +
                      _ROW_GAP * (len(column) - 1) for column in columns),
                     default=0)
  legend = _legend(nodes)
  header = ((_TITLE_SIZE + 8 if title else 0) +
            (_LINE_SIZE + 8 if legend else 0))
  width = max(graph_width, sum(w for _, _, w in legend) + 2 * _MARGIN,
              _text_width(title, _TITLE_SIZE, True) + 2 * _MARGIN
              if title else 0)
  height = header + graph_height + 2 * _MARGIN

  figure = Figure(figsize=(width / 72, height / 72), dpi=72,
                  facecolor='#ffffff')
  # Drawn on the figure in points, without Axes: nothing to autoscale.
  points = Affine2D().scale(1 / 72) + figure.dpi_scale_trans

  def add(patch):
    patch.set_transform(points)
    figure.add_artist(patch)

  def write(x, y, text, **kwargs):
    figure.text(x, y, text, transform=points, **kwargs)

  top = height - _MARGIN
  if title:
    write(_MARGIN, top, title, fontsize=_TITLE_SIZE, weight='bold',
          va='top', ha='left', color='#222222')
    top -= _TITLE_SIZE + 8
  x = _MARGIN
  for label, (fill, edge), item_width in legend:
    add(_box(x, top - 9, 9, 9, fill, edge, rounding=2))
    write(x + 13, top - 4.5, label, fontsize=_LINE_SIZE, va='center',
          ha='left', color='#333333')
    x += item_width

  middle = _MARGIN + graph_height / 2  # the graph's centre line

  def extent(key):  # (column left, right, box left, right, y) of a slot
    slot = slots[key]
    half = column_width[slot.layer] / 2
    inner = box_width[key[1]] / 2 if key[0] == 'node' else half
    x = centre_x[slot.layer]
    return x - half, x + half, x - inner, x + inner, middle + slot.y

  for edge in edges:
    if edge in routes:
      add(_arrow([extent(key) for key in routes[edge]]))
  for node in nodes:
    _, _, left, right, y = extent(('node', node.id))
    fill, edge = _colours(node.state)
    add(_box(left, y - box_height / 2, right - left, box_height, fill, edge,
             linewidth=1.8 if node.state == 'FAILED' else 1.0))
    first = y + len(lines[node.id]) * _LINE_STEP / 2
    write((left + right) / 2, first, node.id, fontsize=_ID_SIZE,
          weight='bold', ha='center', va='center', color='#1a1a1a')
    for i, line in enumerate(lines[node.id], 1):
      write((left + right) / 2, first - i * _LINE_STEP, line,
            fontsize=_LINE_SIZE, ha='center', va='center', color='#444444')
  return figure


def _legend(nodes: list[Node]) -> list[tuple[str, tuple[str, str], float]]:
  """(label, colours, width) of each state present; none for a graph that
  is all planned."""
  states = {n.state for n in nodes}
  if states == {None}:
    return []
  order = sorted(states, key=lambda s: (
      _LEGEND_ORDER.index(s) if s in _LEGEND_ORDER else len(_LEGEND_ORDER),
      s or ''))
  return [(s or 'PLANNED', _colours(s),
           _text_width(s or 'PLANNED', _LINE_SIZE) + 22) for s in order]


def _colours(state: Optional[str]) -> tuple[str, str]:
  return _COLOURS.get(state, _UNKNOWN_STATE)


def _box(x, y, w, h, fill, edge, linewidth=1.0, rounding=4.0):
  from matplotlib.patches import FancyBboxPatch
  return FancyBboxPatch((x, y), w, h,
                        boxstyle=f'round,pad=0,rounding_size={rounding}',
                        facecolor=fill, edgecolor=edge, linewidth=linewidth,
                        clip_on=False, zorder=2)


def _arrow(route: list[tuple[float, float, float, float, float]]):
  """An edge through its slots, each (column left, right, box left, right,
  y): level inside each column, an S-curve in each gap between columns, so
  it never crosses a box."""
  from matplotlib.patches import FancyArrowPatch
  from matplotlib.path import Path
  _, column_right, _, box_right, y = route[0]
  vertices, codes = [(box_right, y)], [Path.MOVETO]

  def level_to(x):
    if x != vertices[-1][0]:
      vertices.append((x, vertices[-1][1]))
      codes.append(Path.LINETO)

  level_to(column_right)
  last = len(route) - 1
  for i, (column_left, column_right, box_left, _, y) in enumerate(route):
    if i == 0:
      continue
    x_from, y_from = vertices[-1]
    bend = (column_left - x_from) / 2
    vertices += [(x_from + bend, y_from), (column_left - bend, y),
                 (column_left, y)]
    codes += [Path.CURVE4] * 3
    level_to(box_left if i == last else column_right)  # a lane crosses
  return FancyArrowPatch(path=Path(vertices, codes), arrowstyle='-|>',
                         mutation_scale=9, shrinkA=0, shrinkB=0,
                         color='#6b7480', linewidth=1.0, zorder=1)


# ------------------------------------------------------------ SVG text
_PROLOG = re.compile(r'^.*?(?=<svg\b)', re.DOTALL)
_STYLE = re.compile(r'\s*<defs>\s*<style type="text/css">[^<]*</style>\s*'
                    r'</defs>')
_IDS = re.compile(r' id="[^"]*"')
_SVG_TAG = re.compile(r'<svg\b([^>]*)>')


def _tidy(text: str) -> str:
  """matplotlib's SVG as an inline element: no prolog or doctype, its one
  global CSS rule (`*{stroke-linejoin...}`) turned into inherited attributes
  of the root, unreferenced ids dropped (several graphs can share a page),
  and sized to shrink with a narrow page."""
  text = _PROLOG.sub('', text, count=1)
  text = _STYLE.sub('', text, count=1)
  if 'url(#' not in text and 'href="#' not in text:
    text = _IDS.sub('', text)
  return _SVG_TAG.sub(
      lambda m: ('<svg' + m.group(1) + ' class="fluent-pipeline-graph"'
                 ' stroke-linejoin="round" stroke-linecap="butt"'
                 ' style="max-width: 100%; height: auto">'),
      text, count=1).strip() + '\n'
