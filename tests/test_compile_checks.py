"""What `fluent-pipeline compile` checks before it writes anything: a
component Kubeflow V2 cannot compile (named, with what to change), a spec
naming paths of this machine, a secret a compiled spec or IR would hold in
clear; and how a secret Beam flag reaches the components instead (read from
their environment when they run)."""

import json
import os
import textwrap

import pytest
import taxi_utils  # examples/chicago_taxi, on sys.path (conftest)

from fluent_pipeline import PipelineDef, PipelineDefinitionError
from fluent_pipeline.cli import main
from fluent_pipeline.orchestration import compile as compile_
from fluent_pipeline.orchestration import compile_checks

IMAGE = 'gcr.io/project/pipelines/checks:1'

COMPONENT_FILE = textwrap.dedent('''
    from tfx.dsl.component.experimental.annotations import (
        InputArtifact, OutputArtifact)
    from tfx.dsl.component.experimental.decorators import component
    from tfx.types import artifact, standard_artifacts
    from fluent_pipeline import PipelineDef


    class FetchedData(artifact.Artifact):
      TYPE_NAME = {type_name!r}


    @component
    def FetchExternal(
        statistics: InputArtifact[standard_artifacts.ExampleStatistics],
        fetched: OutputArtifact[{output_type}]):
      del statistics, fetched


    pipeline = (PipelineDef('fetching', root='gs://bucket/runs')
                .from_csv('gs://bucket/data/').generate_statistics()
                .add_component(FetchExternal))
    ''')


def component_file(tmp_path, name, output_type, type_name='unused.Name'):
  file = tmp_path / f'{name}.py'
  file.write_text(COMPONENT_FILE.format(output_type=output_type,
                                        type_name=type_name))
  return str(file)


def test_a_type_kubeflow_cannot_name_is_said_as_the_component_and_its_fix(
    tmp_path, capsys):
  """KubeflowV2DagRunner raises `ValueError: Invalid custom artifact type
  name` nine frames down: the CLI says which component, which output and
  what to change, in one line and its fix, exit code 2."""
  file = component_file(tmp_path, 'external_output',
                        'standard_artifacts.ExternalArtifact')
  out = tmp_path / 'build'
  assert main(['compile', file, '--runner', 'vertex', '--image', IMAGE,
               '-o', str(out)]) == 2
  err = capsys.readouterr().err
  lines = err.strip().splitlines()
  assert len(lines) == 2, err
  assert lines[0].startswith("error: compile: FetchExternal: output "
                             "'fetched' has the artifact type "
                             'ExternalArtifact, which Kubeflow V2 / Vertex '
                             'cannot compile')
  assert lines[1].startswith('  fix: use a standard artifact type, or a '
                             'subclass of tfx.types.Artifact with TYPE_NAME')
  assert 'Traceback' not in err and not out.exists()
  # The fix works: a custom type named 'namespace.Name' compiles.
  file = component_file(tmp_path, 'named_output', 'FetchedData',
                        type_name='mycompany.FetchedData')
  assert main(['compile', file, '--runner', 'vertex', '--image', IMAGE,
               '-o', str(out)]) == 0, capsys.readouterr().err
  assert 'mycompany.FetchedData' in (out / 'pipeline.json').read_text()


def test_any_compile_failure_names_its_component(tmp_path):
  """Whatever KubeflowV2DagRunner raises while it compiles a component is
  a PipelineDefinitionError naming that component (here: an executor
  class defined in a function, which no container can import)."""
  from tfx.dsl.components.base import (
      base_component,
      base_executor,
      executor_spec,
  )
  from tfx.types import component_spec, standard_artifacts

  class LocalExecutor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
      del input_dict, output_dict, exec_properties

  class CheckSpec(component_spec.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {'statistics': component_spec.ChannelParameter(
        type=standard_artifacts.ExampleStatistics)}
    OUTPUTS = {}

  class LocalCheck(base_component.BaseComponent):
    SPEC_CLASS = CheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(LocalExecutor)

    def __init__(self, statistics):
      super().__init__(spec=CheckSpec(statistics=statistics))

  pipeline = (PipelineDef('local-executor', root='gs://bucket/runs')
              .from_csv('gs://bucket/data/').generate_statistics()
              .add_component(LocalCheck)).build()
  with pytest.raises(PipelineDefinitionError) as raised:
    compile_._kubeflow_spec(pipeline, IMAGE, str(tmp_path), 'compile')
  message = str(raised.value)
  assert message.startswith('compile: LocalCheck: Kubeflow V2 / Vertex '
                            'cannot compile it (ValueError: ')
  assert 'qualified name' in message and 'compile for local' in message
  assert os.listdir(tmp_path) == []


# ------------------------------------------------------------ local paths
def test_local_paths_are_refused_before_anything_is_written(
    tmp_path, taxi_csv_dir):
  """An earlier compile in the output directory is left as it was; a URI
  is never a local path; allow_local_paths writes the spec and says them."""
  out = tmp_path / 'build'
  remote = (PipelineDef('paths', root='gs://bucket/runs')
            .from_csv('gs://bucket/data/').generate_statistics()
            .infer_schema().train(taxi_utils.run_fn, train_args=5))
  written = compile_.write_image_build(remote, 'vertex', str(out),
                                       image=IMAGE)
  assert written['local_paths'] == ''  # gs:// paths are never local
  before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
  local = (PipelineDef('paths', root=str(tmp_path / 'runs'))
           .from_csv(taxi_csv_dir).generate_statistics()
           .infer_schema().train(taxi_utils.run_fn, train_args=5))
  with pytest.raises(PipelineDefinitionError) as raised:
    compile_.write_image_build(local, 'vertex', str(out), image=IMAGE)
  message = str(raised.value)
  assert 'the spec names paths of this machine' in message
  assert f'{tmp_path / "runs"} (the pipeline root;' in message
  assert taxi_csv_dir in message
  assert 'allow_local_paths=True' in raised.value.fix
  assert 'nothing was written' in raised.value.fix
  after = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
  assert after == before
  written = compile_.write_image_build(local, 'vertex', str(out),
                                       image=IMAGE, allow_local_paths=True)
  assert taxi_csv_dir in written['local_paths'].splitlines()
  assert str(tmp_path / 'runs' / 'paths') in written['local_paths']
  assert not (tmp_path / 'runs').exists()  # named, not created


def test_only_paths_of_this_machine_count():
  job = {'a': '/definitely/not/here', 'b': ['gs://bucket/x', os.getcwd()],
         'c': json.dumps({'nested': '/tmp'}), 'd': '/root/of/p/serving'}
  assert compile_checks.local_paths(job, root='/root/of') == {
      os.getcwd(), '/tmp', '/root/of/p/serving'}
  assert compile_checks.local_paths(job, root='gs://bucket') == {os.getcwd(),
                                                           '/tmp'}


# ------------------------------------------------------------------ secrets
SECRET = 'Planted-c0mpile-s3cret'


def test_the_ir_reads_secret_beam_flags_from_the_environment(
    tmp_path, monkeypatch, capsys):
  """`compile --runner local|beam`: each secret Beam flag is a TFX
  placeholder of its environment variable, which TFX resolves when the
  component runs (the Beam executor operator); the IR holds no secret."""
  from tfx.dsl.compiler import placeholder_utils
  from tfx.orchestration.portable import data_types
  from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

  file = tmp_path / 'ir_secrets.py'
  file.write_text(textwrap.dedent(f'''
      from fluent_pipeline import PipelineDef
      pipeline = (PipelineDef('ir-secrets', root={str(tmp_path / 'r')!r})
                  .from_csv('gs://bucket/data/').generate_statistics()
                  .with_beam_pipeline_args(
                      ['--direct_num_workers=2', '--api_token', {SECRET!r},
                       '--auth_secret={SECRET}-b'])
                  .with_parameters(token={SECRET + '-c'!r}))
      '''))
  path = str(tmp_path / 'ir.json')
  assert main(['compile', str(file), '--runner', 'local', '-o', path]) == 0
  assert ('note: its Beam flags read these secrets from the environment of '
          'the process that runs it: API_TOKEN, AUTH_SECRET') in \
      capsys.readouterr().err
  text = open(path).read()
  assert SECRET not in text
  from google.protobuf import json_format
  ir = json_format.Parse(text, pipeline_pb2.Pipeline())
  config = pipeline_pb2.IntermediateDeploymentConfig()
  ir.deployment_config.Unpack(config)
  spec = executable_spec_pb2.BeamExecutableSpec()
  config.executor_specs['StatisticsGen'].Unpack(spec)
  assert list(spec.beam_pipeline_args) == ['--direct_num_workers=2',
                                           '--api_token']
  monkeypatch.setenv('API_TOKEN', SECRET)
  monkeypatch.setenv('AUTH_SECRET', SECRET + '-b')
  context = placeholder_utils.ResolutionContext(
      exec_info=data_types.ExecutionInfo())
  resolved = [placeholder_utils.resolve_placeholder_expression(p, context)
              for p in spec.beam_pipeline_args_placeholders]
  assert resolved == ['--direct_num_workers=2', '--api_token', SECRET,
                      f'--auth_secret={SECRET}-b']


@pytest.mark.parametrize('runner', ['vertex', 'kubeflow_v2'])
def test_a_kubeflow_spec_never_holds_a_secret_beam_flag(tmp_path, runner,
                                                      capsys):
  """kubeflow_v2: `$(API_TOKEN)`, which Kubernetes expands from the
  container's environment, named in the build's README and by the CLI;
  vertex (no secret reaches a container's environment there): refused,
  nothing written."""
  file = tmp_path / 'beam_secret.py'
  file.write_text(textwrap.dedent('''
      from fluent_pipeline import PipelineDef
      def create_pipeline(api_token: str = 'unused'):
        return (PipelineDef('beam-secret', root='gs://bucket/runs')
                .from_csv('gs://bucket/data/').generate_statistics()
                .with_beam_pipeline_args(['--api_token', api_token,
                                          f'--auth_secret={api_token}-b']))
      '''))
  out = tmp_path / 'build'
  code = main(['compile', str(file), '--runner', runner, '--image', IMAGE,
               '-o', str(out), '--set', f'api_token={SECRET}'])
  err = capsys.readouterr().err
  if runner == 'vertex':
    assert code == 2
    assert 'the Beam flag --api_token holds a secret' in err
    assert 'compile --runner kubeflow_v2' in err and SECRET not in err
    assert not out.exists()
    return
  assert code == 0, err
  for path in out.rglob('*'):
    if path.is_file():
      assert SECRET.encode() not in path.read_bytes(), path
  job = json.loads((out / 'pipeline.json').read_text())
  args = job['pipelineSpec']['deploymentSpec']['executors'][
      'StatisticsGen_executor']['container']['args']
  assert args[-3:] == ['--api_token', '$(API_TOKEN)',
                       '--auth_secret=$(AUTH_SECRET)']
  assert 'API_TOKEN' in (out / 'README.md').read_text()
  assert 'API_TOKEN' in err and 'AUTH_SECRET' in err


def test_a_secret_a_spec_would_hold_as_written_is_refused(tmp_path):
  """Exec properties (a config key) and the IR's ML Metadata connection
  have no environment lookup: refused, naming where it was given."""
  base = (PipelineDef('held', root='gs://bucket/runs')
          .from_csv('gs://bucket/data/').generate_statistics()
          .infer_schema())
  config = base.train(taxi_utils.run_fn, train_args=5,
                      custom_config={'api_key': SECRET})
  for write in (
      lambda: compile_.write_image_build(config, 'kubeflow_v2',
                                         str(tmp_path / 'b'), image=IMAGE),
      lambda: compile_.write_ir(config, 'beam', str(tmp_path / 'ir.json'))):
    with pytest.raises(PipelineDefinitionError) as raised:
      write()
    assert "train(custom_config=...)['api_key'] holds a secret" in str(
        raised.value)
    assert "os.environ['API_KEY']" in raised.value.fix
  mysql = base.with_mysql_ml_metadata(host='db', user='tfx', password=SECRET)
  with pytest.raises(PipelineDefinitionError) as raised:
    compile_.write_ir(mysql, 'local', str(tmp_path / 'ir.json'))
  assert 'with_mysql_ml_metadata(password=...) holds a secret' in str(
      raised.value)
  assert os.listdir(tmp_path) == []
  # The Kubeflow spec has no ML Metadata connection: nothing to refuse.
  written = compile_.write_image_build(mysql, 'kubeflow_v2',
                                       str(tmp_path / 'b'), image=IMAGE)
  for path in (tmp_path / 'b').rglob('*'):
    if path.is_file():
      assert SECRET.encode() not in path.read_bytes(), path
  assert written['environment'] == ''


def test_a_secret_set_for_an_airflow_dag_is_refused(tmp_path, capsys):
  file = tmp_path / 'token_pipeline.py'
  file.write_text(textwrap.dedent('''
      from fluent_pipeline import PipelineDef
      def create_pipeline(api_token: str = 'none'):
        return (PipelineDef('tokens', root='gs://bucket/runs')
                .from_csv('gs://bucket/data/').generate_statistics())
      '''))
  dags = tmp_path / 'dags'
  assert main(['compile', str(file), '--runner', 'airflow', '-o', str(dags),
               '--set', f'api_token={SECRET}']) == 2
  err = capsys.readouterr().err
  assert 'api_token is a secret, which the DAG file would hold in clear' in err
  assert "os.environ.get('API_TOKEN', '')" in err and SECRET not in err
  assert not dags.exists()


@pytest.mark.parametrize('secret', ['p4ss"word!', 'C:\\key\\x9',
                                    'héllo-wörld', 'ab<>&cd'])
def test_a_secret_is_found_however_deep_the_json_holds_it(secret):
  """A spec holds exec properties as JSON text inside JSON: a secret with a
  quote, a backslash or a non-ASCII letter is escaped twice there."""
  inner = json.dumps({'custom_config': json.dumps({'api_token': secret})})
  assert compile_checks.holds(json.dumps({'exec': {'x': inner}}), secret)
  assert not compile_checks.holds(json.dumps({'exec': {'x': 'other'}}),
                                   secret)


def test_a_short_secret_is_found_as_a_urls_password():
  text = json.dumps({'connection': 'mysql://u:hunt2@db/x'})
  assert compile_checks.holds(text, 'hunt2')
  assert not compile_checks.holds(json.dumps({'a': 'hunt20'}), 'hunt2')
