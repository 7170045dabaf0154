"""The eval_config checked when the chain is built, before it costs a run.

TFMA reads its EvalConfig only inside the Evaluator, after training: a
misspelt metric fails there with Keras's custom_object_scope message, and a
slice on a missing column or a threshold on a metric nothing computes runs to
the end without a word (an empty slice; a model never blessed, "Metric not
found"). Here each is named with the closest valid name. TFMA is imported
inside the functions: they run at build(), where the Evaluator has loaded it.
"""

import ast
import difflib
import importlib.util
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from fluent_pipeline.errors import PipelineDefinitionError

_STEP = 'evaluate_model()'
# Runners whose Evaluator runs in an image built elsewhere: a custom metric's
# module may be installed there only.
_REMOTE_RUNNERS = ('KubeflowV2DagRunner',)


def check(config, *, columns: Optional[Sequence[str]] = None,
          columns_from: str = '', runner: Optional[str] = None) -> None:
  """Raises PipelineDefinitionError for the first mistake in `config` (a
  tfma EvalConfig): metric names, threshold names, and, when the source's
  `columns` are known, the slicing and label keys. A config without custom
  metrics is checked once per process (TFMA's computations take a few
  milliseconds; a notebook builds the same chain again and again)."""
  custom = any(metric.module for _, metric in _metric_configs(config))
  key = (config.SerializeToString(deterministic=True),
         tuple(columns or ()), columns_from, runner)
  if not custom and key in _PASSED:
    return
  unchecked = check_metrics(config, runner)
  if not unchecked:
    check_threshold_names(config)
  if columns:
    check_columns(config, list(columns), columns_from)
  if not custom:
    _PASSED.add(key)


# The configs (serialized, with columns and runner) that passed check().
_PASSED: set[tuple[bytes, tuple[str, ...], str, Optional[str]]] = set()


def closest(name: str, choices: Sequence[str]) -> Optional[str]:
  """The choice nearest `name`, case and underscores aside."""
  def norm(text: str) -> str:
    return text.replace('_', '').lower()
  by_norm = {norm(c): c for c in choices}
  if norm(name) in by_norm:
    return by_norm[norm(name)]
  found = difflib.get_close_matches(norm(name), list(by_norm), n=1,
                                    cutoff=0.6)
  return by_norm[found[0]] if found else None


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
  near = closest(name, choices)
  return f'did you mean {near!r}? ' if near else ''


# --- metric class names -----------------------------------------------------

def known_metrics() -> dict[str, str]:
  """Class names TFMA resolves without a module -> where they come from:
  TFMA's registry, then Keras's metrics (metric_specs.metric_instance)."""
  import tf_keras
  from tensorflow_model_analysis.metrics import metric_types
  found = {name: 'TFMA' for name in metric_types.registered_metrics()}
  keras_metrics = sys.modules[tf_keras.metrics.deserialize.__module__]
  for name, value in vars(keras_metrics).items():
    if isinstance(value, type) and issubclass(
        value, tf_keras.metrics.Metric) and not name.startswith('_'):
      found.setdefault(name, 'Keras')
  for name in tf_keras.utils.get_custom_objects():  # registered by a library
    found.setdefault(name, 'Keras (registered)')
  return found


def _is_keras_function(name: str) -> bool:
  import inspect

  import tf_keras
  keras_metrics = sys.modules[tf_keras.metrics.deserialize.__module__]
  return inspect.isfunction(getattr(keras_metrics, name, None))


def _metric_configs(config) -> Iterator[tuple[str, Any]]:
  for i, spec in enumerate(config.metrics_specs):
    for j, metric in enumerate(spec.metrics):
      yield f'metrics_specs[{i}].metrics[{j}]', metric


def check_metrics(config, runner: Optional[str] = None) -> bool:
  """Checks each MetricConfig as TFMA will resolve it; True when some
  custom metric could not be checked without running the user's code."""
  known = None
  unchecked = False
  for where, metric in _metric_configs(config):
    name = metric.class_name
    if not name:
      raise PipelineDefinitionError(
          _STEP, f'{where} has no class_name',
          fix="name the metric, e.g. MetricConfig(class_name='AUC')")
    if metric.module:
      unchecked |= not _check_custom_metric(where, metric, runner)
      continue
    if known is None:
      known = known_metrics()
    if name not in known:
      classes = [n for n, origin in known.items() if origin != 'Keras '
                 '(registered)' and n not in ('Metric', 'PyMetric')]
      what = (f'{name!r} is a Keras metric function, and TFMA takes '
              'metric classes' if _is_keras_function(name) else
              f'no TFMA or Keras metric is called {name!r}')
      raise PipelineDefinitionError(
          _STEP, f'{where}: {what}',
          fix=f'{_did_you_mean(name, classes)}class_name is a class of '
          'tfma.metrics or tf.keras.metrics; a metric of your own also '
          "needs module='your.module'")
    _check_metric_config(where, metric)
  return unchecked


def _check_metric_config(where: str, metric) -> None:
  """Builds the metric as TFMA will, so that a bad `config` (JSON, or an
  argument the class does not take) is named now. Library code only."""
  from tensorflow_model_analysis.metrics import metric_specs
  try:
    metric_specs.metric_instance(metric)
  except (TypeError, ValueError, KeyError) as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    takes = _arguments(metric.class_name)
    wrong = re.search(r"unexpected keyword argument '(\w+)'", reason)
    hint = _did_you_mean(wrong.group(1), takes) if wrong and takes else ''
    raise PipelineDefinitionError(
        _STEP, f'{where}: TFMA cannot make {metric.class_name} from config '
        f'{metric.config or "{}"!r}: {reason}',
        fix=f'{hint}config is the JSON of {metric.class_name}\'s arguments'
        + (f' ({", ".join(takes)})' if takes else '')) from None


def _arguments(class_name: str) -> list[str]:
  """The keyword arguments a TFMA or Keras metric class takes."""
  import inspect

  import tf_keras
  from tensorflow_model_analysis.metrics import metric_types
  cls = metric_types.registered_metrics().get(class_name) or getattr(
      sys.modules[tf_keras.metrics.deserialize.__module__], class_name, None)
  try:
    parameters = inspect.signature(cls).parameters.values()
  except (TypeError, ValueError):
    return []
  return [p.name for p in parameters if p.kind in (
      p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _check_custom_metric(where: str, metric, runner: Optional[str]) -> bool:
  """A metric with a module: the module is found and defines the class,
  read without importing it (that would run the user's code at build).
  False when that cannot be told (a module already imported is asked)."""
  module, name = metric.module, metric.class_name
  loaded = sys.modules.get(module)
  if loaded is not None:
    if not hasattr(loaded, name):
      raise _no_class(where, module, name, [
          n for n, v in vars(loaded).items() if isinstance(v, type)])
    return True
  path = _module_source(module)
  if path is None:
    if runner in _REMOTE_RUNNERS or _top_level_found(module):
      return False  # in the image only, or a module with no .py source
    raise PipelineDefinitionError(
        _STEP, f'{where}: module {module!r} of metric {name!r} cannot be '
        'imported here (it is not on sys.path)',
        fix='install the package that holds it, or fix the module name')
  try:
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read(), path)
  except (OSError, SyntaxError, UnicodeDecodeError):
    return False  # the import at run time says it better
  defined, opaque = _top_level_names(tree)
  if name in defined:
    return True
  if opaque:  # a star import or a module __getattr__: cannot be told
    return False
  raise _no_class(where, module, name, defined, path)


def _no_class(where, module, name, defined, path=None):
  classes = sorted(n for n in defined if n[:1].isupper())
  return PipelineDefinitionError(
      _STEP, f'{where}: module {module!r}'
      + (f' ({path})' if path else '') + f' defines no {name!r} (its '
      f'classes: {", ".join(classes) or "none"})',
      fix=f'{_did_you_mean(name, classes)}class_name names a class that '
      'module defines')


def _top_level_found(module: str) -> bool:
  try:
    return importlib.util.find_spec(module.split('.')[0]) is not None
  except (ImportError, ValueError):
    return False


def _module_source(module: str) -> Optional[str]:
  """The .py file of a dotted module name, found without importing its
  packages (find_spec would run their __init__)."""
  parts = module.split('.')
  try:
    spec = importlib.util.find_spec(parts[0])
  except (ImportError, ValueError):
    return None
  if spec is None:
    return None
  if len(parts) == 1:
    origin = spec.origin
    return origin if origin and origin.endswith('.py') else None
  dirs = list(spec.submodule_search_locations or [])
  for i, part in enumerate(parts[1:], start=1):
    last = i == len(parts) - 1
    found = None
    for d in dirs:
      package = os.path.join(d, part)
      if os.path.isfile(os.path.join(package, '__init__.py')) or (
          not last and os.path.isdir(package)):
        found = package
        break
      if last and os.path.isfile(package + '.py'):
        return package + '.py'
    if found is None:
      return None
    if last:
      return os.path.join(found, '__init__.py')
    dirs = [found]
  return None


def _top_level_names(tree: ast.Module) -> tuple[set[str], bool]:
  """Names a module binds at top level, and whether it may bind others."""
  names: set[str] = set()
  opaque = False
  for node in tree.body:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef,
                         ast.AsyncFunctionDef)):
      names.add(node.name)
      opaque |= node.name == '__getattr__'
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      for alias in node.names:
        if alias.name == '*':
          opaque = True
        names.add(alias.asname or alias.name.split('.')[0])
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
      targets = node.targets if isinstance(node, ast.Assign) else [
          node.target]
      for target in targets:
        for sub in ast.walk(target):
          if isinstance(sub, ast.Name):
            names.add(sub.id)
    else:  # if/try blocks and the like may bind names: look inside
      for sub in ast.walk(node):
        if isinstance(sub, (ast.ClassDef, ast.FunctionDef)):
          names.add(sub.name)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
          names.add(sub.id)
        elif isinstance(sub, ast.alias):
          names.add(sub.asname or sub.name.split('.')[0])
  return names, opaque


# --- thresholds -------------------------------------------------------------

def computed_metric_names(config) -> Optional[set[str]]:
  """The names of the metrics TFMA computes for `config` (its own
  computations, derived metrics included), or None when it cannot tell."""
  from tensorflow_model_analysis.metrics import metric_specs
  try:
    computations = metric_specs.to_computations(config.metrics_specs, config)
  except Exception:  # the run names it; these names are a bonus
    return None
  return {key.name for c in computations for key in c.keys}


def check_threshold_names(config) -> None:
  """A threshold keyed by a metric no MetricConfig computes is never met
  ("Metric not found"), so the model is never blessed."""
  keyed = [(f'metrics_specs[{i}].{field}', name)
           for i, spec in enumerate(config.metrics_specs)
           for field in ('thresholds', 'per_slice_thresholds',
                         'cross_slice_thresholds')
           for name in getattr(spec, field)]
  if not keyed:
    return
  names = computed_metric_names(config)
  if names is None:
    return
  public = sorted(n for n in names if not n.startswith('_'))
  for where, name in keyed:
    if name not in names:
      raise PipelineDefinitionError(
          _STEP, f'{where} has a threshold on {name!r}, which no metric of '
          f'the eval_config computes (computed: {", ".join(public)}), so '
          'TFMA would never bless the model',
          fix=f'{_did_you_mean(name, public)}key thresholds by a computed '
          "metric's name, or add MetricConfig(class_name=...) for it")


# --- columns: slicing keys and the label ------------------------------------

def _slicing_specs(config) -> Iterator[tuple[str, Any]]:
  for i, spec in enumerate(config.slicing_specs):
    yield f'slicing_specs[{i}]', spec
  for i, cross in enumerate(config.cross_slicing_specs):
    yield f'cross_slicing_specs[{i}].baseline_spec', cross.baseline_spec
    for j, spec in enumerate(cross.slicing_specs):
      yield f'cross_slicing_specs[{i}].slicing_specs[{j}]', spec

  def thresholds(where, per_slice, cross_slice):
    for k, t in enumerate(per_slice):
      for m, spec in enumerate(t.slicing_specs):
        yield f'{where}.per_slice_thresholds[{k}].slicing_specs[{m}]', spec
    for k, t in enumerate(cross_slice):
      for m, cross in enumerate(t.cross_slicing_specs):
        at = f'{where}.cross_slice_thresholds[{k}].cross_slicing_specs[{m}]'
        yield at + '.baseline_spec', cross.baseline_spec
        for n, spec in enumerate(cross.slicing_specs):
          yield f'{at}.slicing_specs[{n}]', spec

  for i, spec in enumerate(config.metrics_specs):
    for name, t in spec.per_slice_thresholds.items():
      for k, one in enumerate(t.thresholds):
        for m, s in enumerate(one.slicing_specs):
          yield (f'metrics_specs[{i}].per_slice_thresholds[{name!r}]'
                 f'.thresholds[{k}].slicing_specs[{m}]', s)
    for name, t in spec.cross_slice_thresholds.items():
      for k, one in enumerate(t.thresholds):
        for m, cross in enumerate(one.cross_slicing_specs):
          at = (f'metrics_specs[{i}].cross_slice_thresholds[{name!r}]'
                f'.thresholds[{k}].cross_slicing_specs[{m}]')
          yield at + '.baseline_spec', cross.baseline_spec
          for n, s in enumerate(cross.slicing_specs):
            yield f'{at}.slicing_specs[{n}]', s
  for where, metric in _metric_configs(config):
    yield from thresholds(where, metric.per_slice_thresholds,
                          metric.cross_slice_thresholds)


def check_columns(config, columns: list[str], columns_from: str) -> None:
  """Slicing feature keys and the label key name columns of the data.
  Skipped when a model spec lists preprocessing functions: TFMA then also
  sees transformed features, which the data's columns do not show."""
  if any(spec.preprocessing_function_names for spec in config.model_specs):
    return
  listed = ', '.join(columns)
  for where, spec in _slicing_specs(config):
    for key in list(spec.feature_keys) + list(spec.feature_values):
      if key not in columns:
        raise PipelineDefinitionError(
            _STEP, f'{where} slices on {key!r}, which is not a column of '
            f'{columns_from} (columns: {listed})',
            fix=f'{_did_you_mean(key, columns)}slice on one of the columns')
  for i, spec in enumerate(config.model_specs):
    keys = [('label_key', spec.label_key),
            ('example_weight_key', spec.example_weight_key)]
    keys += [(f'label_keys[{k!r}]', v) for k, v in spec.label_keys.items()]
    keys += [(f'example_weight_keys[{k!r}]', v)
             for k, v in spec.example_weight_keys.items()]
    for field, key in keys:
      if key and key not in columns:
        raise PipelineDefinitionError(
            _STEP, f'model_specs[{i}].{field} {key!r} is not a column of '
            f'{columns_from} (columns: {listed})',
            fix=f'{_did_you_mean(key, columns)}set model_specs[{i}].{field} '
            'to one of the columns, or list preprocessing_function_names if '
            'it is a transformed feature')
