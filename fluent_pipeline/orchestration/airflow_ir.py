"""The compiled pipeline an Airflow DAG runs, and its trigger-time
parameters; without Airflow (compile needs none).

The DAG file reads the IR `compile --runner airflow` wrote. The typed
parameters of the pipeline file's `create_pipeline(**params)` become the
DAG's `params`, defaulting to the values it was compiled with: a DAG run
triggered with other values (`airflow dags trigger --conf`, the UI's
trigger form) has its first task bind them as `--set` binds them and
compile the run's own IR, which its node tasks then run.
"""

import os
from collections.abc import Mapping
from typing import Any, Optional

from fluent_pipeline.errors import PipelineDefinitionError

# The name the IR is built for (its configuration records it): Airflow
# tasks that run the IR's nodes through TFX's portable Launcher.
RUNNER = 'AirflowIrRunner'
IR_SUFFIX = '_pipeline.pb'  # <dag id>_pipeline.pb, beside <dag id>_dag.py
# JSON Schema types of the parameter types of pipeline_file.
_JSON_TYPES = {'int': 'integer', 'float': 'number', 'bool': 'boolean',
               'str': 'string', 'path': 'string'}
# with_resources' values an Airflow task takes (the others go to a pod):
# fixed in the DAG file, so a trigger may not change them.
AIRFLOW_KEYS = ('queue', 'pool', 'pool_slots')


def compile_ir(pipeline, resources: Optional[dict[str, Any]] = None):
  """The IR (pipeline_pb2.Pipeline) of a PipelineDef, as run() builds it
  (user code packaged, the node ids of each chain call recorded in the
  configuration), with the run id left a runtime parameter. `resources`,
  when given, gets node id -> its with_resources values (checked here)."""
  from tfx.orchestration.portable import tfx_runner

  from fluent_pipeline.dsl import plan as plans
  from fluent_pipeline.dsl import wiring
  from fluent_pipeline.orchestration import partial
  tfx_pipeline, nodes_by_call = wiring.build_indexed(pipeline._plan, RUNNER)
  found = plans.resources_by_node(pipeline._plan, nodes_by_call,
                                  [c.id for c in tfx_pipeline.components])
  if resources is not None:
    resources.update({node: r.as_dict() for node, r in found.items()})
  ir = tfx_runner._make_pipeline_proto(tfx_pipeline)
  partial.record(ir, nodes_by_call)
  return ir


def compile_shared(pipeline, metadata_connection: Optional[str],
                   where: str = 'compile',
                   resources: Optional[dict[str, Any]] = None):
  """compile_ir for an IR others read (the dags folder, Airflow's XCom):
  without the ML Metadata password, which the tasks read from the Airflow
  connection `metadata_connection`, and refused if it would hold another
  secret of the chain. `resources`: compile_ir's."""
  from fluent_pipeline.dsl import configuration
  config = pipeline._plan.metadata_config
  if (config is not None and config.HasField('mysql') and
      config.mysql.password):
    if not metadata_connection:
      raise PipelineDefinitionError(
          where, 'the pipeline file sets an ML Metadata password, which '
          'the compiled pipeline would hold for every Airflow worker to read',
          fix='keep it in an Airflow connection: airflow connections add '
          "mlmd --conn-uri mysql://USER:PASSWORD@HOST:3306/DB, drop the "
          'password from the file, and pass --metadata-connection mlmd')
    without = type(config)()
    without.CopyFrom(config)
    without.mysql.password = ''
    pipeline = pipeline.with_metadata_connection(without)
  ir = compile_ir(pipeline, resources)
  from google.protobuf import json_format

  from fluent_pipeline.orchestration import compile_checks
  text = json_format.MessageToJson(ir)
  for secret in configuration.secrets_of(pipeline._plan):
    if compile_checks.holds(text, secret):
      raise PipelineDefinitionError(
          where, 'the pipeline holds a secret (a value named password, '
          'secret, token, credential or key) that the compiled pipeline '
          'would hold for every Airflow user and worker to read',
          fix='give the workers the credential instead (their environment, '
          "a credentials file or the cloud's default credentials) and drop "
          'it from the pipeline file')
  return ir


def dag_params(pipeline_file: str, name: Optional[str],
               assignments: Mapping[str, str]) -> dict[str, dict[str, Any]]:
  """The parameters of a pipeline file a DAG run may set: name -> {'type':
  JSON Schema type or None, 'value': the value compiled with}. A
  parameter named as a secret is left out: its value would be written into
  the DAG file and shown in Airflow's UI."""
  from fluent_pipeline.dsl import configuration
  from fluent_pipeline.project import pipeline_file as pipeline_files
  loaded = pipeline_files.load(pipeline_file, name)
  values = loaded.parse(dict(assignments))
  params = {}
  for parameter in loaded.parameters.values():
    if configuration.is_secret_name(parameter.name):
      import warnings
      warnings.warn(
          f'parameter {parameter.name} is named like a secret, so it is not '
          'a DAG param (its value would show in the DAG file and '
          "Airflow's UI); set it at compile with --set, or rename it",
          stacklevel=2)
      continue
    value = values.get(parameter.name, parameter.default)
    if not isinstance(value, (bool, int, float, str)):
      value = str(value) if value is not None else None  # a Path
    params[parameter.name] = {'type': _JSON_TYPES.get(parameter.type or ''),
                              'value': value}
  return params


def changed(params: Mapping[str, dict[str, Any]],
            given: Mapping[str, Any]) -> dict[str, Any]:
  """The values of `given` (a DAG run's params and conf) that differ from
  those compiled, or name no compiled parameter."""
  return {key: value for key, value in given.items()
          if key not in params or value != params[key]['value']}


def ir_for(pipeline_file: str, name: Optional[str], root: Optional[str],
           compiled_assignments: Mapping[str, str], given: Mapping[str, Any],
           edges: Mapping[str, list[str]],
           metadata_connection: Optional[str] = None,
           cwd: Optional[str] = None,
           resources: Optional[Mapping[str, Mapping[str, Any]]] = None):
  """The IR of the pipeline file made with `compiled_assignments` and the
  run's `given` values over them, bound as `--set` binds them (the same
  errors), compiled as compile_shared compiles it; it must have the nodes
  and edges of the DAG (`edges`). It is made in `cwd`, the folder the DAG
  was compiled in, so a relative value (`root=runs`) means on a worker what
  it meant there. `resources` (node id -> with_resources values, as the DAG
  was compiled with them): the run's queues and pools must be those, which
  its tasks were made with."""
  from fluent_pipeline.project import pipeline_file as pipeline_files
  where = f'{pipeline_file} (Airflow trigger)'
  if cwd and not os.path.isdir(cwd):
    raise PipelineDefinitionError(
        where, f'the DAG was compiled in {cwd}, which is not on this worker, '
        "so the run's relative values would mean other paths here",
        fix='give workers the same paths (a shared disk or image), or '
        'compile from a folder every worker has')
  started_in = os.getcwd()
  if cwd:
    os.chdir(cwd)
  try:
    loaded = pipeline_files.load(pipeline_file, name)
    assignments = dict(compiled_assignments)
    assignments.update({key: _as_text(value) for key, value in given.items()})
    pipeline = loaded.build(assignments)
    if root:
      pipeline = pipeline.with_root(root)
    made_resources: dict[str, Any] = {}
    ir = compile_shared(pipeline, metadata_connection,
                        where=f'{loaded.where} (Airflow trigger)',
                        resources=made_resources)
  finally:
    os.chdir(started_in)
  made = {n.pipeline_node.node_info.id: sorted(n.pipeline_node.upstream_nodes)
          for n in ir.nodes}
  if made != {node: sorted(up) for node, up in edges.items()}:
    added = sorted(set(made) - set(edges))
    gone = sorted(set(edges) - set(made))
    how = ', '.join(filter(None, [added and f'adding {", ".join(added)}',
                                  gone and f'removing {", ".join(gone)}']))
    raise PipelineDefinitionError(
        f'{loaded.where} (Airflow trigger)', f'the values {dict(given)!r} '
        f"change the pipeline's steps ({how or 'their edges'}), and an "
        "Airflow DAG's tasks are fixed when it is compiled",
        fix='compile a DAG with those values (fluent-pipeline compile ... '
        '--set NAME=VALUE --runner airflow), or trigger without them')
  if resources is not None:
    moved = _moved(_placement(resources), _placement(made_resources))
    if moved:
      raise PipelineDefinitionError(
          f'{loaded.where} (Airflow trigger)', f'the values {dict(given)!r} '
          f'change where steps run ({"; ".join(moved)}), and queues and '
          'pools are fixed when the DAG is compiled (its tasks are made '
          'with them)',
          fix='compile again with --set NAME=VALUE (fluent-pipeline compile '
          '... --set NAME=VALUE --runner airflow), or trigger without them')
  return ir


def _placement(resources: Mapping[str, Mapping[str, Any]]
               ) -> dict[str, dict[str, Any]]:
  """Node id -> its AIRFLOW_KEYS values (what its task is made with)."""
  found = {node: {key: values[key] for key in AIRFLOW_KEYS if key in values}
           for node, values in resources.items()}
  return {node: values for node, values in found.items() if values}


def _moved(compiled: Mapping[str, Mapping[str, Any]],
           made: Mapping[str, Mapping[str, Any]]) -> list[str]:
  """What differs between two _placements, one line per node and key."""
  lines = []
  for node in sorted(set(compiled) | set(made)):
    before, after = compiled.get(node, {}), made.get(node, {})
    for key in AIRFLOW_KEYS:
      if before.get(key) != after.get(key):
        lines.append(f'{node} {key} {before.get(key)!r} -> {after.get(key)!r}')
  return lines


def _as_text(value: Any) -> str:
  """A trigger's JSON value as `--set` text."""
  if isinstance(value, bool):
    return 'true' if value else 'false'
  return str(value)
