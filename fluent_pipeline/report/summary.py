"""A run as a notebook shows it: the report's summary, inline.

The graph, each component's state (a CACHED or REUSED one names the run
that made its outputs), the partial run's options, the metrics, the blessing, the serving
check and a link to the full report, which is written beside the run the
first time the run is shown (later displays reuse it).
"""

import html
import os
import pathlib
import urllib.parse

from fluent_pipeline import _paths


def html_of(result) -> str:
  """The summary's HTML; never raises (a notebook display must not)."""
  from fluent_pipeline.report import (
    graph,
    page,
    sections,
  )
  esc = html.escape
  parts = ['<div class="fluent-run" style="font-family: sans-serif; '
           'max-width: 1100px">',
           f'<h3 style="margin: 4px 0">{esc(result.pipeline_name)} '
           f'<span style="color: #6b7280; font-weight: normal">run '
           f'{esc(result.run_id)} · {result.seconds:.1f} s</span></h3>']
  try:
    nodes = [graph.Node(c.node_id, c.state, c.seconds, detail=(
        f'from run {c.made_by_run}' if c.origin else None))
             for c in result.components]
    edges = list(result.edges) + sections.resolver_edges(result)
    parts.append(f'<div class="graph">{graph.svg(nodes, edges)}</div>')
  except Exception as e:
    parts.append(f'<p>(graph not drawn: {esc(repr(e))})</p>')
  rows = []
  for name, text in result._outcomes():
    if name == 'failed':  # a failed threshold, under the blessing
      rows[-1] = (rows[-1][0], f'{rows[-1][1]}; failed: {text}')
    else:
      rows.append((name, text))
  failed = [c.node_id for c in result.components if c.state == 'FAILED']
  if failed:
    rows.insert(0, ('failed', ', '.join(failed)))
  parts.append('<table class="fluent-summary">' + ''.join(
      f'<tr><th style="text-align: left; padding-right: 12px">{esc(k)}</th>'
      f'<td style="text-align: left">{esc(v)}</td></tr>' for k, v in rows)
               + '</table>')
  try:
    path = page.default_path(result)
    if not _paths.exists(path):
      path = page.write(result, path)
    parts.append(f'<p>Full report: <a href="{esc(_link(path))}" '
                 f'target="_blank" class="fluent-report-link">'
                 f'{esc(path)}</a></p>')
  except Exception as e:
    parts.append(f'<p>(the full report could not be written: '
                 f'{esc(type(e).__name__)}: {esc(str(e))}; '
                 'result.report() retries)</p>')
  parts.append('</div>')
  return ''.join(parts)


def _link(path: str) -> str:
  """A link Jupyter serves: relative to the notebook's directory (the
  kernel's working directory) when the report is below it. Jupyter serves
  no file outside the folder it was started in, so a report elsewhere is
  linked as a file:// URL (which opens where the browser runs on the same
  machine) and its path is shown beside the link."""
  if _paths.is_uri(path):
    return path
  relative = os.path.relpath(path)
  if relative.startswith('..'):
    return pathlib.Path(path).as_uri()
  return urllib.parse.quote(relative.replace(os.sep, '/'))
