"""FeatureReport: a TFX Python-function component added to a fluent chain.

It reads three artifacts the chain makes, by their channel names: the schema,
the Transform graph and the run's configuration (the PipelineConfiguration
artifact fluent_pipeline records first in every run), and writes one JSON
file that says which raw features went in, which transformed features came
out, and with which parameters the run was made.
"""

import json
import os

import tensorflow_transform as tft
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.dsl.component.experimental.annotations import (
  InputArtifact,
  OutputArtifact,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts
from tfx.utils import io_utils

from fluent_pipeline.components.configuration import PipelineConfiguration

REPORT_FILE = 'report.json'


class FeatureReportArtifact(artifact.Artifact):
  """report.json: features in and out of Transform, and the run's
  parameters. (Namespaced, as Kubeflow V2 / Vertex need custom types.)"""
  TYPE_NAME = 'reshape_and_extend.FeatureReport'


@component
def FeatureReport(  # pylint: disable=invalid-name
    schema: InputArtifact[standard_artifacts.Schema],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    configuration: InputArtifact[PipelineConfiguration],
    report: OutputArtifact[FeatureReportArtifact]) -> None:
  """Writes report.json into `report`."""
  parsed = io_utils.parse_pbtxt_file(
      os.path.join(schema.uri, 'schema.pbtxt'), schema_pb2.Schema())
  transformed = tft.TFTransformOutput(transform_graph.uri)
  with open(os.path.join(configuration.uri, 'configuration.json'),
            encoding='utf-8') as f:
    run = json.load(f)
  content = {
      'raw_features': sorted(f.name for f in parsed.feature),
      'transformed_features': sorted(transformed.transformed_feature_spec()),
      'parameters': run['parameters'],
      'dataset_steps': [call for call in run['steps']
                        if call.split('#')[0] in ('filter_examples',
                                                  'stratified_sample')],
  }
  io_utils.write_string_file(os.path.join(report.uri, REPORT_FILE),
                             json.dumps(content, indent=1, sort_keys=True))
