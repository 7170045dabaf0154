"""ML Metadata on a real MariaDB server, started on loopback for this module.

MariaDB comes from Debian's packages (`.ci/run` installs mariadb-server when
it is missing); the server gets a fresh data directory and a free port.
"""

import json
import os
import subprocess

import pytest
import servers

from fluent_pipeline import PipelineDef, PipelineDefinitionError, read_run

PLANTED_PASSWORD = 'Planted-Pw-7f3a9c'
PLANTED_KEY = 'Planted-Key-5e1d04'


@pytest.fixture(scope='module')
def mariadb():
  """The shared MariaDB server, with a second database whose password
  must appear in no file the project writes."""
  with servers.mariadb_server(servers.MLMD_SQL + (
      "CREATE DATABASE planted; CREATE USER 'planted'@'127.0.0.1' "
      f"IDENTIFIED BY '{PLANTED_PASSWORD}'; "
      "GRANT ALL ON planted.* TO 'planted'@'127.0.0.1';")) as connection:
    yield connection


@pytest.mark.e2e
def test_runs_are_recorded_cached_and_read_back_on_mariadb(
    mariadb, tmp_path, taxi_csv_dir):
  pdef = (PipelineDef('on_mariadb', root=str(tmp_path))
          .from_csv(taxi_csv_dir).generate_statistics().infer_schema()
          .cache().with_mysql_ml_metadata(**mariadb))
  assert pdef.metadata_path is None
  first = pdef.run()
  assert set(first.states.values()) == {'COMPLETE'}
  second = pdef.run()
  assert set(second.states.values()) == {'CACHED'}
  assert not os.path.exists(os.path.join(pdef.pipeline_root,
                                         'metadata.sqlite'))
  again = read_run(pdef, first.run_id)
  assert again.states == first.states
  assert again.component('SchemaGen').outputs == \
      first.component('SchemaGen').outputs
  # The store is really MariaDB: ML Metadata's tables are in `mlmd`.
  tables = subprocess.run(
      [servers.mariadb_tool('mariadb'), '--no-defaults', '-h127.0.0.1',
       f'-P{mariadb["port"]}', '-utfx', '-psecret', '-N', '-e',
       'SELECT COUNT(*) FROM mlmd.Execution'],
      capture_output=True, text=True, check=True).stdout.strip()
  assert int(tables) >= 6


def test_bad_mysql_settings_are_refused_before_running(tmp_path):
  base = PipelineDef('p', root=str(tmp_path))
  with pytest.raises(PipelineDefinitionError, match='port 0 is not a TCP port'):
    base.with_mysql_ml_metadata(port=0)
  with pytest.raises(PipelineDefinitionError, match='database must be'):
    base.with_mysql_ml_metadata(database='')


@pytest.mark.e2e
def test_no_secret_reaches_a_file_the_store_or_what_is_printed(
    mariadb, tmp_path, taxi_csv_dir):
  """The MLMD password and a secret Beam flag, planted, then looked for in
  every file under the root (logs, artifacts, the configuration), in a dump
  of the whole ML Metadata database, and in what runs/show/diff print."""
  from fluent_pipeline import diff, runs
  from fluent_pipeline.cli import runs_table
  pdef = (PipelineDef('secrets', root=str(tmp_path))
          .from_csv(taxi_csv_dir).generate_statistics()
          .with_beam_pipeline_args(['--direct_num_workers=1',
                                    f'--s3_secret_access_key={PLANTED_KEY}'])
          .with_mysql_ml_metadata(
              host=mariadb['host'], port=mariadb['port'], database='planted',
              user='planted', password=PLANTED_PASSWORD))
  first = pdef.run()
  second = pdef.run(verbose=False)
  assert set(first.states.values()) == {'COMPLETE'}
  assert first.configuration['settings']['metadata']['mysql'][
      'password'] == '***'
  assert '--s3_secret_access_key=***' in first.configuration['settings'][
      'beam_pipeline_args']
  planted = (PLANTED_PASSWORD.encode(), PLANTED_KEY.encode())
  files = 0
  for folder, _, names in os.walk(tmp_path):
    for name in names:
      with open(os.path.join(folder, name), 'rb') as f:
        content = f.read()
      files += 1
      for secret in planted:
        assert secret not in content, os.path.join(folder, name)
  assert files > 5
  with open(first.log_path) as f:
    assert 'password: "***"' in f.read()  # TFX logged the config, masked
  dump = subprocess.run(
      [servers.mariadb_tool('mariadb-dump'), '--no-defaults', '-h127.0.0.1',
       f'-P{mariadb["port"]}', '-uplanted', f'-p{PLANTED_PASSWORD}',
       'planted'], capture_output=True, check=True).stdout
  assert b'PipelineConfiguration' in dump and len(dump) > 10000
  for secret in planted:
    assert secret not in dump
  printed = '\n'.join([
      str(first), str(second), runs_table(runs(pdef)),
      str(diff(pdef, first.run_id, second.run_id)),
      json.dumps(first.configuration)])
  for secret in planted:
    assert secret.decode() not in printed
