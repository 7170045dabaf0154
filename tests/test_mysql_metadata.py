"""ML Metadata on a real MariaDB server, started on loopback for this module.

MariaDB comes from Debian's packages (`.ci/run` installs mariadb-server when
it is missing); the server gets a fresh data directory and a free port.
"""

import getpass
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from fluent_pipeline import PipelineDef, PipelineDefinitionError, read_run

PLANTED_PASSWORD = 'Planted-Pw-7f3a9c'
PLANTED_KEY = 'Planted-Key-5e1d04'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _tool(name: str) -> str:
  path = shutil.which(name) or os.path.join('/usr/sbin', name)
  if not os.path.exists(path):
    pytest.fail(f'{name} not found: install Debian\'s mariadb-server '
                '(apt-get install mariadb-server; .ci/run does it)')
  return path


@pytest.fixture(scope='module')
def mariadb():
  datadir = tempfile.mkdtemp(prefix='fluent-mariadb-')
  user = getpass.getuser()
  subprocess.run(
      [_tool('mariadb-install-db'), '--no-defaults',
       f'--datadir={datadir}/data', f'--user={user}',
       '--auth-root-authentication-method=normal', '--skip-test-db'],
      check=True, capture_output=True)
  port = _free_port()
  server = subprocess.Popen(
      [_tool('mariadbd'), '--no-defaults', f'--datadir={datadir}/data',
       f'--user={user}', '--bind-address=127.0.0.1', f'--port={port}',
       f'--socket={datadir}/sock', f'--pid-file={datadir}/pid',
       f'--log-error={datadir}/err.log'])
  client = [_tool('mariadb'), '--no-defaults', '-h127.0.0.1', f'-P{port}',
            '-uroot']
  try:
    deadline = time.monotonic() + 60
    while subprocess.run(client + ['-e', 'SELECT 1'],
                         capture_output=True).returncode != 0:
      if server.poll() is not None or time.monotonic() > deadline:
        with open(f'{datadir}/err.log') as f:
          pytest.fail(f'MariaDB did not start:\n{f.read()[-2000:]}')
      time.sleep(0.2)
    subprocess.run(client + ['-e', (
        "CREATE DATABASE mlmd; CREATE USER 'tfx'@'127.0.0.1' IDENTIFIED BY "
        "'secret'; GRANT ALL ON mlmd.* TO 'tfx'@'127.0.0.1'; "
        "CREATE DATABASE planted; CREATE USER 'planted'@'127.0.0.1' "
        f"IDENTIFIED BY '{PLANTED_PASSWORD}'; "
        "GRANT ALL ON planted.* TO 'planted'@'127.0.0.1';")], check=True)
    yield dict(host='127.0.0.1', port=port, database='mlmd', user='tfx',
               password='secret')
  finally:
    server.terminate()
    server.wait(timeout=60)
    shutil.rmtree(datadir, ignore_errors=True)


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
      [_tool('mariadb'), '--no-defaults', '-h127.0.0.1',
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
      [_tool('mariadb-dump'), '--no-defaults', '-h127.0.0.1',
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
