"""The report's content: each section's values read from one run.

Sections hold plain values (and chart SVGs) for the template. A section whose
step is not in the pipeline says so; one whose artifacts cannot be read (a
failed step, a deleted folder) says why, and the rest of the report is still
written.
"""

import dataclasses
import json
import traceback
from typing import Any, Callable, Optional

from fluent_pipeline import _paths
from fluent_pipeline.artifacts import evaluation as evaluation_artifacts
from fluent_pipeline.artifacts import readers, user_code
from fluent_pipeline.artifacts import serving as serving_artifacts
from fluent_pipeline.artifacts import training as training_artifacts
from fluent_pipeline.report import charts


@dataclasses.dataclass
class Part:
  """What one piece of a section shows: its values, or why there are none."""
  values: Any = None
  absent: Optional[str] = None  # why nothing is shown (not an error)
  error: Optional[str] = None   # reading it failed

  @property
  def ok(self) -> bool:
    return self.absent is None and self.error is None


def _described(e: Exception) -> str:
  last = traceback.extract_tb(e.__traceback__)[-1:]
  where = f' ({last[0].filename}:{last[0].lineno})' if last else ''
  return f'{type(e).__name__}: {e}{where}'


def _read(reader: Callable[[], Any]) -> Part:
  try:
    return Part(values=reader())
  except Exception as e:
    return Part(error=_described(e))


def output(result, key: str) -> Optional[tuple[str, str]]:
  """(component id, URI) of the first artifact under output `key`."""
  for component in result.components:
    uris = component.outputs.get(key)
    if uris:
      return component.node_id, uris[0]
  return None


def _absent(result, key: str, step: str) -> Part:
  """Why a run has no `key`: its step is not in the pipeline, or a failure
  stopped the run before the step ran."""
  call = step.lstrip('.').split('(', 1)[0]
  steps = (result.configuration or {}).get('steps')
  failed = [c.node_id for c in result.components if c.state == 'FAILED']
  if steps is not None and call not in steps:
    return Part(absent=f'not in this pipeline (add {step} to the chain)')
  if failed:
    return Part(absent=f'no {key}: the run failed at {", ".join(failed)}')
  if steps is not None:
    return Part(absent=f'no {key}: {step} is in the pipeline but did not '
                'run')
  return Part(absent=f'not in this pipeline (add {step} to the chain)')


def resolver_edges(result) -> list[tuple[str, str]]:
  """The edges of the run's resolvers, which ML Metadata's events do not
  give (a resolver records what it resolved as internal outputs, not as
  outputs): the Evaluator's baseline resolver feeds the Evaluator (and,
  on the runners where it reads the candidate, is fed by the Trainer); the
  base model's resolver feeds the Trainer. Node ids by the chain call
  that made them, as the run's configuration records them."""
  from fluent_pipeline.dsl import wiring
  config = result.configuration or {}
  present = {c.node_id for c in result.components}
  made = {call: [n for n in ids if n in present]
          for call, ids in (config.get('nodes') or {}).items()}
  trainers = made.get('train', [])
  found = []
  for ids in made.values():
    if wiring.MODEL_RESOLVER_ID in ids:
      found += [(wiring.MODEL_RESOLVER_ID, n) for n in ids
                if n != wiring.MODEL_RESOLVER_ID]
      if ((config.get('settings') or {}).get('runner') in
          wiring.CANDIDATE_AWARE_RUNNERS):
        found += [(n, wiring.MODEL_RESOLVER_ID) for n in trainers]
    if wiring.BASE_MODEL_RESOLVER_ID in ids:
      found += [(wiring.BASE_MODEL_RESOLVER_ID, n) for n in trainers]
  return [e for e in found if e not in result.edges]


def _extra_steps(config: dict[str, Any]) -> dict[str, Any]:
  """The add_component calls the configuration records (under settings),
  as steps: 'add_component(<id>)' -> what was added, and what it
  replaces."""
  found = {}
  for extra in (config.get('settings') or {}).get('extra_components') or []:
    name = extra.get('id') or extra.get('factory') or '?'
    key = f'add_component({name})'
    n = 2
    while key in found:
      key, n = f'add_component({name})#{n}', n + 1
    found[key] = extra
  return found


def _user_code(config: dict[str, Any]) -> list[dict[str, Any]]:
  """Each user code of the run: what it was given as, where, the steps
  using it, and its source as recorded."""
  from fluent_pipeline.dsl import configuration as config_json
  used: dict[str, list[str]] = {}
  for step, args in (config.get('steps') or {}).items():
    if not isinstance(args, dict):
      continue
    for name, value in args.items():
      for sha in config_json.code_refs(value):
        used.setdefault(sha, []).append(f'{step}.{name}')
  code = []
  for sha, info in (config.get('user_code') or {}).items():
    source = user_code.code_source(info)
    code.append({'sha256': sha, 'given_as': info.get('given_as'),
                 'location': info.get('location') or info.get('module_file')
                 or info.get('name'), 'used_by': used.get(sha, []),
                 'title': source['title'], 'text': source['text'],
                 'why': source['why']})
  return code


def pipeline(result) -> dict[str, Any]:
  from fluent_pipeline.report import graph
  nodes = [graph.Node(c.node_id, c.state, c.seconds, detail=(
      f'from run {c.made_by_run}' if getattr(c, 'origin', None) else None))
           for c in result.components]
  # A CACHED or REUSED step shows the code and arguments of the run that
  # made its outputs (and names it), not the chain this run was given.
  config = getattr(result, 'effective_configuration',
                   result.configuration) or {}
  steps = {name: json.dumps(args, indent=1, sort_keys=True, default=str)
           for name, args in (config.get('steps') or {}).items()}
  steps.update({name: json.dumps(extra, indent=1, sort_keys=True)
                for name, extra in _extra_steps(config).items()})
  code = _user_code(config)
  edges = list(result.edges) + resolver_edges(result)
  failed = [c for c in result.components if c.state == 'FAILED']
  if config:
    no_configuration = None
  elif failed:
    no_configuration = ('this run recorded no configuration: it failed '
                        'before the configuration was written')
  else:
    no_configuration = ('this run recorded no configuration '
                        '(record_configuration was off)')
  return {
      'graph': _read(lambda: graph.svg(nodes, edges)),
      'components': result.components,
      'failures': [{'node_id': c.node_id, 'reason': c.error or
                    'the reason is in the full log'} for c in failed],
      'configuration': bool(config),
      'no_configuration': no_configuration,
      'parameters': config.get('parameters') or {},
      'source': json.dumps(config.get('source'), indent=1, default=str)
                if config.get('source') else None,
      'steps': steps,
      'settings': config.get('settings') or {},
      'versions': config.get('versions') or {},
      'code': code,
      'made_by': config.get('made_by') or {},
      'partial': _partial(result),
  }


def _partial(result) -> Optional[dict[str, Any]]:
  """A partial run: its options and the steps it reused, by origin."""
  if getattr(result, 'partial_run', None) is None:
    return None
  reused = [{'node_id': c.node_id, 'origin': c.origin}
            for c in result.components if c.state == 'REUSED']
  return {'description': result.partial_description(), 'reused': reused}


def data(result) -> dict[str, Any]:
  stats = output(result, 'statistics')
  section: dict[str, Any] = {'reshaped': result.reshaped}
  if stats is None:
    section['statistics'] = _absent(result, 'statistics',
                                    '.generate_statistics()')
  else:
    section['statistics'] = _read(lambda: _side_by_side(stats[1]))
  schema = output(result, 'schema')
  section['schema'] = (_read(lambda: readers.schema(schema[1]))
                       if schema else _absent(result, 'schema',
                                              '.infer_schema()'))
  anomalies = output(result, 'anomalies')
  section['anomalies'] = (
      _read(lambda: readers.anomalies(anomalies[1])) if anomalies
      else _absent(result, 'anomalies', '.validate_input_data()'))
  return section


def _split_order(names) -> list[str]:
  return sorted(names, key=lambda n: (n != 'train', n))


def _side_by_side(uri: str) -> dict[str, Any]:
  """The statistics of every split, a row per feature with the splits side
  by side, and how far each split's distribution is from the first's
  (train): TFDV's drift measure (readers.distribution_changes)."""
  names = _split_order(readers.splits(uri))
  by_split = {split: readers.statistics(uri, split) for split in names}
  features: list[str] = []
  for split in names:
    features += [f for f in by_split[split] if f not in features]
  changes: dict[str, dict[str, Any]] = {}
  changes_error = None
  for split in names[1:]:
    try:
      changes[split] = readers.distribution_changes((uri, names[0]),
                                                    (uri, split))
    except Exception as e:  # the statistics still show
      changes_error = _described(e)
  rows = []
  for name in features:
    cells = {split: by_split[split].get(name) for split in names}
    first = next(c for c in cells.values() if c)
    rows.append({
        'name': name, 'type': first['type'], 'splits': cells,
        'chart': charts.distributions([cells[s] for s in names], names),
        'changes': {split: changes.get(split, {}).get(name)
                    for split in names[1:]}})
  return {'splits': names, 'features': rows,
          'examples': {split: next(iter(by_split[split].values()), {}).get(
              'num_examples', 0) for split in names},
          'changes_error': changes_error}


def training(result) -> dict[str, Any]:
  section: dict[str, Any] = {'hyperparameters_source': None}
  from fluent_pipeline.dsl import wiring
  tuned = output(result, 'best_hyperparameters')
  given = [c for c in result.components
           if c.node_id == wiring.HYPERPARAMETERS_IMPORTER_ID and
           c.outputs.get('result')]
  if tuned:
    section['hyperparameters'] = _read(
        lambda: training_artifacts.hyperparameters(tuned[1]))
    section['hyperparameters_source'] = f'tuned ({tuned[0]})'
  elif given:
    section['hyperparameters'] = _read(
        lambda: training_artifacts.hyperparameters(
            given[0].outputs['result'][0]))
    section['hyperparameters_source'] = 'given (with_hyperparameters)'
  else:
    section['hyperparameters'] = Part(
        absent='none: the Trainer used its own defaults (no tune() or '
        'with_hyperparameters())')
  run = output(result, 'model_run')
  if run is None:
    section['curves'] = _absent(result, 'training logs', '.train()')
  else:
    def read_curves():
      drawn = charts.curves(training_artifacts.training_curves(run[1]))
      if not drawn:
        raise LookupError(
            'the Trainer wrote no TensorBoard logs: pass '
            'tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir) '
            'to model.fit in run_fn')
      return drawn
    section['curves'] = _read(read_curves)
    if section['curves'].error and section['curves'].error.startswith(
        'LookupError'):
      section['curves'] = Part(absent=section['curves'].error.split(': ', 1)
                               [1].rsplit(' (', 1)[0])
  trials = output(result, 'tuner_results')
  if trials is None:
    section['trials'] = Part(absent='no Tuner in this pipeline')
  else:
    def read_trials():
      rows = training_artifacts.tuner_trials(trials[1])
      names = []
      for row in rows:
        names += [k for k in row if k not in names]
      return {'columns': names, 'rows': rows}
    section['trials'] = _read(read_trials)
  return section


_CHARTED_METRICS = 2


def _slice_columns(slices) -> list[str]:
  """The slicing columns ('trip_start_hour', 'a_X_b' for a feature cross)
  in the order their slices come."""
  columns: list[str] = []
  for name in slices:
    if name == 'Overall' or ' vs ' in name:
      continue
    column = name.rpartition(':')[0]
    if column not in columns:
      columns.append(column)
  return columns


_NO_PLOTS = ("the eval_config computes no plots: add tfma.MetricConfig("
             "class_name='ConfusionMatrixPlot') (ROC and precision-recall "
             "curves, confusion matrix) and class_name='CalibrationPlot' to "
             "its metrics")


def evaluation(result) -> dict[str, Any]:
  section: dict[str, Any] = {'blessed': result.blessed, 'metric_names': [],
                             'charts': Part(values=[]), 'baseline': [],
                             'charted_metrics': [], 'intervals': {},
                             'intervals_error': None}
  evaluated = output(result, 'evaluation')
  if evaluated is None:
    absent = _absent(result, 'evaluation', '.evaluate_model(eval_config)')
    return dict(section, slices=absent, thresholds=absent, plots=absent)
  uri = evaluated[1]
  section['slices'] = _read(lambda: evaluation_artifacts.slice_metrics(uri))
  section['thresholds'] = _read(lambda: evaluation_artifacts.thresholds(uri))
  intervals = _read(lambda: evaluation_artifacts.metric_intervals(uri))
  section['intervals'] = intervals.values if intervals.ok else {}
  section['intervals_error'] = intervals.error
  section['plots'] = _read(lambda: _plots(uri))
  if section['plots'].ok and not section['plots'].values:
    section['plots'] = Part(absent=_NO_PLOTS)
  if section['slices'].ok:
    slices = section['slices'].values
    names: list[str] = []
    for entry in slices.values():
      names += [k for k in entry['candidate'] if k not in names]
    section['metric_names'] = names
    bounds = {}
    if section['thresholds'].ok:
      for row in section['thresholds'].values:
        if row['lower'] is not None and row['slice'] == 'Overall':
          bounds.setdefault(row['metric'], row['lower'])
    # The metrics with a threshold first, then the others, up to
    # _CHARTED_METRICS; one chart per metric and slicing column.
    charted = sorted((n for n in names if 'example_count' not in n),
                     key=lambda n: (n not in bounds, n))[:_CHARTED_METRICS]
    section['charted_metrics'] = charted
    section['charts'] = _read(lambda: [
        chart for name in charted for column in _slice_columns(slices)
        for chart in [charts.slice_bars(slices, name, bounds.get(name),
                                         column, section['intervals'])]
        if chart])
    overall = slices.get('Overall', {})
    section['baseline'] = [
        {'metric': m, 'candidate': overall['candidate'].get(m),
         'baseline': overall['baseline'].get(m), 'diff': overall['diff'].get(m)}
        for m in names if m in overall.get('baseline', {})]
  return section


def _matrix(thresholds: list[dict[str, Any]], at: float = 0.5
            ) -> Optional[dict[str, Any]]:
  """The confusion matrix at the threshold nearest `at`."""
  if not thresholds:
    return None
  return dict(min(thresholds, key=lambda t: abs(t['threshold'] - at)))


def _plots(uri: str) -> list[dict[str, Any]]:
  """Per slice, TFMA's plots drawn: ROC, precision-recall, calibration,
  and the confusion matrix at 0.5, candidate beside baseline."""
  from fluent_pipeline.artifacts import models
  drawn = []
  for name, by_model in evaluation_artifacts.plots(uri).items():
    candidate = by_model.get(models.CANDIDATE) or {}
    baseline = by_model.get(models.BASELINE) or {}
    matrix = _matrix(candidate.get('thresholds') or [])
    drawn.append({
        'slice': name,
        'examples': (sum(matrix[k] for k in ('tp', 'fp', 'tn', 'fn'))
                     if matrix else None),
        'charts': [c for c in (charts.roc(by_model, name),
                               charts.precision_recall(by_model, name),
                               charts.calibration(by_model, name)) if c],
        'matrix': matrix,
        'baseline_matrix': _matrix(baseline.get('thresholds') or []),
    })
  return drawn


def serving(result) -> dict[str, Any]:
  section: dict[str, Any] = {'infra_blessed': result.infra_blessed,
                             'check': dict(result.serving),
                             'pushed_model': result.pushed_model,
                             'model_dir': None}
  section['latency_chart'] = charts.latency(
      result.serving.get('latencies_ms') or [])
  model_dir = result.pushed_model
  trainers = [c for c in result.components  # not a resolver's 'model'
              if c.outputs.get('model') and 'model_run' in c.outputs]
  if model_dir is None and trainers:
    model_dir = _paths.join(trainers[0].outputs['model'][0],
                            'Format-Serving')
  if model_dir is None:
    section['signatures'] = _absent(result, 'model', '.train()')
  else:
    section['model_dir'] = model_dir
    section['signatures'] = _read(
        lambda: serving_artifacts.serving_signatures(model_dir))
  return section


def inference(result, limit: int = 20) -> dict[str, Any]:
  found = output(result, 'inference_result') or output(result,
                                                       'output_examples')
  if found is None:
    return {'sample': _absent(result, 'bulk inference', '.bulk_infer(...)')}
  if result.blessed is False:
    return {'sample': Part(absent='skipped: the model was not blessed, so '
                           'BulkInferrer made no predictions')}

  def read():
    rows = serving_artifacts.predictions(found[1], limit)
    columns: list[str] = []
    for row in rows:
      columns += [k for k in row if k not in columns]
    predicted = [c for c in columns if c.startswith('prediction: ')]
    columns = predicted + [c for c in columns if c not in predicted]
    return {'columns': columns, 'rows': rows, 'uri': found[1]}
  return {'sample': _read(read)}


_COMPARED_STATS = ('count', 'missing', 'mean', 'std', 'min', 'max', 'unique')


def comparison(result, other, changes: Callable[[], str]) -> dict[str, Any]:
  """What changed from run `other` to `result`: metrics per slice with
  deltas, the statistics that moved, and `changes()`, the configuration's
  diff as the runs layer words it."""
  section: dict[str, Any] = {'other': other}

  def metrics():
    mine, theirs = (output(r, 'evaluation') for r in (result, other))
    if not (mine and theirs):
      raise LookupError('both runs need an evaluation to compare metrics')
    a = evaluation_artifacts.slice_metrics(theirs[1])
    b = evaluation_artifacts.slice_metrics(mine[1])
    metrics: list[str] = []
    for entry in list(b.values()) + list(a.values()):
      metrics += [m for m in entry['candidate'] if m not in metrics]
    rows = []
    for name in list(b) + [n for n in a if n not in b]:
      ma = a.get(name, {}).get('candidate', {})
      mb = b.get(name, {}).get('candidate', {})
      cells = {}
      for metric in metrics:
        va, vb = ma.get(metric), mb.get(metric)
        cells[metric] = {'other': va, 'this': vb, 'delta': None if None in (
            va, vb) else vb - va}
      # A slice one run has and the other not (another slicing spec, or
      # no example of that value in its data): marked, not a blank cell.
      only = None if name in a and name in b else (
          'this' if name in b else 'other')
      rows.append({'slice': name, 'cells': cells, 'only_in': only})
    return {'metrics': metrics, 'rows': rows,
            'only_here': sum(r['only_in'] == 'this' for r in rows),
            'only_there': sum(r['only_in'] == 'other' for r in rows)}
  section['metrics'] = _read(metrics)

  def statistics():
    both = _statistics_of_both(result, other)
    if both is None:
      return []
    mine, theirs = both
    rows = []
    for split in readers.splits(mine):
      b = readers.statistics(mine, split)
      try:
        a = readers.statistics(theirs, split)
      except LookupError:
        a = {}
      for feature in sorted(set(a) | set(b)):
        fa, fb = a.get(feature, {}), b.get(feature, {})
        for stat in _COMPARED_STATS:
          va, vb = fa.get(stat), fb.get(stat)
          if va is None and vb is None:
            continue
          if va is not None and vb is not None and abs(vb - va) <= 1e-9 * max(
              1.0, abs(va)):
            continue
          rows.append({'split': split, 'feature': feature, 'stat': stat,
                       'other': va, 'this': vb,
                       'delta': None if None in (va, vb) else vb - va})
    return rows
  section['statistics'] = _read(statistics)
  section['distributions'] = _read(lambda: _distribution_changes(result,
                                                                 other))
  section['diff'] = _read(changes)
  return section


def _summary(feature: Optional[dict[str, Any]]) -> str:
  """A feature's distribution in a few words: mean and spread of a number,
  the most frequent values and their shares of a string."""
  if not feature:
    return 'absent'
  if 'mean' in feature:
    if feature.get('mean') is None:
      return 'no values'
    return (f'mean {feature["mean"]:.4g}, std {feature.get("std") or 0:.4g}'
            f' ({feature.get("min", 0):.4g} .. {feature.get("max", 0):.4g})')
  total = feature.get('count') or 0
  top = feature.get('top_values') or []
  if not top or not total:
    return f'{feature.get("unique") or 0} unique'
  return ', '.join(f'{value} {count / total:.0%}' for value, count in top[:3])


def _statistics_of_both(result, other) -> Optional[tuple[str, str]]:
  """The statistics URIs of `result` and `other`; None when they are one
  artifact (cached: nothing moved)."""
  mine, theirs = (output(r, 'statistics') for r in (result, other))
  if not (mine and theirs):
    raise LookupError('both runs need statistics to compare data')
  return None if mine[1] == theirs[1] else (mine[1], theirs[1])


def _distribution_changes(result, other) -> list[dict[str, Any]]:
  """Per split both runs have, each feature's distribution change from
  run `other` to `result`: TFDV's drift measure (L-infinity distance of
  a string's value shares, Jensen-Shannon divergence of a number's
  histogram), both distributions in words and as one chart; the largest
  changes first."""
  both = _statistics_of_both(result, other)
  if both is None:
    return []
  mine, theirs = both
  rows = []
  shared = [s for s in _split_order(readers.splits(mine))
            if s in readers.splits(theirs)]
  for split in shared:
    b = readers.statistics(mine, split)
    a = readers.statistics(theirs, split)
    moved = readers.distribution_changes((theirs, split), (mine, split))
    # A feature one run lacks first, then the largest changes.
    names = sorted(set(a) | set(b), key=lambda n: (
        n in a and n in b, -(moved.get(n) or {}).get('value', 0.0), n))
    for name in names:
      change = moved.get(name)
      rows.append({
          'split': split, 'feature': name,
          'measure': change['measure'] if change else None,
          'value': change['value'] if change else None,
          'only_in': (None if name in a and name in b else
                      'this' if name in b else 'other'),
          'other': _summary(a.get(name)), 'this': _summary(b.get(name)),
          'chart': charts.distributions([a.get(name), b.get(name)],
                                        [other.run_id, result.run_id])})
  return rows
