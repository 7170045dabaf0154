"""The component graph (_graph) and how a PipelineDef shows itself: its repr
as the chain's code, and in Jupyter its planned graph. No pipeline runs."""

import html
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import TAXI_MODULE

from fluent_pipeline import PipelineDef
from fluent_pipeline.report import graph as _graph

Node = _graph.Node
SVG_NS = '{http://www.w3.org/2000/svg}'
TESTS = os.path.dirname(os.path.abspath(__file__))

NODES = [
    Node('CsvExampleGen', 'COMPLETE', 4.1),
    Node('StatisticsGen', 'CACHED', 2.0),
    Node('SchemaGen', 'CACHED', 1.0),
    Node('Transform', 'RUNNING', detail="preprocess('taxi_utils.py')"),
    Node('Trainer', 'FAILED', 75.0),
    Node('latest_blessed_model_resolver', 'NEW'),
    Node('Evaluator', 'CANCELED'),
]
EDGES = [
    ('CsvExampleGen', 'StatisticsGen'), ('StatisticsGen', 'SchemaGen'),
    ('CsvExampleGen', 'Transform'), ('SchemaGen', 'Transform'),
    ('Transform', 'Trainer'), ('SchemaGen', 'Trainer'),
    ('CsvExampleGen', 'Evaluator'), ('Trainer', 'Evaluator'),
    ('latest_blessed_model_resolver', 'Evaluator'),
]
EVAL_CONFIG = {
    'model_specs': [{'label_key': 'tips'}],
    'metrics_specs': [{'metrics': [{
        'class_name': 'BinaryAccuracy',
        'threshold': {'value_threshold': {'lower_bound': 0.5}}}]}],
}


def run_fn(fn_args):  # a user function passed as an object
  del fn_args


def texts(svg: str):
  """The text elements of an SVG (parsing it as XML on the way)."""
  return [t.text for t in ET.fromstring(svg).iter(f'{SVG_NS}text')]


def the_svg(page: str) -> str:
  return page[page.index('<svg'):page.index('</svg>') + len('</svg>')]


# ------------------------------------------------------------------ _graph
def test_graph_labels_every_node_and_state():
  svg = _graph.svg(NODES, EDGES, title='run 42')
  shown = texts(svg)
  for node in NODES:
    assert node.id in shown
  assert 'COMPLETE · 4.1 s' in shown
  assert 'FAILED · 1 min 15 s' in shown
  assert "preprocess('taxi_utils.py')" in shown
  assert 'run 42' in shown
  for state in ('COMPLETE', 'CACHED', 'RUNNING', 'FAILED', 'NEW',
                'CANCELED'):
    assert state in shown  # the legend
  # One box (a path) per node and legend entry, one arrow per edge: the
  # SVG draws what it was given, as vector shapes.
  assert len(ET.fromstring(svg).findall(f'.//{SVG_NS}path')) >= (
      len(NODES) + len(EDGES))


def test_graph_svg_is_inline_and_self_contained():
  svg = _graph.svg(NODES, EDGES)
  assert svg.startswith('<svg') and svg.rstrip().endswith('</svg>')
  assert '<?xml' not in svg and 'DOCTYPE' not in svg
  assert all(uri.startswith('http://www.w3.org/')
             for uri in re.findall(r'https?://[^\s"\'<>]*', svg))
  assert 'url(' not in svg and '<image' not in svg and '<style' not in svg
  root = ET.fromstring(svg)
  assert root.get('viewBox') and 'max-width: 100%' in root.get('style')
  assert 'Date' not in svg  # no timestamp


def test_graph_is_deterministic_and_ignores_unknown_edges():
  svg = _graph.svg(NODES, EDGES)
  assert _graph.svg(NODES, EDGES) == svg
  assert _graph.svg(NODES, EDGES + [('Trainer', 'Pusher'),
                                    ('Ghost', 'Trainer'),
                                    ('Trainer', 'Trainer')]) == svg


@pytest.mark.parametrize('nodes,edges', [
    ([Node('CsvExampleGen')], []),
    ([Node('a'), Node('b', 'COMPLETE', 1.0), Node('c', 'SOMETHING')], []),
    ([Node('a'), Node('b')], [('a', 'b'), ('b', 'a')]),  # never from TFX
    ([Node(f'n{i}', 'COMPLETE', i) for i in range(20)],
     [(f'n{i}', f'n{j}') for i in range(20) for j in range(i + 1, 20)
      if (i * 7 + j * 3) % 5 == 0]),
])
def test_graph_draws_any_shape(nodes, edges):
  shown = texts(_graph.svg(nodes, edges))
  assert all(n.id in shown for n in nodes)


def test_planned_graph_has_no_legend_and_shows_details():
  shown = texts(_graph.svg([Node('Trainer', detail='train(run_fn)')], []))
  assert shown == ['Trainer', 'train(run_fn)']


# -------------------------------------------------------------------- repr
@pytest.fixture
def chain(tmp_path, taxi_csv_dir):
  return (PipelineDef('shown', root=str(tmp_path)).from_csv(taxi_csv_dir)
          .generate_statistics().infer_schema().preprocess(TAXI_MODULE)
          .train(run_fn, train_args=100).evaluate_model(EVAL_CONFIG)
          .push_to('serving').cache())


def test_repr_is_the_chain_with_its_arguments(chain, tmp_path, taxi_csv_dir):
  assert repr(chain) == '\n'.join([
      f"(PipelineDef('shown', root={str(tmp_path)!r})",
      f' .from_csv({taxi_csv_dir!r})',
      ' .generate_statistics()',
      ' .infer_schema()',
      f' .preprocess({TAXI_MODULE!r})',
      ' .train(run_fn, train_args=100)',
      ' .evaluate_model(<EvalConfig: 1 model, 1 metric>)',
      " .push_to('serving')",
      ' .cache())'])


def test_repr_shows_only_arguments_that_differ_from_the_defaults():
  pdef = PipelineDef('p', root='/r')  # short: a short chain is one line
  assert repr(pdef.infer_schema()) == (
      "PipelineDef('p', root='/r').infer_schema()")
  assert repr(pdef.infer_schema(infer_feature_shape=False)) == (
      "PipelineDef('p', root='/r').infer_schema(infer_feature_shape=False)")
  assert repr(pdef.validate_input_data(fail_on_anomalies=True)).endswith(
      '.validate_input_data(fail_on_anomalies=True)')


def test_repr_keeps_secrets_out_and_long_values_short(tmp_path):
  query = 'SELECT * FROM `project.dataset.trips` WHERE ' + ' OR '.join(
      f'trip_id = {i}' for i in range(100))
  pdef = (PipelineDef('p', root=str(tmp_path)).from_bigquery(query)
          .with_beam_pipeline_args(['--direct_num_workers=2',
                                    '--api_key=s3cret'])
          .with_parameters(lr=0.1, token='s3cret'))
  text = repr(pdef)
  assert 's3cret' not in text
  assert "'--direct_num_workers=2', '--api_key=***'" in text
  assert "with_parameters(lr=0.1, token='***')" in text
  assert '.from_bigquery(' in text
  assert max(len(line) for line in text.splitlines()) < 130


def test_repr_of_a_single_file_source_is_the_file(tmp_path, taxi_csv_dir):
  path = os.path.join(taxi_csv_dir, sorted(os.listdir(taxi_csv_dir))[0])
  assert f'.from_csv({path!r})' in repr(
      PipelineDef('p', root=str(tmp_path)).from_csv(path))


def test_repr_imports_neither_tensorflow_nor_the_graph_libraries(
    tmp_path, taxi_csv_dir):
  code = '\n'.join([
      'import sys',
      f'sys.path.insert(0, {TESTS!r})',
      'import fluent_pipeline.report.graph',
      'from fluent_pipeline import PipelineDef',
      'from test_graph import run_fn',
      f'pdef = (PipelineDef("p", root={str(tmp_path)!r})'
      f'.from_csv({taxi_csv_dir!r}).generate_statistics().infer_schema()'
      f'.preprocess({TAXI_MODULE!r}).train(run_fn, train_args=10)'
      '.push_to("serving").cache())',
      'print(repr(pdef))',
      'loaded = {"tensorflow", "matplotlib", "networkx"} & set(sys.modules)',
      'assert not loaded, loaded',
  ])
  done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, check=False)
  assert done.returncode == 0, done.stderr
  assert '.train(run_fn, train_args=10)' in done.stdout


# ------------------------------------------------------------- _repr_html_
def test_html_shows_the_planned_graph_and_the_chain(chain):
  page = chain._repr_html_()
  shown = texts(the_svg(page))
  for component in chain.build().components:
    assert component.id in shown
  assert 'train(run_fn)' in shown
  assert "from_csv('data')" in shown or any(
      s.startswith('from_csv(') for s in shown)
  assert html.escape(repr(chain)) in page


def test_html_of_a_chain_that_does_not_build_says_why(tmp_path):
  pdef = PipelineDef('broken', root=str(tmp_path)).train(TAXI_MODULE)
  page = pdef._repr_html_()
  assert '<svg' not in page
  assert 'train(): needs examples' in page
  assert html.escape(repr(pdef)) in page


def test_html_never_raises(chain):
  def broken(made):
    raise RuntimeError(f'no <{len(made)}> components')
  page = chain.add_component(broken)._repr_html_()
  assert 'RuntimeError: no &lt;' in page
  assert '.add_component(broken)' in page


# ------------------------------------------------------- resolver edges
def _label_x(svg: str, node: str) -> float:
  return float(re.search(r'<text[^>]*\bx="([0-9.]+)"[^>]*>' + re.escape(node)
                         + '<', svg).group(1))


def test_the_run_graph_draws_the_resolvers_edges():
  """ML Metadata records what a resolver resolved as internal outputs, so
  a run's events give it no edge: the report draws the Evaluator's
  baseline resolver feeding the Evaluator, fed by the Trainer (whose model
  it must not take as the baseline), and the base model's resolver
  feeding the Trainer, by the nodes each chain call made."""
  from fluent_pipeline.dsl import wiring
  from fluent_pipeline.recorded.results import ComponentRun, RunResult
  from fluent_pipeline.report import sections
  ids = ['CsvExampleGen', wiring.BASE_MODEL_RESOLVER_ID, 'Trainer',
         wiring.MODEL_RESOLVER_ID, 'Evaluator', 'Pusher']
  edges = [('CsvExampleGen', 'Trainer'), ('CsvExampleGen', 'Evaluator'),
           ('Trainer', 'Evaluator'), ('Trainer', 'Pusher'),
           ('Evaluator', 'Pusher')]
  config = {'steps': {}, 'settings': {'runner': 'LocalDagRunner'},
            'nodes': {'from_csv': ['CsvExampleGen'],
                      'with_base_model': [wiring.BASE_MODEL_RESOLVER_ID],
                      'train': ['Trainer'],
                      'evaluate_model': ['Evaluator',
                                         wiring.MODEL_RESOLVER_ID],
                      'push_to': ['Pusher']}}
  run = RunResult('p', 'r', '/root', [
      ComponentRun(node, 'COMPLETE', 1.0, {}, i) for i, node in
      enumerate(ids)], configuration=config, edges=list(edges))
  assert set(sections.resolver_edges(run)) == {
      (wiring.MODEL_RESOLVER_ID, 'Evaluator'),
      ('Trainer', wiring.MODEL_RESOLVER_ID),
      (wiring.BASE_MODEL_RESOLVER_ID, 'Trainer')}
  svg = sections.pipeline(run)['graph'].values
  # Each resolver sits right before the node it feeds, not in the first
  # column beside CsvExampleGen with nothing drawn from it.
  layers = _graph._layers([Node(n) for n in ids],
                          edges + sections.resolver_edges(run))
  assert layers[wiring.MODEL_RESOLVER_ID] == layers['Evaluator'] - 1
  assert layers[wiring.BASE_MODEL_RESOLVER_ID] == layers['Trainer'] - 1
  assert (_label_x(svg, 'CsvExampleGen') <
          _label_x(svg, wiring.MODEL_RESOLVER_ID) <
          _label_x(svg, 'Evaluator'))
  without = _graph.svg([Node(n, 'COMPLETE', 1.0) for n in ids], edges)
  # Three arrows more, each a line and its head.
  assert len(ET.fromstring(svg).findall(f'.//{SVG_NS}path')) == len(
      ET.fromstring(without).findall(f'.//{SVG_NS}path')) + 2 * 3
  # Elsewhere (Kubeflow, Airflow) TFX's strategy does not read the
  # candidate; a run whose events do give the edge gets it once.
  config['settings']['runner'] = 'KubeflowV2DagRunner'
  run.edges.append((wiring.MODEL_RESOLVER_ID, 'Evaluator'))
  assert sections.resolver_edges(run) == [
      (wiring.BASE_MODEL_RESOLVER_ID, 'Trainer')]
