"""`fluent-pipeline compile`: what a runner would run, written to a file.

- local / beam: the pipeline IR (tfx.proto.orchestration.Pipeline) as JSON,
  which LocalDagRunner / BeamDagRunner execute with `run_with_ir`;
- kubeflow_v2: the Kubeflow Pipelines V2 / Vertex job JSON that
  KubeflowV2DagRunner writes (the image must have fluent_pipeline installed
  for its own components).

Nothing runs and no user-code wheel is built.
"""

import os
import re

from fluent_pipeline.errors import PipelineDefinitionError

_KFP_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')
_RUNNER_NAMES = {'local': 'LocalDagRunner', 'beam': 'BeamDagRunner',
                 'kubeflow_v2': 'KubeflowV2DagRunner'}


def write(pdef, runner: str, output: str, *, image: str) -> str:
  from fluent_pipeline import _wiring  # pylint: disable=g-import-not-at-top
  if runner == 'kubeflow_v2' and not _KFP_NAME.fullmatch(pdef.name):
    raise PipelineDefinitionError(
        'compile', f'pipeline name {pdef.name!r} is not valid on Kubeflow '
        "V2 / Vertex, which take lowercase letters, digits and '-'",
        fix=f"name it {re.sub('[^a-z0-9-]', '-', pdef.name.lower())!r}")
  pipeline = _wiring.build(pdef._plan, _RUNNER_NAMES[runner])  # pylint: disable=protected-access
  folder = os.path.dirname(os.path.abspath(output))
  os.makedirs(folder, exist_ok=True)
  if runner == 'kubeflow_v2':
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfv2  # pylint: disable=g-import-not-at-top
    kfv2.KubeflowV2DagRunner(
        config=kfv2.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=folder, output_filename=os.path.basename(output),
    ).run(pipeline)
    return output
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tfx.dsl.compiler import compiler  # pylint: disable=g-import-not-at-top
  ir = compiler.Compiler().compile(pipeline)
  with open(output, 'w', encoding='utf-8') as f:
    f.write(json_format.MessageToJson(ir, preserving_proto_field_name=True))
  return output
