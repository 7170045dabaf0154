"""Beam presets: where TFX's Beam-powered components run, in one call.

    from fluent_pipeline import PipelineDef, beam
    pipeline = (PipelineDef('taxi').from_csv('data/').generate_statistics()
                .with_beam(beam.local(workers=2)))

ExampleGen, StatisticsGen, Transform, Evaluator and BulkInferrer run their
work as Apache Beam pipelines. By default fluent pipelines run them in this
process (Beam's DirectRunner, one worker), the fastest choice for data that
fits one machine (docs/BENCHMARKS.md). Each preset here returns the
`beam_pipeline_args` that move that work elsewhere: a plain list of
`--flag=value` strings, exactly what TFX takes, so it works with
hand-written TFX too (`Pipeline(..., beam_pipeline_args=beam.local(2))`).
Flag names are Beam 2.59's own (apache_beam/options/pipeline_options.py).

- `local(workers=N)`: N worker processes on this machine;
- `dataflow(project, region, temp_location, ...)`: Google Cloud Dataflow;
- `flink(master, ...)`, `spark(master, ...)`: Beam's portable runners on
  an Apache Flink or Spark cluster. They need Java and Beam's job-server jar
  for the runner, which Beam downloads from Maven Central the first time a
  component runs (or pass `--flink_job_server_jar=`/`--spark_job_server_jar=`
  in `extra`); they cannot run on a machine without Java and that download,
  so here they are checked against Beam's option parser only.

Arguments are checked when the preset is called, so a wrong region or a
local temp_location fails in seconds, not after a job was submitted. Paths
are never made absolute and URIs never looked up: they are read where the
component runs. `extra` adds flags; one naming a flag the preset sets
replaces the preset's (repeatable flags such as `--experiments` add up).
"""

import os
import re
from collections.abc import Iterable
from typing import Optional

from fluent_pipeline import _paths
from fluent_pipeline.dsl.inputs import StrPath
from fluent_pipeline.errors import PipelineDefinitionError

# When beam_pipeline_args is not empty and names none of Beam's dependency
# flags, every TFX Beam component builds an sdist of the installed TFX
# (copying its 48 MB tree to a temporary directory it never removes) and adds
# it as --extra_package, for remote workers (tfx/utils/dependency_utils.py):
# about 2 s per component and run. Local workers run this very Python, and
# Dataflow's run TFX's image, so both presets name the image: TFX then skips
# the sdist, and the DirectRunner ignores the flag.
_SDK_CONTAINER_IMAGE = '--sdk_container_image'

# Flags Beam appends to rather than replaces (action='append' in Beam 2.59):
# `extra` adds to the preset's.
_REPEATABLE = frozenset({
    '--beam_plugin', '--beam_plugins', '--dataflow_service_option',
    '--dataflow_service_options', '--environment_option',
    '--environment_options', '--experiment', '--experiments',
    '--extra_package', '--extra_packages', '--gcp_oauth_scope',
    '--gcp_oauth_scopes', '--job_server_jvm_properties',
    '--job_server_jvm_property', '--label', '--labels', '--resource_hint',
    '--resource_hints', '--sdk_harness_container_image_overrides',
    '--sdk_harness_log_level_overrides'})

# Other names Beam takes for a flag a preset sets (or, for the image, the
# legacy flag Beam refuses beside a different --sdk_container_image).
_ALIASES = {'--worker_machine_type': '--machine_type',
            '--worker_harness_container_image': '--sdk_container_image',
            '--experiment': '--experiments'}

_ENVIRONMENT_TYPES = ('LOOPBACK', 'DOCKER', 'PROCESS', 'EXTERNAL')

# Beam's own patterns (apache_beam/options/pipeline_options_validator.py).
_PROJECT_ID = re.compile(r'[a-z][-a-z0-9:.]+[a-z0-9]')
_GCS_BUCKET = re.compile(r'[a-z0-9][-_a-z0-9.]+[a-z0-9]')
_REGION = re.compile(r'[a-z]+(-[a-z]+)+[0-9]+')
_ZONE = re.compile(r'([a-z]+(-[a-z]+)+[0-9]+)-[a-z]')
_MACHINE_TYPE = re.compile(r'[a-z][a-z0-9-]*[a-z0-9]')
_EMAIL = re.compile(r'[^@\s]+@[^@\s]+\.[^@\s]+')
_HOST_PORT = r'[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}'
_FLINK_MASTER = re.compile(rf'(https?://)?{_HOST_PORT}/?|\[local\]|\[auto\]')
_SPARK_MASTER = re.compile(
    rf'spark://{_HOST_PORT}(,{_HOST_PORT})*|'
    r'local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?')


def local(workers: Optional[int] = None) -> list[str]:
  """Beam's DirectRunner with `workers` processes on this machine.

  Worth it only for data big enough that parallel work outweighs starting
  the workers and pickling data to them: on 2 cores the taxi data stage
  first ran faster between 240,000 and 480,000 rows (docs/BENCHMARKS.md);
  below that the in-process default is faster. `workers=None` takes one per
  CPU of the machine the pipeline runs on, counted at run time.
  """
  step = 'beam.local'
  if workers is not None:
    _positive_int(step, 'workers', workers, 'beam.local(workers=2)')
  return [
      '--direct_running_mode=multi_processing',
      # 0: Beam counts the CPUs at run time (TFX's examples use 0).
      f'--direct_num_workers={workers or 0}',
      f'{_SDK_CONTAINER_IMAGE}={_tfx_image()}',
  ]


def dataflow(project: str, region: str, temp_location: str, *,
             staging_location: Optional[str] = None,
             machine_type: Optional[str] = None,
             max_num_workers: Optional[int] = None,
             service_account: Optional[str] = None,
             network: Optional[str] = None,
             subnetwork: Optional[str] = None,
             requirements_file: Optional[StrPath] = None,
             setup_file: Optional[StrPath] = None,
             extra: Iterable[str] = ()) -> list[str]:
  """Google Cloud Dataflow, for data no single machine should process.

  Dataflow workers run TFX's image of the installed TFX version
  (`--sdk_container_image`, as TFX's own Vertex examples do), which has
  every library TFX's Beam code needs; pass your own image in `extra` to
  replace it. `requirements_file` and `setup_file` are read (and pip-
  installed on every worker) where the component runs: on Vertex, inside
  the pipeline's image, so give their path there. Dataflow writes temporary
  and staged files under `temp_location` (and `staging_location`), which
  must be Cloud Storage: `gs://bucket/path`.
  """
  step = 'beam.dataflow'
  extra = _flags(step, extra)
  _check_project(step, project)
  _check_region(step, region)
  args = ['--runner=DataflowRunner', f'--project={project}',
          f'--region={region}',
          f'--temp_location={_gcs(step, "temp_location", temp_location)}']
  if staging_location is not None:
    args.append('--staging_location='
                f'{_gcs(step, "staging_location", staging_location)}')
  if machine_type is not None:
    if not isinstance(machine_type, str) or not _MACHINE_TYPE.fullmatch(
        machine_type):
      raise PipelineDefinitionError(
          step, f'machine_type {machine_type!r} is not a Compute Engine '
          'machine type', fix="machine_type='n1-standard-4'")
    args.append(f'--machine_type={machine_type}')
  if max_num_workers is not None:
    _positive_int(step, 'max_num_workers', max_num_workers,
                  'max_num_workers=10')
    args.append(f'--max_num_workers={max_num_workers}')
  if service_account is not None:
    if not isinstance(service_account, str) or not _EMAIL.fullmatch(
        service_account):
      raise PipelineDefinitionError(
          step, f'service_account {service_account!r} is not a service '
          'account email',
          fix="service_account='NAME@PROJECT.iam.gserviceaccount.com'")
    args.append(f'--service_account_email={service_account}')
  if network is not None:
    args.append(f'--network={_name(step, "network", network)}')
  if subnetwork is not None:
    args.append(f'--subnetwork={_subnetwork(step, subnetwork, region)}')
  if requirements_file is not None:
    args.append('--requirements_file='
                f'{_launcher_file(step, "requirements_file", requirements_file)}')
  if setup_file is not None:
    setup_file = _launcher_file(step, 'setup_file', setup_file)
    if os.path.basename(setup_file) != 'setup.py':
      raise PipelineDefinitionError(
          step, f'setup_file {setup_file!r} is not named setup.py, which '
          'Beam requires (it builds the folder holding it as a package)',
          fix="setup_file='path/to/your_package/setup.py'")
    args.append(f'--setup_file={setup_file}')
  args.append(f'{_SDK_CONTAINER_IMAGE}={_tfx_image()}')
  return _merge(args, extra)


def flink(master: str, parallelism: Optional[int] = None, *,
          environment_type: str = 'LOOPBACK',
          extra: Iterable[str] = ()) -> list[str]:
  """Beam's FlinkRunner on the Flink cluster at `master`.

  `master` is the JobManager's REST address, `host:port` (Flink's
  8081), or `[local]` for a Flink mini-cluster in the job server, `[auto]`
  to let the job server decide. `parallelism` is the job's parallelism and
  the number of Python SDK workers (Flink's default: its configured one).
  LOOPBACK runs the Python user code in the process that launched the job,
  as TFX's examples do, so no container image with TFX is needed but the
  cluster must reach that process; DOCKER or PROCESS run it on the cluster
  (pass `--environment_config=` or `--environment_option=` in `extra`).
  Needs Java and Beam's Flink job-server jar, fetched from Maven Central at
  run time.
  """
  step = 'beam.flink'
  extra = _flags(step, extra)
  if not isinstance(master, str) or not _FLINK_MASTER.fullmatch(master):
    raise PipelineDefinitionError(
        step, f'master {master!r} is not a Flink JobManager address '
        '(host:port, [local] or [auto])',
        fix="beam.flink('flink-jobmanager:8081'), or beam.flink('[local]') "
        'for a local mini-cluster')
  args = ['--runner=FlinkRunner', f'--flink_master={master}']
  if parallelism is not None:
    _positive_int(step, 'parallelism', parallelism,
                  "beam.flink('host:8081', parallelism=4)")
    args.append(f'--parallelism={parallelism}')
  args += _portable(step, environment_type, extra, parallelism)
  return _merge(args, extra)


def spark(master: str, *, environment_type: str = 'LOOPBACK',
          extra: Iterable[str] = ()) -> list[str]:
  """Beam's SparkRunner on the Spark cluster at `master`.

  `master` is a Spark master URL: `spark://host:port` (standalone, 7077),
  or `local`, `local[N]`, `local[*]` for Spark inside the job server.
  LOOPBACK runs the Python user code in the process that launched the job,
  as TFX's examples do; DOCKER or PROCESS run it on the cluster (pass
  `--environment_config=` or `--environment_option=` in `extra`). Needs
  Java and Beam's Spark job-server jar, fetched from Maven Central at run
  time.
  """
  step = 'beam.spark'
  extra = _flags(step, extra)
  if not isinstance(master, str) or not _SPARK_MASTER.fullmatch(master):
    raise PipelineDefinitionError(
        step, f'master {master!r} is not a Spark master URL '
        '(spark://host:port, local or local[N])',
        fix="beam.spark('spark://spark-master:7077'), or "
        "beam.spark('local[4]') for Spark inside the job server")
  args = ['--runner=SparkRunner', f'--spark_master_url={master}']
  args += _portable(step, environment_type, extra, None)
  return _merge(args, extra)


# ------------------------------------------------------------------ helpers
def _tfx_image() -> str:
  from fluent_pipeline.orchestration import compile
  return compile.base_image()


def _portable(step: str, environment_type: str, extra: list[str],
              parallelism: Optional[int]) -> list[str]:
  """The flags TFX's own Flink and Spark examples pass
  (tfx/examples/penguin/penguin_pipeline_local.py)."""
  if environment_type not in _ENVIRONMENT_TYPES:
    upper = str(environment_type).upper()
    raise PipelineDefinitionError(
        step, f'environment_type {environment_type!r} is not one of Beam\'s: '
        f'{", ".join(_ENVIRONMENT_TYPES)}',
        fix=f'environment_type={upper!r}' if upper in _ENVIRONMENT_TYPES
        else "environment_type='LOOPBACK'")
  if environment_type in ('PROCESS', 'EXTERNAL') and not any(
      _flag_name(a) in ('--environment_config', '--environment_option',
                        '--environment_options')
      for a in extra):
    needed = ('process_command=/path/to/boot' if environment_type == 'PROCESS'
              else 'external_service_address=host:port')
    raise PipelineDefinitionError(
        step, f'environment_type {environment_type!r} needs to know how to '
        'reach the Python workers',
        fix=f"extra=['--environment_option={needed}']")
  args = [f'--environment_type={environment_type}']
  if environment_type == 'LOOPBACK':
    # Python workers as processes rather than threads of the launcher.
    args.append('--experiments=use_loopback_process_worker=True')
  if parallelism is not None:
    args.append(f'--sdk_worker_parallelism={parallelism}')
  # Reuse the SDK workers for the whole job instead of restarting them.
  args.append('--environment_cache_millis=1000000')
  args.append('--experiments=pre_optimize=all')
  return args


def _positive_int(step: str, arg: str, value, fix: str) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise PipelineDefinitionError(
        step, f'{arg} must be a positive whole number, got {value!r}', fix=fix)


def _check_project(step: str, project) -> None:
  if isinstance(project, str) and project.isdigit():
    raise PipelineDefinitionError(
        step, f'project {project!r} is a project number; Dataflow takes the '
        'project ID', fix="dataflow('my-project-id', ...)")
  if not isinstance(project, str) or not _PROJECT_ID.fullmatch(project):
    raise PipelineDefinitionError(
        step, f'project {project!r} is not a Google Cloud project ID '
        '(lowercase letters, digits and hyphens)',
        fix="dataflow('my-project-id', ...)")


def _check_region(step: str, region) -> None:
  zone = _ZONE.fullmatch(region) if isinstance(region, str) else None
  if zone:
    raise PipelineDefinitionError(
        step, f'region {region!r} is a zone; Dataflow takes a region',
        fix=f'region={zone.group(1)!r}')
  if not isinstance(region, str) or not _REGION.fullmatch(region):
    raise PipelineDefinitionError(
        step, f'region {region!r} is not a Google Cloud region',
        fix="region='us-central1'")


def _gcs(step: str, arg: str, value) -> str:
  """A gs:// location as given: Dataflow workers cannot read a local one."""
  value = os.fspath(value) if isinstance(value, os.PathLike) else value
  fix = f"{arg}='gs://your-bucket/tmp'"
  if not isinstance(value, str) or not value.startswith('gs://'):
    if not isinstance(value, str):
      what = f'a {type(value).__name__}'
    elif _paths.is_uri(value):
      what = f'on {value.partition(":")[0]}'
    else:
      what = 'a local path'
    raise PipelineDefinitionError(
        step, f'{arg} {value!r} is {what}, not Cloud Storage: Dataflow '
        'workers share files only through a gs:// bucket', fix=fix)
  bucket, _, path = value[len('gs://'):].partition('/')
  if not _GCS_BUCKET.fullmatch(bucket):
    raise PipelineDefinitionError(
        step, f'{arg} {value!r}: {bucket!r} is not a bucket name (3 or more '
        "lowercase letters, digits, '-', '_' and '.')", fix=fix)
  if not path or any(c in path for c in '\r\n'):
    raise PipelineDefinitionError(
        step, f'{arg} {value!r} names a bucket but no folder in it', fix=fix)
  return value


def _name(step: str, arg: str, value) -> str:
  if not isinstance(value, str) or not value or any(
      c.isspace() for c in value):
    raise PipelineDefinitionError(
        step, f'{arg} {value!r} is not a VPC network name',
        fix=f"{arg}='default'")
  return value


def _subnetwork(step: str, value, region: str) -> str:
  fix = (f"subnetwork='regions/{region}/subnetworks/NAME' (or its full "
         'https://www.googleapis.com/compute/v1/projects/... URL)')
  if not isinstance(value, str) or '/subnetworks/' not in value or any(
      c.isspace() for c in value):
    raise PipelineDefinitionError(
        step, f'subnetwork {value!r} is not a subnetwork path', fix=fix)
  found = re.search(r'regions/([^/]+)/subnetworks/', value)
  if found and found.group(1) != region:
    raise PipelineDefinitionError(
        step, f'subnetwork {value!r} is in {found.group(1)}, the job in '
        f'{region}; Dataflow needs them in the same region', fix=fix)
  return value


def _launcher_file(step: str, arg: str, value) -> str:
  """A file Beam reads where the job is launched (the component's
  machine or container): a path there, never a URI, not checked here."""
  value = os.fspath(value) if isinstance(value, os.PathLike) else value
  if not isinstance(value, str) or not value:
    raise PipelineDefinitionError(
        step, f'{arg} must be a path, got {value!r}',
        fix=f"{arg}='requirements.txt'" if arg == 'requirements_file'
        else f"{arg}='setup.py'")
  if _paths.is_uri(value):
    raise PipelineDefinitionError(
        step, f'{arg} {value!r} is remote; Beam reads it from the disk of the '
        'machine that launches the Dataflow job (on Vertex, the pipeline\'s '
        'image)', fix='put the file in the image and pass its path there')
  return value


def _flag_name(arg: str) -> str:
  return arg.partition('=')[0]


def _flags(step: str, extra: Iterable[str]) -> list[str]:
  if isinstance(extra, str) or extra is None:
    raise PipelineDefinitionError(
        step, f'extra must be a list of flags, got {extra!r}',
        fix="extra=['--flag=value']")
  flags = list(extra)
  for arg in flags:
    if not isinstance(arg, str) or not arg.startswith('--') or len(arg) < 3:
      raise PipelineDefinitionError(
          step, f'extra flag {arg!r} is not a Beam flag', fix=(
              "write each as one '--flag=value' string"))
  return flags


def _merge(args: list[str], extra: list[str]) -> list[str]:
  """The preset's flags, less those `extra` names again, then `extra`."""
  replaced = {_ALIASES.get(n, n) for n in map(_flag_name, extra)} - _REPEATABLE
  return [a for a in args
          if _ALIASES.get(_flag_name(a), _flag_name(a)) not in replaced] + extra
