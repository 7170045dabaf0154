"""PipelineConfigurationGen: the run's configuration, frozen as an artifact.

Code is in git and the runtime in a versioned environment; the parameters a
run was made with belong in the store beside its other artifacts, so a run id
is all that analysis needs. This component takes the whole configuration as
one JSON exec property (`configuration_json`) (so TFX's cache serves it while nothing changed, and a
changed argument, parameter or line of user code makes a new artifact) and
writes it to `configuration.json` in a `PipelineConfiguration` artifact.
A run on LocalDagRunner / BeamDagRunner adds to the JSON, once compiled, the
node ids of each chain call and, for a partial run, what it ran and where
each reused output came from (orchestration.partial.record).
"""

import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, channel
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from fluent_pipeline.components import CONFIGURATION_FILE


class PipelineConfiguration(types.Artifact):
  """A run's parameters, step arguments, user code and package versions.

  Namespaced, as Kubeflow V2 / Vertex need custom type names to be."""
  # dsl.configuration.ARTIFACT_TYPE: how a read finds the configuration of
  # the run that made a reused output.
  TYPE_NAME = 'fluent_pipeline.PipelineConfiguration'


class PipelineConfigurationGenSpec(types.ComponentSpec):
  PARAMETERS = {'configuration_json': ExecutionParameter(type=str)}
  INPUTS = {}
  OUTPUTS = {'configuration': ChannelParameter(type=PipelineConfiguration)}


class Executor(base_executor.BaseExecutor):
  """Writes the configuration JSON into the output artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    del input_dict
    artifact = artifact_utils.get_single_instance(
        output_dict['configuration'])
    text = exec_properties['configuration_json']
    configuration = json.loads(text)  # refuse anything that is not JSON
    os.makedirs(artifact.uri, exist_ok=True)
    with open(os.path.join(artifact.uri, CONFIGURATION_FILE), 'w',
              encoding='utf-8') as f:
      json.dump(configuration, f, indent=1, ensure_ascii=False)
    artifact.set_string_custom_property(
        'fluent_pipeline_version',
        configuration.get('versions', {}).get('fluent_pipeline', ''))


class PipelineConfigurationGen(base_component.BaseComponent):
  """Records the pipeline's configuration (a JSON string) as an artifact."""

  SPEC_CLASS = PipelineConfigurationGenSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, configuration_json: str):
    super().__init__(spec=PipelineConfigurationGenSpec(
        configuration_json=configuration_json,
        configuration=channel.Channel(type=PipelineConfiguration)))
