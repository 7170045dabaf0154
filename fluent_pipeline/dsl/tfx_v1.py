"""tfx.v1's names, without tfx.v1's import cost.

`from tfx import v1 as tfx` also loads every extension of TFX, Vertex AI's
`google.cloud.aiplatform` among them: about 3 s more per process than the
components themselves (measured here: components 5-6 s, tfx.v1 then +2.8 to
3.5 s). Every run, every command that builds a pipeline and every Airflow
task would pay it, and a fluent run would cost more than the same pipeline
written by hand. `load()` returns a namespace shaped like tfx.v1 with the
names the package uses, each imported from the module that defines it;
tests/test_tfx_v1.py checks that each one is the very object tfx.v1
exports, so the package uses tfx.v1's API and nothing deprecated.
"""

import functools
import types


@functools.cache
def load() -> types.SimpleNamespace:
  """`tfx` as in `from tfx import v1 as tfx`, for the names used here."""
  from tfx.components.bulk_inferrer.component import BulkInferrer
  from tfx.components.evaluator.component import Evaluator
  from tfx.components.example_gen.csv_example_gen.component import (
      CsvExampleGen,
  )
  from tfx.components.example_gen.import_example_gen.component import (
      ImportExampleGen,
  )
  from tfx.components.example_validator.component import ExampleValidator
  from tfx.components.infra_validator.component import InfraValidator
  from tfx.components.pusher.component import Pusher
  from tfx.components.schema_gen.component import SchemaGen
  from tfx.components.schema_gen.import_schema_gen.component import (
      ImportSchemaGen,
  )
  from tfx.components.statistics_gen.component import StatisticsGen
  from tfx.components.trainer.component import Trainer
  from tfx.components.transform.component import Transform
  from tfx.components.tuner.component import Tuner
  from tfx.dsl.components.common.importer import Importer
  from tfx.dsl.components.common.resolver import Resolver
  from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import (
      LatestArtifactStrategy,
  )
  from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
      LatestBlessedModelStrategy,
  )
  from tfx.orchestration.data_types import RuntimeParameter
  from tfx.orchestration.pipeline import Pipeline
  from tfx.proto import example_gen_pb2, pusher_pb2
  from tfx.types import standard_artifacts
  from tfx.types.channel import Channel

  space = types.SimpleNamespace
  return space(
      components=space(
          BulkInferrer=BulkInferrer, CsvExampleGen=CsvExampleGen,
          Evaluator=Evaluator, ExampleValidator=ExampleValidator,
          ImportExampleGen=ImportExampleGen, ImportSchemaGen=ImportSchemaGen,
          InfraValidator=InfraValidator, Pusher=Pusher, SchemaGen=SchemaGen,
          StatisticsGen=StatisticsGen, Trainer=Trainer, Transform=Transform,
          Tuner=Tuner),
      dsl=space(
          Channel=Channel, Importer=Importer, Pipeline=Pipeline,
          Resolver=Resolver,
          experimental=space(
              LatestArtifactStrategy=LatestArtifactStrategy,
              LatestBlessedModelStrategy=LatestBlessedModelStrategy,
              RuntimeParameter=RuntimeParameter)),
      proto=space(
          Output=example_gen_pb2.Output,
          SplitConfig=example_gen_pb2.SplitConfig,
          PushDestination=pusher_pb2.PushDestination),
      types=space(standard_artifacts=standard_artifacts),
  )


@functools.cache
def orchestration() -> types.SimpleNamespace:
  """tfx.v1.orchestration's runners (imported only to run or compile)."""
  from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
      KubeflowV2DagRunner,
      KubeflowV2DagRunnerConfig,
  )
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner

  space = types.SimpleNamespace
  return space(
      LocalDagRunner=LocalDagRunner,
      experimental=space(KubeflowV2DagRunner=KubeflowV2DagRunner,
                         KubeflowV2DagRunnerConfig=KubeflowV2DagRunnerConfig))


def big_query_example_gen() -> type:
  """tfx.v1.extensions.google_cloud_big_query.BigQueryExampleGen."""
  from tfx.extensions.google_cloud_big_query.example_gen.component import (
      BigQueryExampleGen,
  )
  return BigQueryExampleGen
