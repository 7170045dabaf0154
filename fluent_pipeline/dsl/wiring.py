"""Turns a Plan into TFX components with every channel wired by default.

Wiring defaults (the README has them as a table):
- schema: the imported schema when given, else the inferred one;
- examples: the output of the last dataset step (filter_examples(),
  stratified_sample(), in the order written) for every step, else
  ExampleGen's; `examples='raw'` asks for ExampleGen's;
- Tuner/Trainer examples: Transform's output when preprocess() is in the
  chain, else the (reshaped) examples (`examples=` overrides per step);
- hyperparameters: imported ones when given, else the Tuner's best;
- Evaluator: untransformed examples, baseline = the latest blessed model
  other than the run's own when built for LocalDagRunner / BeamDagRunner
  (components/baseline.py), else TFX's latest blessed model, which Kubeflow
  V2 / Vertex and Airflow take (CANDIDATE_AWARE_RUNNERS);
- Pusher: gated by every blessing present (Evaluator, InfraValidator); a
  model a version in the destination already holds is not pushed again,
  unless the run is a rollback (components/pusher.py);
- BulkInferrer: its own ExampleGen, the trained model, the Evaluator blessing.

Every missing input is found before any TFX component is created and reported
as a MissingStepError naming the call that fixes it. Added components
(add_component) get the chain's channels by name (channels.py).
"""

import os
from typing import Any, Optional

from fluent_pipeline import _paths
from fluent_pipeline.dsl import channels, tfx_v1
from fluent_pipeline.dsl.plan import Plan, is_reshape, resources_by_node
from fluent_pipeline.errors import MissingStepError, PipelineDefinitionError
from fluent_pipeline.usercode import user_code

# What each step needs, and the call that provides it.
_NEEDS = {
    'statistics': ('source',),
    'schema': ('statistics',),
    'validate': ('statistics', 'schema'),
    'transform': ('source', 'schema'),
    'tuner': ('source',),
    'base_model': ('trainer',),
    'trainer': ('source',),
    'evaluator': ('source', 'trainer'),
    'infra_validator': ('trainer',),
    'pusher': ('trainer',),
    'bulk_inferrer': ('trainer',),
}
_PROVIDERS = {
    'source': ".from_csv(path) (or another from_* source)",
    'statistics': '.generate_statistics()',
    'schema': '.infer_schema() or .with_imported_schema(path)',
    'trainer': '.train(run_fn, ...)',
}

# Nodes made for a step besides its main component.
_PART_OF = {'anomalies_gate': 'validate', 'model_resolver': 'evaluator',
            'bulk_infer_example_gen': 'bulk_inferrer'}

# Ids of the nodes the DSL adds besides the TFX defaults.
BULK_INFER_EXAMPLE_GEN_ID = 'bulk_infer_example_gen'
MODEL_RESOLVER_ID = 'latest_blessed_model_resolver'
BASE_MODEL_RESOLVER_ID = 'latest_model_resolver'
# The runners whose baseline is components.baseline's strategy (the latest
# blessed model other than the run's candidate): those that run the IR here
# (run(), `compile --runner local|beam`). Every other runner, and build()
# for no runner in particular, gets TFX's LatestBlessedModelStrategy:
# Kubeflow V2 / Vertex compile only TFX's two strategies, and the launchers
# of AirflowDagRunner give a resolver every model the Trainer ever made, not
# this run's candidate.
CANDIDATE_AWARE_RUNNERS = ('LocalDagRunner', 'BeamDagRunner')
BASE_MODEL_IMPORTER_ID = 'base_model_importer'
HYPERPARAMETERS_IMPORTER_ID = 'hyperparameters_importer'


def check(plan: Plan) -> None:
  """Raises MissingStepError for the first step whose inputs are missing."""
  have = set(plan.steps)
  if plan.source is not None:
    have.add('source')
  if 'imported_schema' in have:
    have.add('schema')
  for kind, step in plan.ordered():
    if 'factory' in step.opts:
      continue  # an added component: its channels are checked as it is made
    needs = ('source',) if is_reshape(kind) else _NEEDS.get(kind, ())
    for need in needs:
      if need not in have:
        call = plan.steps[kind].call
        raise MissingStepError(
            f'{call}()', f'needs {_describe(need)}, which the chain lacks',
            fix=f'add {_PROVIDERS[need]} to the chain')
    examples = plan.steps[kind].opts.get('examples')
    if examples == 'transformed' and 'transform' not in have:
      call = plan.steps[kind].call
      raise MissingStepError(
          f'{call}()', "examples='transformed' needs preprocess()",
          fix="add .preprocess(preprocessing_fn) or pass examples='raw'")
  if not have - {'source'} and not plan.extra_components:
    if plan.source is None:
      raise MissingStepError(
          'build()', 'the pipeline is empty',
          fix='start the chain with .from_csv(path) and add steps')


def _describe(need: str) -> str:
  return {'source': 'examples', 'statistics': 'statistics',
          'schema': 'a schema', 'trainer': 'a trained model'}[need]


def build(plan: Plan, runner: Optional[str] = None, *,
          rollback: bool = False):
  """Creates the TFX pipeline (tfx.v1.dsl.Pipeline) of `plan`; `runner`
  names the runner it is built for (the configuration artifact records it;
  the baseline's resolver depends on it: CANDIDATE_AWARE_RUNNERS). `rollback`:
  the Pusher pushes its model again as the newest version when an older
  version holds it (components.pusher)."""
  return build_indexed(plan, runner, rollback=rollback)[0]


def build_indexed(plan: Plan, runner: Optional[str] = None, *,
                  rollback: bool = False
                  ) -> tuple[Any, dict[str, list[str]]]:
  """The TFX pipeline and, for each chain call, the ids of its nodes."""
  check(plan)
  if rollback and 'pusher' not in plan.steps:
    raise PipelineDefinitionError(
        'run(rollback=True)', 'a rollback serves a pushed model again, and '
        'the chain has no push_to()', fix='drop rollback, or add .push_to()')
  tfx = tfx_v1.load()
  made = _Components(plan, runner, rollback)
  components = made.create()
  nodes_by_call = made.nodes_by_call()
  ids: dict[str, Any] = {}
  for component in components:
    if component.id in ids:
      raise PipelineDefinitionError(
          'build()', f'two components have the id {component.id!r}',
          fix='give added components unique ids with .with_id(...)')
    ids[component.id] = component
  resources_by_node(plan, nodes_by_call, ids)  # an unknown step fails here
  _reuse_user_code_wheels(components)
  return tfx.dsl.Pipeline(
      pipeline_name=plan.name,
      pipeline_root=plan.pipeline_root,
      components=components,
      enable_cache=plan.enable_cache,
      metadata_connection_config=metadata_config(plan),
      beam_pipeline_args=list(plan.beam_pipeline_args)), nodes_by_call


def _reuse_user_code_wheels(components) -> None:
  """Skips re-packaging unchanged module files on every run.

  At run time TFX packages each component's module file (with every .py file
  beside it) into a wheel under <pipeline root>/_wheels, named by a hash of
  those files, one `setup.py bdist_wheel` subprocess per component and run.
  When the wheel of that exact hash is already there, it is used as is.
  """
  from fluent_pipeline.usercode import wheels
  for component in components:
    wheels.reuse_existing(component)


def sources(plan: Plan) -> dict[str, Any]:
  """The inputs.Source behind each ExampleGen id of the plan."""
  found = {}
  if plan.source is not None:
    found[plan.source.default_id] = plan.source
  if 'bulk_inferrer' in plan.steps:
    found[BULK_INFER_EXAMPLE_GEN_ID] = plan.steps['bulk_inferrer'].opts[
        'source']
  return found


def metadata_config(plan: Plan):
  """The MLMD connection: the configured one, else sqlite under the root."""
  if plan.metadata_config is not None:
    return plan.metadata_config
  return sqlite_config(plan.metadata_path or _paths.join(
      plan.pipeline_root, 'metadata.sqlite'))


def sqlite_config(path: str):
  """TFX's sqlite_metadata_connection_config, without creating the folder
  (building or compiling a pipeline writes nothing; running it does)."""
  from ml_metadata.proto import metadata_store_pb2
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  return config


class _Components:
  """Creates the components of one plan, in order, remembering outputs."""

  def __init__(self, plan: Plan, runner: Optional[str] = None,
               rollback: bool = False):
    self.plan = plan
    self.runner = runner
    self.rollback = rollback
    self.steps = plan.steps
    self.made: dict[str, Any] = {}
    self.order: list[Any] = []
    self.user_code: dict[str, user_code.UserCode] = {}
    self._making: Optional[str] = None  # the step kind being made

  def nodes_by_call(self) -> dict[str, list[str]]:
    """Chain call name -> ids of the nodes it made."""
    found: dict[str, list[str]] = {}
    # The step's own component first, then the nodes made for it.
    ordered = sorted(self.made.items(), key=lambda kv: kv[0] in _PART_OF)
    for kind, component in ordered:
      if kind == 'configuration':
        continue
      if kind == 'example_gen':
        call = 'from_' + (self.plan.source.kind
                          if self.plan.source.kind != 'component'
                          else 'example_gen')
      else:
        call = self.steps[_PART_OF.get(kind, kind)].call
      found.setdefault(call, []).append(component.id)
    return found

  def _add(self, kind: str, component) -> Any:
    self.made[kind] = component
    self.order.append(component)
    return component

  def _tfx(self, kind: str) -> dict[str, Any]:
    return dict(self.steps[kind].tfx)

  def _opts(self, kind: str) -> dict[str, Any]:
    return dict(self.steps[kind].opts)

  def _output(self, kind: str, key: str):
    component = self.made.get(kind)
    if component is None:
      return None
    if key not in component.outputs:
      raise self._unfit(kind, component, key)
    return component.outputs[key]

  def _unfit(self, kind: str, component, key: str) -> PipelineDefinitionError:
    """A component that replaced a standard step lacks an output key that
    TFX's component has and the chain wires."""
    step = self.steps.get(kind)
    made_by = (f"add_component({component.id}, replaces="
               f"{step.opts['replaces']!r})" if step is not None and
               'factory' in step.opts else f'{component.id}')
    needed_by = (self.steps[self._making].call + '()'
                 if self._making in self.steps else 'the chain')
    return PipelineDefinitionError(
        made_by, f'{component.id} has no output {key!r} (its outputs: '
        f'{", ".join(sorted(component.outputs)) or "none"}), which '
        f'{needed_by} reads: the chain wires to TFX\'s standard output keys',
        fix=f'name that output {key!r} in the component\'s spec')

  def _code(self, kind: str, fn_name: str) -> dict[str, str]:
    step = self.steps[kind]
    code = user_code.resolve(step.opts['code'], fn_name=fn_name,
                              step=f'{step.call}()',
                              pipeline_root=self.plan.pipeline_root)
    self.user_code[kind] = code
    return code.component_kwargs()

  @property
  def schema(self):
    return (self._output('imported_schema', 'schema')
            or self._output('schema', 'schema'))

  @property
  def examples(self):
    """The examples as the dataset steps left them (ExampleGen's when the
    chain has none)."""
    for kind in reversed(self.plan.reshape_kinds()):
      if kind in self.made:
        return self.made[kind].outputs['reshaped_examples']
    return self._output('example_gen', 'examples')

  def _examples_for(self, kind: str):
    choice = self.steps[kind].opts.get('examples')
    if choice is None and kind in ('tuner', 'trainer'):
      choice = 'transformed' if 'transform' in self.made else None
    if choice == 'transformed':
      return self._output('transform', 'transformed_examples')
    if choice == 'raw':
      return self._output('example_gen', 'examples')
    return self.examples

  def channels(self) -> dict[str, Any]:
    """The chain's channels so far, by name (channels.NAMES)."""
    found = {'examples': self.examples, 'schema': self.schema,
             'hyperparameters': (
                 self._output('imported_hyperparameters', 'result')
                 or self._output('tuner', 'best_hyperparameters'))}
    for name, (kind, key) in channels.OUTPUTS.items():
      component = self.made.get(kind)
      if component is not None and key in component.outputs:
        found[name] = component.outputs[key]
    return {k: v for k, v in found.items() if v is not None}

  def _from_factory(self, kind: str) -> None:
    """A step replaced by an added component."""
    opts = self._opts(kind)
    where = f"add_component(replaces={opts['replaces']!r})"
    self._add(kind, channels.make(
        opts['factory'], self.channels(),
        lambda: {c.id: c for c in self.order}, where))

  def create(self) -> list[Any]:
    if self.plan.source is not None:
      self.plan.source.check('from_' + self.plan.source.kind
                             if self.plan.source.kind != 'component'
                             else 'from_example_gen')
      self._add('example_gen', self.plan.source.make_component())
    for kind, step in self.plan.ordered():
      self._making = kind
      if 'factory' in step.opts:
        self._from_factory(kind)
      elif is_reshape(kind):
        self._make_reshape(kind)
      else:
        getattr(self, '_make_' + kind)()
    self._making = None
    gate = self.made.get('anomalies_gate')
    if gate is not None:  # nothing learns from data the gate rejects
      for kind in ('transform', 'tuner', 'trainer'):
        if kind in self.made:
          self.made[kind].add_upstream_node(gate)
    if self.plan.record_configuration:
      self._make_configuration()
    for extra in self.plan.extra_components:
      self.order.append(channels.make(
          extra, self.channels(), lambda: {c.id: c for c in self.order},
          f'add_component({channels.label(extra)})'))
    return self.order

  def _make_configuration(self):
    """First node of the pipeline; made after the steps, whose user code it
    records, and before added components, which may read it."""
    from fluent_pipeline.components.configuration import (
        PipelineConfigurationGen,
    )
    from fluent_pipeline.dsl import configuration
    text = configuration.dumps(configuration.build(
        self.plan, self.user_code, runner=self.runner))
    component = PipelineConfigurationGen(
        configuration_json=text)
    self.made['configuration'] = component
    self.order.insert(0, component)

  def _make_reshape(self, kind: str):
    from fluent_pipeline.components import filter_examples, stratified_sample
    step = self.steps[kind]
    opts = self._opts(kind)
    kwargs = dict(splits=opts.get('splits'))
    if 'code' in opts:
      kwargs.update(self._code(kind, opts['fn_name']))
      kwargs.setdefault(opts['fn_name'], opts['fn_name'])  # in module_file
      kwargs['code_sha256'] = self.user_code[kind].record()['sha256']
    if step.call == 'filter_examples':
      component = filter_examples.FilterExamples(
          examples=self.examples, **kwargs)
    else:
      if opts.get('key_feature'):  # the call may have come before the source
        from fluent_pipeline.dsl import csv_data
        csv_data.check_feature(self.plan, step.call, 'key',
                               opts['key_feature'])
      component = stratified_sample.StratifiedSample(
          examples=self.examples, key_feature=opts.get('key_feature'),
          samples_per_key=opts.get('samples_per_key'),
          fraction=opts.get('fraction'), seed=opts['seed'], **kwargs)
    number = int(kind[len('reshape_'):])
    same_call = [k for k in self.plan.reshape_kinds()[:number]
                 if self.steps[k].call == step.call]
    if len(same_call) > 1:  # ids stay unique, and stable as steps are added
      component = component.with_id(f'{component.id}_{len(same_call)}')
    self._add(kind, component)

  # One method per step kind, in STEP_ORDER.
  def _make_statistics(self):
    tfx = tfx_v1.load()
    self._add('statistics', tfx.components.StatisticsGen(
        examples=self._examples_for('statistics'),
        **self._tfx('statistics')))

  def _make_schema(self):
    tfx = tfx_v1.load()
    self._add('schema', tfx.components.SchemaGen(
        statistics=self._output('statistics', 'statistics'),
        **self._tfx('schema')))

  def _make_imported_schema(self):
    tfx = tfx_v1.load()
    path = self.steps['imported_schema'].tfx['schema_file']
    if not _paths.is_uri(path) and not os.path.isfile(path):
      raise PipelineDefinitionError(
          'with_imported_schema()', f'schema file {path!r} does not exist',
          fix='pass the path of a schema.pbtxt (e.g. one written by SchemaGen)')
    self._add('imported_schema', tfx.components.ImportSchemaGen(
        **self._tfx('imported_schema')))

  def _make_validate(self):
    tfx = tfx_v1.load()
    validator = self._add('validate', tfx.components.ExampleValidator(
        statistics=self._output('statistics', 'statistics'),
        schema=self.schema, **self._tfx('validate')))
    if self._opts('validate').get('fail_on_anomalies'):
      from fluent_pipeline.components import anomalies_gate
      self._add('anomalies_gate', anomalies_gate.AnomaliesGate(
          anomalies=validator.outputs['anomalies'],
      ).with_id(anomalies_gate.GATE_ID))

  def _make_transform(self):
    tfx = tfx_v1.load()
    self._add('transform', tfx.components.Transform(
        examples=self._examples_for('transform'),
        schema=self.schema,
        **self._code('transform', 'preprocessing_fn'),
        **self._tfx('transform')))

  def _make_tuner(self):
    tfx = tfx_v1.load()
    self._add('tuner', tfx.components.Tuner(
        examples=self._examples_for('tuner'),
        schema=self.schema,
        transform_graph=self._output('transform', 'transform_graph'),
        **self._code('tuner', 'tuner_fn'),
        **self._tfx('tuner')))

  def _make_imported_hyperparameters(self):
    tfx = tfx_v1.load()
    path = self.steps['imported_hyperparameters'].opts['path']
    if not _paths.local_exists(path):
      raise PipelineDefinitionError(
          'with_hyperparameters()', f'{path!r} does not exist',
          fix="pass a Tuner's best_hyperparameters directory or file")
    self._add('imported_hyperparameters', tfx.dsl.Importer(
        source_uri=path,
        artifact_type=tfx.types.standard_artifacts.HyperParameters,
    ).with_id(HYPERPARAMETERS_IMPORTER_ID))

  def _make_base_model(self):
    tfx = tfx_v1.load()
    opts = self._opts('base_model')
    if opts.get('latest'):
      node = tfx.dsl.Resolver(
          strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
          model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      ).with_id(BASE_MODEL_RESOLVER_ID)
    else:
      if not _paths.local_exists(opts['path']):
        raise PipelineDefinitionError(
            'with_base_model()', f'model path {opts["path"]!r} does not exist',
            fix='pass a SavedModel directory, or with_base_model(latest)')
      node = tfx.dsl.Importer(
          source_uri=opts['path'],
          artifact_type=tfx.types.standard_artifacts.Model,
          output_key='model').with_id(BASE_MODEL_IMPORTER_ID)
    self._add('base_model', node)

  def _make_trainer(self):
    tfx = tfx_v1.load()
    self._add('trainer', tfx.components.Trainer(
        examples=self._examples_for('trainer'),
        transform_graph=self._output('transform', 'transform_graph'),
        schema=self.schema,
        hyperparameters=(
            self._output('imported_hyperparameters', 'result')
            or self._output('tuner', 'best_hyperparameters')),
        base_model=self._output('base_model', 'model'),
        **self._code('trainer', 'run_fn'),
        **self._tfx('trainer')))

  def _make_evaluator(self):
    tfx = tfx_v1.load()
    baseline = None
    if self._opts('evaluator').get('compare_to_baseline', True):
      baseline = self._add('model_resolver', self._baseline_resolver(
          tfx)).outputs['model']
    self._check_eval_config()
    self._add('evaluator', tfx.components.Evaluator(
        examples=self._examples_for('evaluator'),
        model=self._output('trainer', 'model'),
        baseline_model=baseline,
        **self._tfx('evaluator')))

  def _baseline_resolver(self, tfx):
    """The latest blessed model other than this run's candidate, so an
    unchanged re-run resolves the baseline it resolved before and TFX's
    cache serves the Evaluator (CANDIDATE_AWARE_RUNNERS); elsewhere TFX's
    latest blessed model, which every TFX runner and compiler takes."""
    artifacts = tfx.types.standard_artifacts
    channels_ = dict(
        model=tfx.dsl.Channel(type=artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=artifacts.ModelBlessing))
    strategy = tfx.dsl.experimental.LatestBlessedModelStrategy
    candidate = self._output('trainer', 'model')
    if self.runner in CANDIDATE_AWARE_RUNNERS and candidate is not None:
      from fluent_pipeline.components import baseline
      strategy = baseline.LatestBlessedOtherModelStrategy
      channels_[baseline.CANDIDATE_KEY] = candidate
    return tfx.dsl.Resolver(strategy_class=strategy, **channels_).with_id(
        MODEL_RESOLVER_ID)

  def _check_eval_config(self) -> None:
    """Metric and threshold names, and, for a CSV source with a header, the
    slicing and label keys (eval_checks)."""
    from fluent_pipeline.dsl import csv_data, eval_checks
    source = self.plan.source
    columns = None
    if source is not None and source.kind == 'csv':
      columns = csv_data.csv_header(source)
    eval_checks.check(self.steps['evaluator'].tfx['eval_config'],
                      columns=columns,
                      columns_from=source.location if columns else '',
                      runner=self.runner)

  def _make_infra_validator(self):
    local = self._opts('infra_validator').get('local')
    if local is not None:
      from fluent_pipeline.components import local_infra_validator
      self._add('infra_validator', local_infra_validator.LocalInfraValidator(
          model=self._output('trainer', 'model'),
          examples=self.examples, **local))
      return
    tfx = tfx_v1.load()
    kwargs = self._tfx('infra_validator')
    examples = None
    if 'request_spec' in kwargs:
      examples = self.examples
    self._add('infra_validator', tfx.components.InfraValidator(
        model=self._output('trainer', 'model'), examples=examples, **kwargs))

  def _check_blessing_possible(self, step: str) -> None:
    """TFMA blesses only models that pass a threshold; with none, never."""
    if 'evaluator' not in self.steps:
      return
    config = self.steps['evaluator'].tfx['eval_config']
    if not any(m.HasField('threshold') or m.per_slice_thresholds or
               m.cross_slice_thresholds
               for spec in config.metrics_specs for m in spec.metrics) and \
        not any(spec.thresholds or spec.per_slice_thresholds or
                spec.cross_slice_thresholds for spec in config.metrics_specs):
      raise PipelineDefinitionError(
          f'{step}()', 'evaluate_model\'s eval_config has no thresholds, so '
          'TFMA never blesses a model and nothing would ever be '
          + ('pushed' if step == 'push_to' else 'inferred'),
          fix="give a metric a threshold, e.g. MetricConfig(class_name="
          "'BinaryAccuracy', threshold=MetricThreshold(value_threshold="
          "GenericValueThreshold(lower_bound={'value': 0.6})))")

  def _make_pusher(self):
    self._check_blessing_possible('push_to')
    tfx = tfx_v1.load()
    kwargs = self._tfx('pusher')
    directory = self._opts('pusher').get('directory')
    if directory is not None:
      kwargs['push_destination'] = tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=self._push_directory(directory)))
    from fluent_pipeline.components import pusher
    self._add('pusher', pusher.Pusher(
        model=self._output('trainer', 'model'),
        model_blessing=self._output('evaluator', 'blessing'),
        infra_blessing=self._output('infra_validator', 'blessing'),
        rollback=self.rollback, **kwargs))

  def _push_directory(self, directory: str) -> str:
    if _paths.is_uri(directory):
      return directory
    root = self.plan.pipeline_root
    if _paths.is_uri(root):  # a remote root: no local path rules apply
      if os.path.isabs(directory):
        return directory
      return root.rstrip('/') + '/' + directory
    if os.path.isabs(directory):
      path = os.path.normpath(directory)
    else:
      path = os.path.normpath(os.path.join(root, directory))
      if os.path.commonpath([path, root]) != root:
        raise PipelineDefinitionError(
            'push_to()', f'{directory!r} leaves the pipeline root {root!r}; '
            'relative push directories are relative to it',
            fix='pass a name under the root (push_to(\'serving\')) or an '
            'absolute path')
    if os.path.exists(path) and not os.path.isdir(path):
      raise PipelineDefinitionError(
          'push_to()', f'{path!r} exists and is not a directory; models are '
          'pushed into a directory of numbered versions',
          fix='pass a directory path (it is created if missing)')
    return path

  def _make_bulk_inferrer(self):
    self._check_blessing_possible('bulk_infer')
    tfx = tfx_v1.load()
    source = self._opts('bulk_inferrer')['source']
    source.check('bulk_infer')
    if source.component is None and source.output_config is None:
      source = source.with_configs(output_config=_single_split('unlabelled'))
    example_gen = self._add('bulk_infer_example_gen', source.make_component(
        BULK_INFER_EXAMPLE_GEN_ID))
    inferrer = self._add('bulk_inferrer', tfx.components.BulkInferrer(
        examples=example_gen.outputs['examples'],
        model=self._output('trainer', 'model'),
        model_blessing=self._output('evaluator', 'blessing'),
        **self._tfx('bulk_inferrer')))
    if 'infra_validator' in self.made:
      # TFX's BulkInferrer has no infra_blessing input, so it cannot be
      # gated by the serving check; it runs after it (its model_blessing
      # still gates it).
      inferrer.add_upstream_node(self.made['infra_validator'])


def _single_split(name: str):
  tfx = tfx_v1.load()
  return tfx.proto.Output(split_config=tfx.proto.SplitConfig(
      splits=[tfx.proto.SplitConfig.Split(name=name, hash_buckets=1)]))
