"""The fluent chain against TFX's own hand-written taxi pipeline.

`taxi_pipeline_native_keras._create_pipeline` ships in the tfx wheel. The same
steps written as one chain compile, with TFX's own compiler, to the same
pipeline IR: node for node, channel for channel, exec property for exec
property, executor for executor, but for two deliberate differences, each
checked to be all that differs:
- cache per function: Transform and Trainer each get the module file cut
  down to the code they use (`_fluent_user_code/<fn>_<hash>/<file>`);
- the Pusher's executor is fluent_pipeline's subclass of TFX's, which does
  not push a model its destination already holds.
`build()` for no runner in particular keeps TFX's baseline strategy;
`run()` on LocalDagRunner / BeamDagRunner uses one that excludes the
candidate (tests/test_wiring.py, tests/test_push_once.py).
"""

import os

import pipeline as taxi_example  # examples/chicago_taxi/pipeline.py
import pytest
from ir import compile_ir, edges, node_type, nodes, params
from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras

from fluent_pipeline import PipelineDef

TFX_TAXI_MODULE = os.path.join(
    os.path.dirname(taxi_pipeline_native_keras.__file__),
    'taxi_utils_native_keras.py')


def tfx_eval_config():
  """The eval config of _create_pipeline (the example's, without its extra
  example count); test_same_... would fail on any difference."""
  return taxi_example.eval_config(tfx_exact=True)


@pytest.fixture
def both(tmp_path, taxi_csv_dir):
  root = str(tmp_path)
  serving = os.path.join(root, 'serving_model')
  beam_args = ['--direct_running_mode=multi_processing',
               '--direct_num_workers=0']
  hand_written = taxi_pipeline_native_keras._create_pipeline(
      pipeline_name='taxi', pipeline_root=os.path.join(root, 'taxi'),
      data_root=taxi_csv_dir, module_file=TFX_TAXI_MODULE,
      serving_model_dir=serving,
      metadata_path=os.path.join(root, 'taxi', 'metadata.sqlite'),
      beam_pipeline_args=beam_args)
  fluent = (PipelineDef('taxi', root=root)
            .from_csv(taxi_csv_dir, reader='tfx')
            .generate_statistics()
            .infer_schema(infer_feature_shape=True)
            .validate_input_data()
            .preprocess(TFX_TAXI_MODULE)
            .train(TFX_TAXI_MODULE, train_args=1000, eval_args=150)
            .evaluate_model(tfx_eval_config())
            .push_to(serving)
            .with_beam_pipeline_args(beam_args)
            .cache()
            .record_configuration(False))
  return hand_written, fluent


PUSHER_EXECUTORS = ('tfx.components.pusher.executor.Executor',
                    'fluent_pipeline.components.pusher.Executor')


def _as_hand_written(ir):
  """`ir` with the two deliberate differences undone: each module_file set
  back to TFX's taxi module (after checking it is the cut-down copy of it
  the chain makes), and the Pusher's executor back to TFX's (after checking
  it is fluent_pipeline's)."""
  from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
  ir = type(ir).FromString(ir.SerializeToString())
  for node in ir.nodes:
    parameters = node.pipeline_node.parameters.parameters
    if 'module_file' in parameters:
      value = parameters['module_file'].field_value
      folder, name = os.path.split(value.string_value)
      assert name == os.path.basename(TFX_TAXI_MODULE), value
      assert os.path.basename(os.path.dirname(folder)) == '_fluent_user_code'
      value.string_value = TFX_TAXI_MODULE
  config = pipeline_pb2.IntermediateDeploymentConfig()
  ir.deployment_config.Unpack(config)
  spec = executable_spec_pb2.PythonClassExecutableSpec()
  config.executor_specs['Pusher'].Unpack(spec)
  assert spec.class_path == PUSHER_EXECUTORS[1], spec
  spec.class_path = PUSHER_EXECUTORS[0]
  config.executor_specs['Pusher'].Pack(spec)
  ir.deployment_config.Pack(config)
  return ir


def test_same_nodes_types_edges_and_exec_properties(both):
  hand_written, fluent = both
  expected = compile_ir(hand_written)
  got = _as_hand_written(compile_ir(fluent.build()))
  want_nodes, got_nodes = nodes(expected), nodes(got)
  assert list(got_nodes) == list(want_nodes)  # same ids, same order
  for node_id, node in want_nodes.items():
    assert node_type(got_nodes[node_id]) == node_type(node), node_id
    assert params(got_nodes[node_id]) == params(node), node_id
    assert got_nodes[node_id].inputs == node.inputs, node_id
    assert got_nodes[node_id].outputs == node.outputs, node_id
    assert set(got_nodes[node_id].upstream_nodes) == set(
        node.upstream_nodes), node_id
  assert edges(got) == edges(expected)
  assert got.deployment_config == expected.deployment_config
  assert got == expected  # and nothing else differs either


def test_the_default_csv_reader_differs_only_in_its_executor(both,
                                                             taxi_csv_dir):
  """from_csv's default (columnar) reader is the same node as TFX's
  CsvExampleGen: its id, exec properties, inputs and outputs; only the
  component type and executor differ."""
  from tfx.proto.orchestration import executable_spec_pb2
  _, fluent = both
  tfx_reader = nodes(compile_ir(fluent.build()))['CsvExampleGen']
  columnar = nodes(compile_ir(PipelineDef('taxi', root=fluent.pipeline_root)
                              .from_csv(taxi_csv_dir).build()))[
                                  'CsvExampleGen']
  assert node_type(columnar) == (
      'fluent_pipeline.components.columnar_csv.ColumnarCsvExampleGen')
  assert params(columnar) == params(tfx_reader)
  assert columnar.outputs == tfx_reader.outputs
  from tfx.proto.orchestration import pipeline_pb2

  def executor(pdef):
    config = pipeline_pb2.IntermediateDeploymentConfig()
    compile_ir(pdef.build()).deployment_config.Unpack(config)
    spec = executable_spec_pb2.BeamExecutableSpec()
    config.executor_specs['CsvExampleGen'].Unpack(spec)
    return spec.python_executor_spec.class_path

  executors = {0: executor(fluent), 1: executor(
      PipelineDef('taxi', root=fluent.pipeline_root).from_csv(taxi_csv_dir))}
  assert executors == {
      0: 'tfx.components.example_gen.csv_example_gen.executor.Executor',
      1: 'fluent_pipeline.components.columnar_csv.Executor'}


def test_the_comparison_can_fail(both, taxi_csv_dir):
  hand_written, fluent = both
  expected = compile_ir(hand_written)
  # The same chain with one step changed no longer matches, and the
  # difference is where the change is.
  other_steps = fluent.train(TFX_TAXI_MODULE, train_args=999, eval_args=150)
  got = _as_hand_written(compile_ir(other_steps.build()))
  assert got != expected
  differing = [node_id for node_id, node in nodes(expected).items()
               if params(nodes(got)[node_id]) != params(node)]
  assert differing == ['Trainer']


def test_the_configuration_node_is_the_only_addition(both):
  """With the configuration recorded (the default), the IR is TFX's plus one
  root node with no edges, whose output is the PipelineConfiguration."""
  hand_written, fluent = both
  expected = compile_ir(hand_written)
  got = _as_hand_written(compile_ir(fluent.record_configuration().build()))
  extra = set(nodes(got)) - set(nodes(expected))
  assert extra == {'PipelineConfigurationGen'}
  assert set(nodes(expected)) <= set(nodes(got))
  config_node = nodes(got)['PipelineConfigurationGen']
  assert not config_node.upstream_nodes and not config_node.downstream_nodes
  assert edges(got) == edges(expected)
  assert list(config_node.outputs.outputs) == ['configuration']
  output_type = config_node.outputs.outputs['configuration'].artifact_spec.type
  assert output_type.name == 'fluent_pipeline.PipelineConfiguration'
  for node_id, node in nodes(expected).items():
    assert params(nodes(got)[node_id]) == params(node), node_id


def test_the_chain_uses_tfx_v1_where_the_ir_cannot_tell(both):
  """TFX's hand-written pipeline finds the baseline with the deprecated
  LatestBlessedModelResolver alias, which compiles to the same IR as
  tfx.v1's LatestBlessedModelStrategy: the comparison above cannot tell
  them apart. The chain uses tfx.v1's."""
  from tfx import v1 as tfx
  hand_written, fluent = both

  def strategies(tfx_pipeline):
    return {c.id: c.exec_properties['resolver_class']
            for c in tfx_pipeline.components
            if isinstance(c, tfx.dsl.Resolver)}
  theirs, ours = strategies(hand_written), strategies(fluent.build())
  assert list(ours) == list(theirs) == ['latest_blessed_model_resolver']
  strategy = ours['latest_blessed_model_resolver']
  assert strategy is tfx.dsl.experimental.LatestBlessedModelStrategy
  alias = theirs['latest_blessed_model_resolver']
  assert alias is not strategy and issubclass(alias, strategy)
