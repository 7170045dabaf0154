"""fluent_pipeline.beam: each preset's flags, as TFX gets them and as Beam
2.59 parses them; the errors for arguments that cannot work.

Nothing runs here: Flink and Spark need Java and Beam's job-server jars
from Maven Central, Dataflow a Google Cloud project. Their flags are checked
with Beam's own option parser and validator instead.
"""

import argparse
import json
import logging
import textwrap

import pytest
from apache_beam.options import pipeline_options as po
from apache_beam.options.pipeline_options_validator import (
  PipelineOptionsValidator,
)
from google.protobuf import json_format
from ir import compile_ir

from fluent_pipeline import PipelineDef, beam
from fluent_pipeline.cli import main
from fluent_pipeline.errors import PipelineDefinitionError

TFX_IMAGE = 'gcr.io/tfx-oss-public/tfx:1.16.0'
DATAFLOW_KWARGS = dict(
    staging_location='gs://my-bucket/staging', machine_type='e2-standard-8',
    max_num_workers=10,
    service_account='runner@my-project.iam.gserviceaccount.com',
    network='my-vpc', subnetwork='regions/europe-west4/subnetworks/my-subnet',
    requirements_file='requirements.txt', setup_file='pkg/setup.py')

PRESETS = {
    'local': lambda: beam.local(workers=2),
    'local_per_cpu': beam.local,
    'dataflow': lambda: beam.dataflow('my-project', 'europe-west4',
                                      'gs://my-bucket/tmp'),
    'dataflow_all': lambda: beam.dataflow(
        'my-project', 'europe-west4', 'gs://my-bucket/tmp',
        extra=['--disk_size_gb=50'], **DATAFLOW_KWARGS),
    'flink': lambda: beam.flink('flink-jobmanager:8081', parallelism=4),
    'flink_local': lambda: beam.flink('[local]'),
    'spark': lambda: beam.spark('spark://spark-master:7077'),
    'spark_local': lambda: beam.spark('local[4]'),
}
RUNNERS = {'local': None, 'dataflow': 'DataflowRunner',
           'flink': 'FlinkRunner', 'spark': 'SparkRunner'}


def beam_parser():
  """Every option Beam 2.59 defines, as PipelineOptions parses them."""
  parser = po._BeamArgumentParser()
  latest = {str(cls): cls for cls in po.PipelineOptions.__subclasses__()}
  for cls in latest.values():  # as get_all_options picks them
    cls._add_argparse_args(parser)
  return parser


def unknown_flags(args):
  """Flags no Beam option takes, by exact name: Beam's own parse accepts
  unknown flags with a warning (and argparse abbreviations silently)."""
  parser = beam_parser()
  return [a for a in args
          if a.partition('=')[0] not in parser._option_string_actions]


def beam_options(args, caplog):
  """Beam's parse of `args`, failing on any flag it would discard."""
  with caplog.at_level(logging.WARNING):
    options = po.PipelineOptions(args)
    options.get_all_options()
  assert not [r for r in caplog.records
              if 'Discarding unparseable args' in r.getMessage()]
  return options


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_the_built_pipeline_carries_the_preset_and_beam_knows_every_flag(
    name, tmp_path, taxi_csv_dir, caplog):
  args = PRESETS[name]()
  assert isinstance(args, list) and all(isinstance(a, str) for a in args)
  pipeline = (PipelineDef('p', root=str(tmp_path)).from_csv(taxi_csv_dir)
              .generate_statistics().with_beam(args).build())
  assert pipeline.beam_pipeline_args == args
  # The compiled IR hands them to each Beam-powered component's executor.
  ir = compile_ir(pipeline)
  from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
  config = pipeline_pb2.IntermediateDeploymentConfig()
  ir.deployment_config.Unpack(config)
  for node in ('CsvExampleGen', 'StatisticsGen'):
    spec = executable_spec_pb2.BeamExecutableSpec()
    config.executor_specs[node].Unpack(spec)
    assert list(spec.beam_pipeline_args) == args, node

  assert unknown_flags(args) == []
  options = beam_options(args, caplog)
  runner = options.view_as(po.StandardOptions).runner
  assert runner == RUNNERS[name.split('_')[0]]
  if runner:
    assert runner in po.StandardOptions.KNOWN_RUNNER_NAMES
  else:  # Beam's default, which TFX's examples rely on too
    assert po.StandardOptions.DEFAULT_RUNNER == 'DirectRunner'


def test_local_runs_workers_as_processes(caplog):
  direct = beam_options(beam.local(workers=2), caplog).view_as(
      po.DirectOptions)
  assert direct.direct_num_workers == 2
  assert direct.direct_running_mode == 'multi_processing'
  # None: one worker per CPU, counted by Beam where the pipeline runs (0).
  assert beam_options(beam.local(), caplog).view_as(
      po.DirectOptions).direct_num_workers == 0


@pytest.mark.parametrize('args', [
    beam.local(workers=2),
    beam.dataflow('my-project', 'europe-west4', 'gs://my-bucket/tmp')])
def test_tfx_builds_no_sdist_of_itself(args):
  """With non-empty Beam args naming no dependency, every TFX Beam component
  builds an sdist of the installed TFX (2 s, 50 MB in /tmp) for remote
  workers; the presets name TFX's image, which local workers ignore."""
  from tfx.utils import dependency_utils
  assert f'--sdk_container_image={TFX_IMAGE}' in args
  assert dependency_utils.make_beam_dependency_flags(list(args)) == args


def test_dataflow_flags_pass_beams_own_checks(caplog):
  args = beam.dataflow('my-project', 'europe-west4', 'gs://my-bucket/tmp',
                       **DATAFLOW_KWARGS)
  assert args == [
      '--runner=DataflowRunner', '--project=my-project',
      '--region=europe-west4', '--temp_location=gs://my-bucket/tmp',
      '--staging_location=gs://my-bucket/staging',
      '--machine_type=e2-standard-8', '--max_num_workers=10',
      '--service_account_email=runner@my-project.iam.gserviceaccount.com',
      '--network=my-vpc',
      '--subnetwork=regions/europe-west4/subnetworks/my-subnet',
      '--requirements_file=requirements.txt', '--setup_file=pkg/setup.py',
      f'--sdk_container_image={TFX_IMAGE}']
  options = beam_options(args, caplog)
  cloud = options.view_as(po.GoogleCloudOptions)
  assert (cloud.project, cloud.region, cloud.temp_location,
          cloud.staging_location, cloud.service_account_email) == (
              'my-project', 'europe-west4', 'gs://my-bucket/tmp',
              'gs://my-bucket/staging',
              'runner@my-project.iam.gserviceaccount.com')
  workers = options.view_as(po.WorkerOptions)
  assert (workers.machine_type, workers.max_num_workers, workers.network,
          workers.subnetwork, workers.sdk_container_image) == (
              'e2-standard-8', 10, 'my-vpc',
              'regions/europe-west4/subnetworks/my-subnet', TFX_IMAGE)
  setup = options.view_as(po.SetupOptions)
  assert (setup.requirements_file, setup.setup_file) == (
      'requirements.txt', 'pkg/setup.py')
  # Beam's checks that need no network (its full validate() looks up the
  # buckets on Cloud Storage).
  validator = PipelineOptionsValidator(options, None)
  assert validator.validate_cloud_options(cloud) == []
  assert validator.validate_gcs_path(cloud, 'temp_location') == []
  assert validator.validate_gcs_path(cloud, 'staging_location') == []
  assert validator.validate_sdk_container_image_options(workers) == []


def test_portable_runners_flags(caplog):
  flink = beam_options(beam.flink('flink-jobmanager:8081', parallelism=4),
                       caplog)
  assert flink.view_as(po.FlinkRunnerOptions).flink_master == (
      'flink-jobmanager:8081')
  assert flink.view_as(po.FlinkRunnerOptions).parallelism == 4
  spark = beam_options(beam.spark('spark://spark-master:7077'), caplog)
  assert spark.view_as(po.SparkRunnerOptions).spark_master_url == (
      'spark://spark-master:7077')
  for options in (flink, spark):
    portable = options.view_as(po.PortableOptions)
    assert portable.environment_type == 'LOOPBACK'  # as TFX's examples
    assert 'use_loopback_process_worker=True' in options.view_as(
        po.DebugOptions).experiments
    assert PipelineOptionsValidator(
        options, None).validate_environment_options(portable) == []
  process = beam_options(beam.spark(
      'local[2]', environment_type='PROCESS',
      extra=['--environment_option=process_command=/opt/apache/beam/boot']),
                         caplog)
  portable = process.view_as(po.PortableOptions)
  assert portable.environment_type == 'PROCESS'
  assert PipelineOptionsValidator(
      process, None).validate_environment_options(portable) == []
  assert 'use_loopback_process_worker=True' not in (
      process.view_as(po.DebugOptions).experiments)


@pytest.mark.parametrize('master', [
    'localhost:8081', 'http://flink.example.com:8081', '10.0.0.7:8081',
    '[local]', '[auto]'])
def test_flink_masters(master):
  assert f'--flink_master={master}' in beam.flink(master)


@pytest.mark.parametrize('master', [
    'spark://spark-master:7077', 'spark://a:7077,b:7077', 'local',
    'local[4]', 'local[*]'])
def test_spark_masters(master):
  assert f'--spark_master_url={master}' in beam.spark(master)


def test_extra_flags_replace_the_presets_own_and_repeatable_ones_add_up():
  args = beam.dataflow(
      'my-project', 'us-central1', 'gs://my-bucket/tmp',
      extra=['--sdk_container_image=europe-docker.pkg.dev/p/r/taxi:7',
             '--worker_machine_type=n2-highmem-8', '--machine_type=x',
             '--experiments=use_runner_v2'])
  assert [a for a in args if 'container_image' in a] == [
      '--sdk_container_image=europe-docker.pkg.dev/p/r/taxi:7']
  assert args[-3:] == ['--worker_machine_type=n2-highmem-8',
                       '--machine_type=x', '--experiments=use_runner_v2']
  flink = beam.flink('[local]', extra=iter(['--experiments=beam_fn_api',
                                            '--flink_master=[auto]']))
  assert flink.count('--experiments=pre_optimize=all') == 1
  assert '--flink_master=[local]' not in flink
  assert flink[-2:] == ['--experiments=beam_fn_api', '--flink_master=[auto]']


def test_the_repeatable_flags_are_beams():
  parser = beam_parser()
  from apache_beam.options import pipeline_options
  repeatable = (argparse._AppendAction,
                pipeline_options._DictUnionAction)
  appended = {option for action in parser._actions
              if isinstance(action, repeatable)
              for option in action.option_strings}
  from fluent_pipeline.orchestration import beam as presets
  assert presets._REPEATABLE == appended


def test_paths_stay_as_given():
  """Never made absolute nor looked for here: Beam reads them where the
  component runs (in the pipeline's image on Vertex)."""
  args = beam.dataflow('my-project', 'us-central1', 'gs://my-bucket/a/../tmp',
                       requirements_file='no/such/requirements.txt',
                       setup_file='no/such/setup.py')
  assert '--temp_location=gs://my-bucket/a/../tmp' in args
  assert '--requirements_file=no/such/requirements.txt' in args
  assert '--setup_file=no/such/setup.py' in args


DF = ('my-project', 'us-central1', 'gs://my-bucket/tmp')
BAD = [
    (lambda: beam.local(workers=0), 'beam.local: workers must be a positive',
     'beam.local(workers=2)'),
    (lambda: beam.local(workers=2.0), 'got 2.0', None),
    (lambda: beam.local(workers=True), 'got True', None),
    (lambda: beam.dataflow('my-project', 'us-central1', '/tmp/beam'),
     "temp_location '/tmp/beam' is a local path, not Cloud Storage",
     "temp_location='gs://your-bucket/tmp'"),
    (lambda: beam.dataflow('my-project', 'us-central1', 'tmp'),
     'is a local path', None),
    (lambda: beam.dataflow('my-project', 'us-central1', 's3://bucket/tmp'),
     "'s3://bucket/tmp' is on s3, not Cloud Storage", None),
    (lambda: beam.dataflow('my-project', 'us-central1', 'gs://my-bucket'),
     'names a bucket but no folder', None),
    (lambda: beam.dataflow('my-project', 'us-central1', 'gs://B/tmp'),
     "'B' is not a bucket name", None),
    (lambda: beam.dataflow(*DF, staging_location='/tmp/staging'),
     'staging_location', None),
    (lambda: beam.dataflow('123456789', 'us-central1', 'gs://my-bucket/t'),
     'is a project number', None),
    (lambda: beam.dataflow('My Project', 'us-central1', 'gs://my-bucket/t'),
     'is not a Google Cloud project ID', None),
    (lambda: beam.dataflow('my-project', 'us-central1-a', 'gs://my-bucket/t'),
     "region 'us-central1-a' is a zone", "region='us-central1'"),
    (lambda: beam.dataflow('my-project', 'US', 'gs://my-bucket/t'),
     'is not a Google Cloud region', None),
    (lambda: beam.dataflow(*DF, max_num_workers=0), 'max_num_workers', None),
    (lambda: beam.dataflow(*DF, machine_type='e2 standard'),
     'not a Compute Engine machine type', None),
    (lambda: beam.dataflow(*DF, service_account='runner'),
     'not a service account email', None),
    (lambda: beam.dataflow(*DF, subnetwork='my-subnet'),
     'not a subnetwork path', None),
    (lambda: beam.dataflow(
        *DF, subnetwork='regions/europe-west4/subnetworks/s'),
     'is in europe-west4, the job in us-central1', None),
    (lambda: beam.dataflow(*DF, setup_file='pkg/build.py'),
     'is not named setup.py', None),
    (lambda: beam.dataflow(*DF, requirements_file='gs://my-bucket/req.txt'),
     'is remote', None),
    (lambda: beam.dataflow(*DF, extra='--disk_size_gb=50'),
     'extra must be a list of flags', None),
    (lambda: beam.dataflow(*DF, extra=['--disk_size_gb', '50']),
     "extra flag '50' is not a Beam flag", "'--flag=value'"),
    (lambda: beam.flink('localhost'), "master 'localhost' is not a Flink",
     "beam.flink('flink-jobmanager:8081')"),
    (lambda: beam.flink('local'), 'not a Flink JobManager address', None),
    (lambda: beam.flink('[local]', parallelism=0), 'parallelism', None),
    (lambda: beam.flink('[local]', environment_type='docker'),
     "environment_type 'docker' is not one of Beam's",
     "environment_type='DOCKER'"),
    (lambda: beam.flink('[local]', environment_type='PROCESS'),
     "environment_type 'PROCESS' needs",
     "extra=['--environment_option=process_command=/path/to/boot']"),
    (lambda: beam.spark('spark-master:7077'), 'not a Spark master URL',
     "beam.spark('spark://spark-master:7077')"),
    (lambda: beam.spark('local[0]'), 'not a Spark master URL', None),
    (lambda: beam.spark('[local]'), 'not a Spark master URL', None),
    (lambda: beam.spark('local', environment_type='EXTERNAL'),
     "'EXTERNAL' needs", 'external_service_address'),
]


@pytest.mark.parametrize('call,problem,fix', BAD)
def test_clear_errors(call, problem, fix):
  with pytest.raises(PipelineDefinitionError) as raised:
    call()
  assert problem in str(raised.value)
  assert raised.value.fix
  if fix:
    assert fix in raised.value.fix


def test_with_beam_takes_a_preset_or_any_iterable_of_flags(tmp_path,
                                                           taxi_csv_dir):
  base = PipelineDef('p', root=str(tmp_path)).from_csv(taxi_csv_dir)
  flags = ('--direct_num_workers=1', '--direct_running_mode=in_memory')
  assert base.with_beam(iter(flags)).build().beam_pipeline_args == list(flags)
  # Replaces earlier Beam args, like with_beam_pipeline_args.
  local = base.with_beam(['--x=1']).with_beam(beam.local(workers=2))
  assert local.build().beam_pipeline_args == beam.local(workers=2)
  assert base.with_beam([]).build().beam_pipeline_args == []
  for bad, message in ((beam.local, "got the preset 'local' itself"),
                       ('--direct_num_workers=2', 'expected a list of flags'),
                       (2, 'expected a list of flags'),
                       (['--a=1', 2], 'Beam flags are strings, got 2')):
    with pytest.raises(PipelineDefinitionError, match=message) as raised:
      base.with_beam(bad)
    assert raised.value.step == 'with_beam'
    assert 'beam.local(workers=2)' in raised.value.fix


def test_dataflow_pipeline_compiles_for_vertex_keeping_its_gs_paths(tmp_path):
  file = tmp_path / 'on_dataflow.py'
  file.write_text(textwrap.dedent('''
      from fluent_pipeline import PipelineDef, beam
      pipeline = (PipelineDef('on-dataflow', root='gs://my-bucket/pipelines')
                  .from_csv('gs://my-bucket/data/').generate_statistics()
                  .with_beam(beam.dataflow(
                      'my-project', 'us-central1', 'gs://my-bucket/tmp',
                      staging_location='gs://my-bucket/staging',
                      requirements_file='requirements.txt')))
      '''))
  out = tmp_path / 'build'
  assert main(['compile', str(file), '--runner', 'vertex', '--image',
               'europe-docker.pkg.dev/my-project/p/taxi:1', '-o',
               str(out)]) == 0
  assert not (tmp_path / 'gs:').exists()
  job = json.loads((out / 'pipeline.json').read_text())
  from kfp.pipeline_spec import pipeline_spec_pb2
  json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  expected = beam.dataflow('my-project', 'us-central1', 'gs://my-bucket/tmp',
                           staging_location='gs://my-bucket/staging',
                           requirements_file='requirements.txt')
  for node in ('CsvExampleGen', 'StatisticsGen'):
    args = executors[f'{node}_executor']['container']['args']
    assert args[args.index('{{$}}') + 1:] == expected, node
  text = (out / 'pipeline.json').read_text()
  assert '--temp_location=gs://my-bucket/tmp' in text
  assert 'gs:/my-bucket' not in text and str(tmp_path) not in text
