"""The chain calls: each records one step of the plan, checked at the call.

Each call returns a new chain and leaves its receiver unchanged; calling the
same step again replaces it. Arguments are checked when the call is made
(proto types) and wiring when build() is called, which turns the plan into a
vanilla `tfx.orchestration.pipeline.Pipeline` for any TFX DagRunner.

`Chain` holds every call that records; `fluent_pipeline.PipelineDef` adds
the endings that run, export and replay a chain, which live in the layers
above this one.
"""

import functools
import inspect
import os
import re
import types
from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

from google.protobuf import message

from fluent_pipeline import _paths
from fluent_pipeline.dsl import csv_data, inputs, protos
from fluent_pipeline.dsl.inputs import ProtoArg, ProtoLike, StrPath
from fluent_pipeline.dsl.plan import (
  Plan,
  Step,
  _Latest,
  factory_arguments,
  latest,
)
from fluent_pipeline.errors import PipelineDefinitionError

if TYPE_CHECKING:  # never imported at run time: TFX loads only when needed
  from tensorflow_data_validation import StatsOptions
  from tfx.v1.dsl import Pipeline
  from tfx.v1.dsl.experimental import RuntimeParameter
  from tfx.v1.types import BaseNode

# The types of the chain calls' arguments, beside dsl/inputs.py's.
# User code: a module file ('taxi_utils.py'), a dotted path
# ('pkg.module.run_fn') or the function itself:
UserFunction = Union[str, os.PathLike[str], Callable[..., Any]]
# The feature dict a dataset step's function gets: feature name -> its list
# of values (ints, floats, or str for string features: bytes only where a
# value is not UTF-8):
Features = dict[str, list[Any]]
# A TFX component, a component class (a TFX `@component` function too), or
# a function of the channels it takes returning the component:
ComponentLike = Union['BaseNode', Callable[..., 'BaseNode']]
# TrainArgs / EvalArgs: a number of steps (a positive int) or the proto:
StepsLike = Union[int, ProtoLike]

_NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,62}')
_REPR_WIDTH = 79  # a longer repr puts one call per line
_EXAMPLE_CHOICES = ('transformed', 'reshaped', 'raw')
_RAW_CHOICES = ('reshaped', 'raw')  # for steps before Transform


def _trainer_pb2():
  from tfx.proto import trainer_pb2
  return trainer_pb2


_F = TypeVar('_F', bound=Callable[..., Any])


def _recorded(method: _F) -> _F:
  """Records a step call's arguments (defaults applied) on the step it made,
  for the configuration artifact and for PipelineDef.from_run."""
  params = list(inspect.signature(method).parameters.values())[1:]
  names = [p.name for p in params]
  defaults = {p.name: p.default for p in params
              if p.default is not inspect.Parameter.empty}

  @functools.wraps(method)
  def call(self, *args, **kwargs):
    made = method(self, *args, **kwargs)  # which has checked the arguments
    arguments = dict(defaults)
    arguments.update(zip(names, args))
    arguments.update(kwargs)
    return made._with(made._plan.with_call_args(method.__name__, arguments))
  return call  # type: ignore[return-value]


_C = TypeVar('_C', bound='Chain')


class Chain:
  """A recorded TFX pipeline: the plan and the calls that add to it."""


  def __init__(self, name: str, root: StrPath = 'runs', *,
               _plan: Optional[Plan] = None) -> None:
    if _plan is not None:
      self._plan = _plan
      return
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
      raise PipelineDefinitionError(
          'PipelineDef', f'pipeline name {name!r} is not usable: TFX needs '
          '1-63 characters, and it names a directory and MLMD contexts',
          fix="use letters, digits, '_', '-' or '.', starting with a letter "
          "or digit, e.g. PipelineDef('taxi')")
    root = _paths.absolute(root)  # a remote root (gs://, s3://) stays as given
    self._plan = Plan(name=name, root=root,
                      parameters=factory_arguments())

  # ----------------------------------------------------------------- plumbing
  def _with(self: _C, plan: Plan) -> _C:
    return type(self)('', _plan=plan)

  def _step(self: _C, kind: str, call: str, tfx: Optional[dict] = None,
            opts: Optional[dict] = None) -> _C:
    return self._with(self._plan.with_step(kind, Step.of(call, tfx, opts)))

  @property
  def name(self) -> str:
    return self._plan.name

  @property
  def pipeline_root(self) -> str:
    """Directory of this pipeline's artifacts (and, by default, its MLMD)."""
    return self._plan.pipeline_root

  @property
  def metadata_path(self) -> Optional[str]:
    """The sqlite MLMD file, or None when another store is configured."""
    if self._plan.metadata_config is not None:
      return None
    return self._plan.metadata_path or _paths.join(
        self._plan.pipeline_root, 'metadata.sqlite')

  @property
  def steps(self) -> Sequence[str]:
    """The chain calls recorded so far, in pipeline order."""
    calls = ['from_source'] if self._plan.source else []
    return calls + [step.call for _, step in self._plan.ordered()]

  def __repr__(self) -> str:
    """The chain as code: the calls made, with the arguments that differ
    from the defaults (secrets masked, long values shortened). Instant: no
    TFX import."""
    from fluent_pipeline.dsl import chain_code
    calls = chain_code.chain_calls(self._plan, Chain)
    one_line = '.'.join(calls)
    if len(one_line) <= _REPR_WIDTH:
      return one_line
    return '(' + '\n .'.join(calls) + ')'

  # ------------------------------------------------------------------ sources
  def from_source(self: _C, source: inputs.Source) -> _C:
    """Uses a source built with `fluent_pipeline.inputs` for training data."""
    if not isinstance(source, inputs.Source):
      raise PipelineDefinitionError(
          'from_source', f'expected a fluent_pipeline.inputs source, got '
          f'{type(source).__name__}',
          fix="pass inputs.from_csv('data/') or a sibling helper")
    return self._with(self._plan.replace(source=source))

  def from_csv(self: _C, path: StrPath, *,
               input_config: Optional[ProtoArg] = None,
               output_config: Optional[ProtoArg] = None,
               range_config: Optional[ProtoArg] = None,
               reader: str = 'columnar') -> _C:
    """CSV files [CsvExampleGen]: read columnar (the same examples and
    splits as TFX's reader, many times faster), or reader='tfx' for TFX's
    CsvExampleGen as it ships."""
    return self.from_source(inputs.from_csv(
        path, input_config=input_config, output_config=output_config,
        range_config=range_config, reader=reader))

  def from_tfrecord(self: _C, path: StrPath, *,
                    input_config: Optional[ProtoArg] = None,
                    output_config: Optional[ProtoArg] = None,
                    range_config: Optional[ProtoArg] = None) -> _C:
    """TFRecord files of tf.Example [ImportExampleGen]."""
    return self.from_source(inputs.from_tfrecord(
        path, input_config=input_config, output_config=output_config,
        range_config=range_config))

  def from_parquet(self: _C, path: StrPath, *,
                   input_config: Optional[ProtoArg] = None,
                   output_config: Optional[ProtoArg] = None,
                   range_config: Optional[ProtoArg] = None,
                   reader: str = 'columnar') -> _C:
    """Parquet files [FileBasedExampleGen]: read columnar (the same examples
    and splits as TFX's parquet executor, many times faster), or
    reader='tfx' for TFX's parquet executor."""
    return self.from_source(inputs.from_parquet(
        path, input_config=input_config, output_config=output_config,
        range_config=range_config, reader=reader))

  def from_avro(self: _C, path: StrPath, *,
                input_config: Optional[ProtoArg] = None,
                output_config: Optional[ProtoArg] = None,
                range_config: Optional[ProtoArg] = None) -> _C:
    """Avro files [FileBasedExampleGen + avro executor]."""
    return self.from_source(inputs.from_avro(
        path, input_config=input_config, output_config=output_config,
        range_config=range_config))

  def from_bigquery(self: _C, query: str, *,
                    input_config: Optional[ProtoArg] = None,
                    output_config: Optional[ProtoArg] = None,
                    range_config: Optional[ProtoArg] = None) -> _C:
    """A BigQuery query [BigQueryExampleGen]; needs Google Cloud to run."""
    return self.from_source(inputs.from_bigquery(
        query, input_config=input_config, output_config=output_config,
        range_config=range_config))

  def from_example_gen(self: _C, component: 'BaseNode') -> _C:
    """Any hand-built ExampleGen component."""
    return self.from_source(inputs.from_example_gen(component))

  # ------------------------------------------------------------- data checks
  @_recorded
  def generate_statistics(self: _C, *,
                          stats_options: Optional['StatsOptions'] = None,
                          exclude_splits: Optional[Iterable[str]] = None,
                          examples: Optional[str] = None) -> _C:
    """Dataset statistics [StatisticsGen]. examples: 'reshaped' (the
    default: after the dataset steps) or 'raw' (ExampleGen's)."""
    return self._step('statistics', 'generate_statistics', tfx=dict(
        stats_options=stats_options, exclude_splits=_list(exclude_splits)),
        opts=dict(examples=_examples_choice('generate_statistics', examples,
                                            _RAW_CHOICES)))

  @_recorded
  def infer_schema(self: _C, *, infer_feature_shape: bool = True,
                   exclude_splits: Optional[Iterable[str]] = None
                   ) -> _C:
    """A schema inferred from the statistics [SchemaGen]."""
    return self._step('schema', 'infer_schema', tfx=dict(
        infer_feature_shape=bool(infer_feature_shape),
        exclude_splits=_list(exclude_splits)))

  @_recorded
  def with_imported_schema(self: _C, path: StrPath) -> _C:
    """A curated schema.pbtxt [ImportSchemaGen]; wins over infer_schema()."""
    path = _paths.absolute(path)
    return self._step('imported_schema', 'with_imported_schema',
                      tfx=dict(schema_file=path))

  @_recorded
  def validate_input_data(
      self: _C, *, fail_on_anomalies: bool = False,
      exclude_splits: Optional[Iterable[str]] = None,
      custom_validation_config: Optional[message.Message] = None) -> _C:
    """Anomalies of the statistics against the schema [ExampleValidator].

    TFX records anomalies and goes on; with fail_on_anomalies=True the run
    stops before Transform/Tuner/Trainer and lists them.
    """
    return self._step('validate', 'validate_input_data', tfx=dict(
        exclude_splits=_list(exclude_splits),
        custom_validation_config=custom_validation_config),
        opts=dict(fail_on_anomalies=bool(fail_on_anomalies)))

  # ------------------------------------------------------------ dataset steps
  @_recorded
  def filter_examples(self: _C,
                      predicate: Union[str, Callable[[Features], object]], *,
                      splits: Optional[Iterable[str]] = None,
                      batch: bool = False) -> _C:
    """Keeps the examples for which `predicate(features)` is True
    [FilterExamples, Apache Beam]. `features` maps each feature name to its
    list of values (ints, floats, or str for string features, so
    `features['region'] == ['south']`). The predicate must return a bool:
    anything else fails the step, naming the value. predicate: a function
    (one defined in a notebook too) or a dotted path; it runs inside the
    Beam workers. Only the named splits are filtered (default: all); the
    others are copied unchanged. A split kept whole is said in the run's
    summary; one kept empty fails the run, quoting its values.

    batch=True: the predicate gets a block of examples as a pandas
    DataFrame (a column per feature: a plain column where each example has
    at most one value, missing as None / NaN / <NA>; a column of lists
    otherwise; strings as str) and returns a boolean mask, a value per row,
    e.g. `lambda df: df.trip_seconds > 0` (<NA> drops the row): 1.6x the
    rows a second of a predicate naming its features (docs/BENCHMARKS.md).

    Dataset steps run in the order written, and the steps after them read
    their output; a step can ask for ExampleGen's with examples='raw'.
    """
    step = 'filter_examples'
    _check_code(step, 'predicate', predicate)
    _check_batch(step, 'predicate', predicate, batch)
    return self._with(self._plan.with_reshape(Step.of(step, opts=dict(
        code=predicate, code_arg='predicate',
        fn_name='batch_predicate_fn' if batch else 'predicate_fn',
        splits=_splits(step, splits)))))

  @_recorded
  def stratified_sample(self: _C,
                        key: Union[str, Callable[[Features], Hashable]], *,
                        samples_per_key: Optional[int] = None,
                        fraction: Optional[float] = None,
                        splits: Optional[Iterable[str]] = None,
                        seed: int = 0, batch: bool = False) -> _C:
    """A reproducible stratified sample [StratifiedSample, Apache Beam].

    key: a feature name (checked against the CSV header or an imported
    schema when the chain has them, else when the step runs), or a
    function of the feature dict (as in filter_examples) returning the
    stratum: a str, number or tuple of them. A sample with one stratum is
    said in the run's summary. samples_per_key: keep at most
    this many examples of each stratum; fraction: keep each example with
    this probability, decided by a hash of (seed, example), so about that
    fraction of each stratum. The same seed and data give the same sample
    on every runner and number of workers. Only the named splits are
    sampled (default: all); the others are copied unchanged. batch=True:
    the key function gets a block of examples as a pandas DataFrame (as in
    filter_examples(batch=True)) and returns a key per row, e.g.
    `lambda df: df.trip_start_hour.fillna(-1) // 6` (a missing key fails
    the step); the same keys give the same sample as the per-example form,
    the faster one here (the sample's hash parses every example anyway).
    """
    step = 'stratified_sample'
    if (samples_per_key is None) == (fraction is None):
      raise PipelineDefinitionError(
          step, 'give exactly one of samples_per_key and fraction',
          fix=f"{step}('label', samples_per_key=1000) or "
          f"{step}('label', fraction=0.1)")
    if samples_per_key is not None and (
        isinstance(samples_per_key, bool) or
        not isinstance(samples_per_key, int) or samples_per_key < 1):
      raise PipelineDefinitionError(
          step, f'samples_per_key must be a positive int, got '
          f'{samples_per_key!r}', fix=f'{step}(key, samples_per_key=1000)')
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, (int, float))
        or not 0 < fraction <= 1):
      raise PipelineDefinitionError(
          step, f'fraction must be in (0, 1], got {fraction!r}',
          fix=f'{step}(key, fraction=0.1)')
    if isinstance(seed, bool) or not isinstance(seed, int):
      raise PipelineDefinitionError(
          step, f'seed must be an int, got {seed!r}', fix=f'{step}(..., seed=0)')
    opts: dict[str, Any] = dict(
        splits=_splits(step, splits), seed=seed,
        samples_per_key=samples_per_key,
        fraction=None if fraction is None else float(fraction))
    _check_batch(step, 'key', key, batch)
    if isinstance(key, str) and key and batch:
      raise PipelineDefinitionError(
          step, f'batch=True takes a key function of a DataFrame, got the '
          f'feature name {key!r}',
          fix=f'{step}({key!r}, ...) without batch, or {step}(lambda df: '
          f'df[{key!r}], batch=True, ...)')
    if isinstance(key, str) and key:
      csv_data.check_feature(self._plan, step, 'key', key)
      opts['key_feature'] = key
    elif _is_code(key):
      opts.update(code=key, code_arg='key',
                  fn_name='batch_key_fn' if batch else 'key_fn')
    else:
      raise PipelineDefinitionError(
          step, f'key must be a feature name or a function of the feature '
          f'dict, got {key!r}',
          fix=f"{step}('payment_type', ...) or {step}(lambda f: "
          "f['trip_start_hour'][0] // 6, ...)")
    return self._with(self._plan.with_reshape(Step.of(step, opts=opts)))

  # ------------------------------------------------------------------- model
  @_recorded
  def preprocess(self: _C, preprocessing_fn: UserFunction, *,
                 splits_config: Optional[ProtoLike] = None,
                 force_tf_compat_v1: bool = False,
                 custom_config: Optional[dict[str, Any]] = None,
                 disable_statistics: bool = False,
                 materialize: bool = True,
                 examples: Optional[str] = None) -> _C:
    """Feature engineering with tf.Transform [Transform]. examples:
    'reshaped' (the default: after the dataset steps) or 'raw'."""
    from tfx.proto import transform_pb2
    return self._step('transform', 'preprocess', tfx=dict(
        splits_config=protos.coerce(splits_config, transform_pb2.SplitsConfig,
                                     step='preprocess', arg='splits_config'),
        force_tf_compat_v1=force_tf_compat_v1 or None,
        custom_config=custom_config,
        disable_statistics=disable_statistics or None,
        materialize=None if materialize else False,
    ), opts=dict(code=preprocessing_fn, examples=_examples_choice(
        'preprocess', examples, _RAW_CHOICES)))

  @_recorded
  def tune(self: _C, tuner_fn: UserFunction, *,
           train_args: Optional[StepsLike] = None,
           eval_args: Optional[StepsLike] = None,
           tune_args: Optional[ProtoLike] = None,
           custom_config: Optional[dict[str, Any]] = None,
           examples: Optional[str] = None) -> _C:
    """Hyperparameter search with KerasTuner [Tuner].

    train_args / eval_args: a TrainArgs / EvalArgs, a dict of its fields, or
    an int number of steps. examples: 'transformed' (the default when
    preprocess() is in the chain), 'reshaped' (untransformed, after the
    dataset steps; the default otherwise) or 'raw' (ExampleGen's).
    """
    from tfx.proto import tuner_pb2
    trainer_pb2 = _trainer_pb2()
    return self._step('tuner', 'tune', tfx=dict(
        train_args=protos.coerce(train_args, trainer_pb2.TrainArgs,
                                  step='tune', arg='train_args',
                                  int_field='num_steps'),
        eval_args=protos.coerce(eval_args, trainer_pb2.EvalArgs,
                                 step='tune', arg='eval_args',
                                 int_field='num_steps'),
        tune_args=protos.coerce(tune_args, tuner_pb2.TuneArgs, step='tune',
                                 arg='tune_args'),
        custom_config=custom_config,
    ), opts=dict(code=tuner_fn, examples=_examples_choice('tune', examples)))

  @_recorded
  def with_hyperparameters(self: _C, path: StrPath) -> _C:
    """Fixed hyperparameters from a Tuner's best_hyperparameters.txt
    [Importer]; wins over tune() for train()."""
    path = _paths.absolute(path)
    return self._step('imported_hyperparameters', 'with_hyperparameters',
                      opts=dict(path=path))

  @_recorded
  def train(self: _C, run_fn: UserFunction, *,
            train_args: Union[StepsLike, 'RuntimeParameter', None] = None,
            eval_args: Union[StepsLike, 'RuntimeParameter', None] = None,
            custom_config: Union[dict[str, Any], 'RuntimeParameter',
                                 None] = None,
            examples: Optional[str] = None) -> _C:
    """Model training with a user run_fn [Trainer].

    train_args / eval_args: a TrainArgs / EvalArgs, a dict of its fields, or
    an int number of steps. examples: 'transformed' (the default when
    preprocess() is in the chain), 'reshaped' (untransformed, after the
    dataset steps; the default otherwise) or 'raw' (ExampleGen's).
    """
    trainer_pb2 = _trainer_pb2()
    return self._step('trainer', 'train', tfx=dict(
        train_args=protos.coerce(train_args, trainer_pb2.TrainArgs,
                                  step='train', arg='train_args',
                                  int_field='num_steps'),
        eval_args=protos.coerce(eval_args, trainer_pb2.EvalArgs,
                                 step='train', arg='eval_args',
                                 int_field='num_steps'),
        custom_config=custom_config,
    ), opts=dict(code=run_fn, examples=_examples_choice('train', examples)))

  @_recorded
  def with_base_model(self: _C, model: Union[StrPath, _Latest] = latest
                      ) -> _C:
    """Warm-starts train() from a SavedModel directory [Importer], or from
    the newest model this pipeline trained (`latest`) [Resolver]."""
    if model is latest or model == 'latest':
      return self._step('base_model', 'with_base_model',
                        opts=dict(latest=True))
    path = _paths.absolute(model)
    return self._step('base_model', 'with_base_model', opts=dict(path=path))

  @_recorded
  def evaluate_model(self: _C, eval_config: ProtoLike, *,
                     example_splits: Optional[Iterable[str]] = None,
                     fairness_indicator_thresholds: Optional[
                         Iterable[float]] = None,
                     compare_to_baseline: bool = True,
                     examples: Optional[str] = None) -> _C:
    """Model analysis and blessing with TFMA against the latest blessed
    model [Resolver + Evaluator]. eval_config: a tfma.EvalConfig or a dict.
    examples: 'reshaped' (the default: after the dataset steps) or 'raw'."""
    from tensorflow_model_analysis.proto import config_pb2
    if protos.is_runtime_parameter(eval_config):
      raise PipelineDefinitionError(
          'evaluate_model', "TFX's Evaluator takes no RuntimeParameter for "
          'eval_config', fix='pass a tfma.EvalConfig or a dict of its fields')
    config = protos.coerce(eval_config, config_pb2.EvalConfig,
                            step='evaluate_model', arg='eval_config')
    if config is None:
      raise PipelineDefinitionError(
          'evaluate_model', 'eval_config is required',
          fix='pass tfma.EvalConfig(model_specs=[...], metrics_specs=[...])')
    return self._step('evaluator', 'evaluate_model', tfx=dict(
        eval_config=config, example_splits=_list(example_splits),
        fairness_indicator_thresholds=_list(fairness_indicator_thresholds),
    ), opts=dict(compare_to_baseline=bool(compare_to_baseline),
                 examples=_examples_choice('evaluate_model', examples,
                                           _RAW_CHOICES)))

  @_recorded
  def infra_validate(self: _C, *, local: Optional[bool] = None,
                     max_load_seconds: float = 5.0,
                     max_latency_ms: float = 200.0, num_requests: int = 20,
                     batch_size: int = 1,
                     signature_name: str = 'serving_default',
                     serving_spec: Optional[ProtoLike] = None,
                     validation_spec: Optional[ProtoLike] = None,
                     request_spec: Optional[ProtoLike] = None) -> _C:
    """Checks that the model loads and serves before it is pushed.

    By default (local) [LocalInfraValidator]: the model is loaded in a fresh
    process, its serving signature is called with `num_requests` batches of
    the pipeline's own eval examples, and it is blessed only when loading
    takes at most `max_load_seconds` and the p95 request latency is at most
    `max_latency_ms`. Runs anywhere.

    With `serving_spec` [InfraValidator]: TFX's check in TensorFlow Serving,
    which needs Docker or Kubernetes to run.
    """
    step = 'infra_validate'
    if serving_spec is None and local is False:
      raise PipelineDefinitionError(
          step, 'local=False needs a serving_spec for TFX InfraValidator',
          fix='pass serving_spec=ServingSpec(tensorflow_serving=..., '
          'local_docker=...), or drop local=False to validate locally')
    if serving_spec is None:
      for arg, value in (('max_load_seconds', max_load_seconds),
                         ('max_latency_ms', max_latency_ms)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value <= 0:
          raise PipelineDefinitionError(
              step, f'{arg} must be a positive number, got {value!r}',
              fix=f'{step}({arg}=...)')
      for arg, value in (('num_requests', num_requests),
                         ('batch_size', batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
          raise PipelineDefinitionError(
              step, f'{arg} must be a positive int, got {value!r}',
              fix=f'{step}({arg}=...)')
      return self._step('infra_validator', step, opts=dict(
          local=dict(max_load_seconds=float(max_load_seconds),
                     max_latency_ms=float(max_latency_ms),
                     num_requests=num_requests, batch_size=batch_size,
                     signature_name=signature_name)))
    if local:
      raise PipelineDefinitionError(
          step, 'local=True and a serving_spec ask for two different checks',
          fix='drop serving_spec for the local check, or local=True for '
          'TFX InfraValidator')
    from tfx.proto import infra_validator_pb2 as pb
    return self._step('infra_validator', step, tfx=dict(
        serving_spec=protos.coerce(serving_spec, pb.ServingSpec, step=step,
                                    arg='serving_spec'),
        validation_spec=protos.coerce(validation_spec, pb.ValidationSpec,
                                       step=step, arg='validation_spec'),
        request_spec=protos.coerce(request_spec, pb.RequestSpec, step=step,
                                    arg='request_spec')))

  @_recorded
  def push_to(self: _C, destination: Union[StrPath, ProtoArg], *,
              custom_config: Optional[dict[str, Any]] = None) -> _C:
    """Pushes blessed models to a directory [Pusher]. A relative path is
    relative to the pipeline root; a PushDestination proto is used as is."""
    from tfx.proto import pusher_pb2
    if isinstance(destination, (str, os.PathLike)):
      destination = os.fspath(destination)
      opts = dict(directory=destination)
      tfx = dict(custom_config=custom_config)
    else:
      opts = {}
      tfx = dict(custom_config=custom_config, push_destination=protos.coerce(
          destination, pusher_pb2.PushDestination, step='push_to',
          arg='destination'))
    return self._step('pusher', 'push_to', tfx=tfx, opts=opts)

  @_recorded
  def bulk_infer(self: _C, source: inputs.Source, *,
                 data_spec: Optional[ProtoArg] = None,
                 model_spec: Optional[ProtoArg] = None,
                 output_example_spec: Optional[ProtoArg] = None) -> _C:
    """Batch predictions over `source` (from fluent_pipeline.inputs)
    [ExampleGen + BulkInferrer]."""
    from tfx.proto import bulk_inferrer_pb2 as pb
    step = 'bulk_infer'
    if not isinstance(source, inputs.Source):
      raise PipelineDefinitionError(
          step, f'expected a fluent_pipeline.inputs source, got '
          f'{type(source).__name__}',
          fix="bulk_infer(inputs.from_csv('path/to/unlabelled/'))")
    return self._step('bulk_inferrer', step, tfx=dict(
        data_spec=protos.coerce(data_spec, pb.DataSpec, step=step,
                                 arg='data_spec'),
        model_spec=protos.coerce(model_spec, pb.ModelSpec, step=step,
                                  arg='model_spec'),
        output_example_spec=protos.coerce(
            output_example_spec, pb.OutputExampleSpec, step=step,
            arg='output_example_spec'),
    ), opts=dict(source=source))

  # ----------------------------------------------------------------- settings
  def with_root(self: _C, root: StrPath) -> _C:
    """The same pipeline under another root (`gs://bucket/pipelines` to
    ship it, a local folder to try it)."""
    return self._with(self._plan.replace(root=_paths.absolute(root)))

  def cache(self: _C, enabled: bool = True) -> _C:
    """Reuses outputs of unchanged components from earlier runs."""
    return self._with(self._plan.replace(enable_cache=bool(enabled)))

  def record_configuration(self: _C, enabled: bool = True) -> _C:
    """Whether the pipeline starts with PipelineConfigurationGen, which
    freezes the run's arguments, parameters, user code and package versions
    as a PipelineConfiguration artifact (on by default). Turned off, the
    chain compiles to exactly the pipeline hand-written TFX would."""
    return self._with(self._plan.replace(record_configuration=bool(enabled)))

  def with_parameters(self: _C, **values: Any) -> _C:
    """Records the parameter values this pipeline was made with in its
    configuration artifact, where `runs` and `diff` show them.
    `fluent-pipeline run FILE --set name=value` records them for you."""
    merged = dict(self._plan.parameters)
    merged.update(values)
    return self._with(self._plan.replace(
        parameters=types.MappingProxyType(merged)))

  def with_resources(self: _C, step: str, *,
                     cpu: Union[int, float, str, None] = None,
                     memory: Union[int, str, None] = None, gpu: int = 0,
                     gpu_type: Optional[str] = None,
                     queue: Optional[str] = None, pool: Optional[str] = None,
                     pool_slots: Optional[int] = None) -> _C:
    """What one step needs where it runs. `step`: a chain call ('train',
    'preprocess', 'from_csv') or a node id ('Trainer'); checked at build.
    cpu (8, 0.5, '500m') and memory ('32G', '512Mi'): a Kubernetes pod's
    requests and limits, Vertex / Kubeflow V2's limits; gpu (a count) and
    gpu_type (Vertex's accelerator, 'NVIDIA_TESLA_T4'): nvidia.com/gpu on
    Kubernetes, the accelerator on Vertex; queue, pool, pool_slots: the
    Airflow task's. LocalDagRunner and BeamDagRunner ignore them all. A
    later call for the same step replaces this one (with no values: none)."""
    from fluent_pipeline.dsl.plan import Resources
    if not isinstance(step, str) or not step:
      raise PipelineDefinitionError(
          'with_resources', f'step {step!r} is not a step name',
          fix="with_resources('train', cpu=8, memory='32G')")
    resources = Resources.checked(
        step, cpu=cpu, memory=memory, gpu=gpu, gpu_type=gpu_type,
        queue=queue, pool=pool, pool_slots=pool_slots)
    return self._with(self._plan.with_resources(step, resources))

  def with_beam_pipeline_args(self: _C, args: Iterable[str]) -> _C:
    """Beam options for every Beam-powered component."""
    if isinstance(args, str):
      raise PipelineDefinitionError(
          'with_beam_pipeline_args', 'expected a list of flags, got a string',
          fix="with_beam_pipeline_args(['--direct_num_workers=2'])")
    return self._with(self._plan.replace(beam_pipeline_args=tuple(args)))

  def with_beam(self: _C, preset_or_args: Iterable[str]) -> _C:
    """Where the Beam-powered components run: a `fluent_pipeline.beam`
    preset (`beam.local(workers=2)`, `beam.dataflow(...)`, ...) or any
    iterable of Beam flags; replaces earlier Beam args."""
    step, fix = 'with_beam', ('with_beam(beam.local(workers=2)), after '
                              '`from fluent_pipeline import beam`')
    if callable(preset_or_args):
      raise PipelineDefinitionError(
          step, f'got the preset {getattr(preset_or_args, "__name__", "")!r} '
          'itself, not its flags',
          fix=f'call it: {fix}')
    if isinstance(preset_or_args, str) or not isinstance(preset_or_args,
                                                         Iterable):
      raise PipelineDefinitionError(
          step, f'expected a list of flags, got {preset_or_args!r}', fix=fix)
    args = list(preset_or_args)
    for arg in args:
      if not isinstance(arg, str):
        raise PipelineDefinitionError(
            step, f'Beam flags are strings, got {arg!r}', fix=fix)
    return self.with_beam_pipeline_args(args)

  def with_sqlite_ml_metadata(self: _C, path: Optional[StrPath] = None
                              ) -> _C:
    """ML Metadata in a sqlite file (default: <pipeline_root>/metadata.sqlite)."""
    if path is not None:
      path = _paths.absolute(path)
    return self._with(self._plan.replace(metadata_path=path,
                                         metadata_config=None))

  def with_metadata_connection(self: _C, config: ProtoLike) -> _C:
    """ML Metadata through any ml_metadata ConnectionConfig."""
    from ml_metadata.proto import metadata_store_pb2
    connection = protos.coerce(
        config, metadata_store_pb2.ConnectionConfig,
        step='with_metadata_connection', arg='config')
    return self._with(self._plan.replace(metadata_config=connection,
                                         metadata_path=None))

  def with_mysql_ml_metadata(self: _C, host: str = '127.0.0.1',
                             port: int = 3306, database: str = 'mlmd',
                             user: str = 'root', password: str = '') -> _C:
    """ML Metadata on a MySQL or MariaDB server: how teams share a store.

    The database must exist; ML Metadata creates its tables on first use.
    """
    step = 'with_mysql_ml_metadata'
    if not isinstance(port, int) or not 0 < port < 65536:
      raise PipelineDefinitionError(
          step, f'port {port!r} is not a TCP port', fix='pass port=3306')
    for arg, value in (('host', host), ('database', database), ('user', user)):
      if not isinstance(value, str) or not value:
        raise PipelineDefinitionError(
            step, f'{arg} must be a non-empty string, got {value!r}',
            fix=f"{step}(host='db.example.com', database='mlmd', user=...)")
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host = host
    config.mysql.port = port
    config.mysql.database = database
    config.mysql.user = user
    config.mysql.password = password
    return self.with_metadata_connection(config)

  def add_component(self: _C, *components: ComponentLike,
                    replaces: Optional[str] = None) -> _C:
    """Adds TFX components wired to the chain's channels by name.

    Each one is a component; a component class (a TFX `@component`
    function too), given the channels named like its inputs; or a function
    whose parameters name the channels it takes, returning the component:
    `lambda examples, transform_graph: MyCheck(examples=examples,
    transform_graph=transform_graph)`. Channels: examples (after the
    dataset steps), raw_examples, statistics, schema, anomalies,
    transform_graph, transformed_examples, hyperparameters, model,
    model_run, evaluation, blessing, infra_blessing, pushed_model,
    inference_result, configuration. A function of one parameter named
    `made` gets the built components by id instead.

    replaces: a chain call ('train', 'push_to', 'from_source', ...) whose
    TFX component this one replaces; the rest of the chain wires to its
    outputs by TFX's standard output keys ('model', 'blessing', ...).
    """
    from fluent_pipeline.dsl import channels
    if replaces is None:
      return self._with(self._plan.replace(
          extra_components=self._plan.extra_components + tuple(components)))
    step = 'add_component'
    if len(components) != 1:
      raise PipelineDefinitionError(
          step, f'replaces={replaces!r} takes exactly one component, got '
          f'{len(components)}', fix='add the others in another call')
    component: Any = components[0]  # any of ComponentLike's forms
    if isinstance(replaces, str) and replaces.startswith('from_'):
      if channels.is_component_class(component):
        component = component()
      return self.from_example_gen(component)
    kinds = {call: kind for kind, call in _REPLACEABLE.items()}
    if replaces not in kinds:
      raise PipelineDefinitionError(
          step, f'replaces={replaces!r} is not a chain step',
          fix=f'name one of: from_source, {", ".join(sorted(kinds))}')
    return self._step(kinds[replaces], step, opts=dict(
        factory=component, replaces=replaces))

  # ------------------------------------------------------------------ endings
  def build(self) -> 'Pipeline':
    """The vanilla TFX Pipeline this plan describes."""
    from fluent_pipeline.dsl import wiring
    return wiring.build(self._plan)

# Step kind -> the chain call whose component add_component(replaces=) swaps.
_REPLACEABLE = {
    'statistics': 'generate_statistics', 'schema': 'infer_schema',
    'validate': 'validate_input_data', 'transform': 'preprocess',
    'tuner': 'tune', 'trainer': 'train', 'evaluator': 'evaluate_model',
    'infra_validator': 'infra_validate', 'pusher': 'push_to',
    'bulk_inferrer': 'bulk_infer'}


def _is_code(value: Any) -> bool:
  """A function, or user code restored from a run (PipelineDef.from_run)."""
  from fluent_pipeline.usercode import user_code
  return callable(value) or isinstance(value, (user_code.Restored,
                                               user_code.InImage))


def _check_code(step: str, arg: str, code: Any) -> None:
  if not (_is_code(code) or (isinstance(code, str) and code)):
    raise PipelineDefinitionError(
        step, f'{arg} must be a function or a dotted path, got {code!r}',
        fix=f"{step}(lambda features: features['fare'][0] > 0) or "
        f"{step}('my_package.filters.keep')")


def _check_batch(step: str, arg: str, code: Any, batch: Any) -> None:
  """batch is a bool; a batch function takes one argument, the DataFrame."""
  if not isinstance(batch, bool):
    raise PipelineDefinitionError(
        step, f'batch must be True or False, got {batch!r}',
        fix=f'{step}(..., batch=True) for a function of a DataFrame')
  if not (batch and callable(code)):
    return
  try:
    inspect.signature(code).bind(object())
  except TypeError:
    raise PipelineDefinitionError(
        step, f'{arg} cannot be called with one argument; with batch=True it '
        'is called with a DataFrame of examples',
        fix=f'{step}(lambda df: ..., batch=True)') from None
  except ValueError:
    pass  # builtins without a signature: called as they are


def _splits(step: str, splits) -> Optional[list]:
  names = _list(splits)
  if names is not None and (not names or not all(
      isinstance(n, str) and n for n in names)):
    raise PipelineDefinitionError(
        step, f'splits must be split names, got {splits!r}',
        fix=f"{step}(..., splits=['train']) or leave it out for all splits")
  return names


def _list(values):
  if values is None:
    return None
  if isinstance(values, str):
    return [values]
  return list(values)


def _examples_choice(step: str, examples: Optional[str],
                     choices=_EXAMPLE_CHOICES) -> Optional[str]:
  if examples is not None and examples not in choices:
    raise PipelineDefinitionError(
        step, f'examples={examples!r} is not one of {choices}',
        fix=f"{step}(..., examples={choices[0]!r}) or examples='raw'")
  return examples
