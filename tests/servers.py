"""The servers the Airflow tests start on loopback (PostgreSQL, Redis,
MariaDB: Debian's, which `make test` installs), each with a fresh data
folder and a free port, stopped when its module is done; and the Airflow
commands those tests run.

conftest.py registers the fixtures. Airflow configures the process it is
imported in (logging, its database), so every Airflow command runs in a
child process with its own AIRFLOW_HOME.
"""

import contextlib
import getpass
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

BIN = os.path.dirname(sys.executable)
AIRFLOW = os.path.join(BIN, 'airflow')
CLI = os.path.join(BIN, 'fluent-pipeline')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _wait(ready, what: str, log: pathlib.Path, server=None,
          seconds: float = 60) -> None:
  deadline = time.monotonic() + seconds
  while not ready():
    if (server is not None and server.poll() is not None) or \
        time.monotonic() > deadline:
      text = log.read_text(errors='replace') if log.exists() else ''
      pytest.fail(f'{what} did not start:\n{text[-2000:]}')
    time.sleep(0.2)


# ------------------------------------------------------------- PostgreSQL
def _pg_bin(name: str) -> str:
  versions = sorted(os.listdir('/usr/lib/postgresql')) if os.path.isdir(
      '/usr/lib/postgresql') else []
  for version in reversed(versions):
    path = os.path.join('/usr/lib/postgresql', version, 'bin', name)
    if os.path.exists(path):
      return path
  pytest.fail(f'PostgreSQL ({name}) not found: apt-get install postgresql '
              '(make test does it)')


@pytest.fixture(scope='module')
def postgres():
  """A throwaway PostgreSQL server on loopback, database and user
  'airflow' (no password): its SQLAlchemy URL. As root, it runs as the
  'postgres' user (PostgreSQL refuses to run as root)."""
  # (not in pytest's tmp folders: they are private to root)
  folder = pathlib.Path(tempfile.mkdtemp(prefix='fluent-postgres-'))
  data = folder / 'data'
  as_user = []
  if os.geteuid() == 0:
    shutil.chown(folder, 'postgres')
    as_user = ['runuser', '-u', 'postgres', '--']
  port = free_port()
  subprocess.run(as_user + [_pg_bin('initdb'), '-D', str(data), '-U',
                            'airflow', '--auth=trust'], check=True,
                 capture_output=True)
  subprocess.run(as_user + [
      _pg_bin('pg_ctl'), '-D', str(data), '-l', str(folder / 'log'), '-w',
      '-o', f'-h 127.0.0.1 -p {port} -k {folder}', 'start'], check=True,
      capture_output=True)
  try:
    subprocess.run([_pg_bin('createdb'), '-h', '127.0.0.1', '-p', str(port),
                    '-U', 'airflow', 'airflow'], check=True,
                   capture_output=True)
    yield f'postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow'
  finally:
    subprocess.run(as_user + [_pg_bin('pg_ctl'), '-D', str(data), '-m',
                              'fast', 'stop'], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def query(postgres_url: str, sql: str, *args) -> list:
  """Rows of `sql` on the database at `postgres_url` (psycopg2: each
  `airflow` command would import Airflow, seconds of CPU per poll)."""
  import psycopg2
  connection = psycopg2.connect(
      postgres_url.replace('postgresql+psycopg2', 'postgresql'))
  try:
    with connection, connection.cursor() as cursor:
      cursor.execute(sql, args)
      return cursor.fetchall()
  finally:
    connection.close()


def task_instances(postgres_url: str, dag_id: str, run_id: str) -> dict:
  """A DAG run's task instances, from Airflow's database: by task id, its
  state, when it was queued, started and ended, and the hostname of the
  worker that ran it."""
  rows = query(postgres_url, 'SELECT task_id, state, queued_dttm, '
               'start_date, end_date, hostname FROM task_instance WHERE '
               'dag_id = %s AND run_id = %s', dag_id, run_id)
  return {task: {'state': state, 'queued': queued, 'start_date': start,
                 'end_date': end, 'hostname': hostname}
          for task, state, queued, start, end, hostname in rows}


# ------------------------------------------------------------------ Redis
def _redis_answers(port: int) -> bool:
  try:
    with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
      s.sendall(b'PING\r\n')
      return s.recv(64).startswith(b'+PONG')
  except OSError:
    return False


@pytest.fixture(scope='module')
def redis():
  """A throwaway Redis server on loopback, nothing saved to disk: its
  port."""
  server_bin = shutil.which('redis-server') or '/usr/bin/redis-server'
  if not os.path.exists(server_bin):
    pytest.fail('redis-server not found: apt-get install redis-server '
                '(make test does it)')
  folder = pathlib.Path(tempfile.mkdtemp(prefix='fluent-redis-'))
  port = free_port()
  log = folder / 'log'
  server = subprocess.Popen(
      [server_bin, '--bind', '127.0.0.1', '--port', str(port), '--save', '',
       '--appendonly', 'no', '--dir', str(folder), '--logfile', str(log)],
      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
      stderr=subprocess.STDOUT)
  try:
    _wait(lambda: _redis_answers(port), 'Redis', log, server)
    yield port
  finally:
    server.terminate()
    server.wait(timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- MariaDB
def mariadb_tool(name: str) -> str:
  path = shutil.which(name) or os.path.join('/usr/sbin', name)
  if not os.path.exists(path):
    pytest.fail(f'{name} not found: install Debian\'s mariadb-server '
                '(apt-get install mariadb-server; make test does it)')
  return path


MLMD_SQL = ("CREATE DATABASE mlmd; CREATE USER 'tfx'@'127.0.0.1' IDENTIFIED "
            "BY 'secret'; GRANT ALL ON mlmd.* TO 'tfx'@'127.0.0.1';")


@contextlib.contextmanager
def mariadb_server(sql: str = MLMD_SQL):
  """A throwaway MariaDB server on loopback, set up with `sql` (as root):
  by default a database 'mlmd' for ML Metadata (user 'tfx', password
  'secret'); yields with_mysql_ml_metadata's arguments for it."""
  datadir = tempfile.mkdtemp(prefix='fluent-mariadb-')
  user = getpass.getuser()
  subprocess.run(
      [mariadb_tool('mariadb-install-db'), '--no-defaults',
       f'--datadir={datadir}/data', f'--user={user}',
       '--auth-root-authentication-method=normal', '--skip-test-db'],
      check=True, capture_output=True)
  port = free_port()
  server = subprocess.Popen(
      [mariadb_tool('mariadbd'), '--no-defaults', f'--datadir={datadir}/data',
       f'--user={user}', '--bind-address=127.0.0.1', f'--port={port}',
       f'--socket={datadir}/sock', f'--pid-file={datadir}/pid',
       f'--log-error={datadir}/err.log'])
  client = [mariadb_tool('mariadb'), '--no-defaults', '-h127.0.0.1',
            f'-P{port}', '-uroot']
  try:
    _wait(lambda: subprocess.run(client + ['-e', 'SELECT 1'],
                                 capture_output=True).returncode == 0,
          'MariaDB', pathlib.Path(datadir, 'err.log'), server)
    subprocess.run(client + ['-e', sql], check=True)
    yield dict(host='127.0.0.1', port=port, database='mlmd', user='tfx',
               password='secret')
  finally:
    server.terminate()
    server.wait(timeout=60)
    shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture(scope='module')
def mariadb():
  """mariadb_server() for a test module."""
  with mariadb_server() as connection:
    yield connection


# -------------------------------------------------------- Airflow commands
def airflow_env(home, **extra) -> dict:
  """The environment of an Airflow home of the test's own."""
  env = dict(os.environ, AIRFLOW_HOME=str(home),
             AIRFLOW__CORE__DAGS_FOLDER=str(pathlib.Path(home) / 'dags'),
             AIRFLOW__CORE__LOAD_EXAMPLES='False',
             AIRFLOW__CORE__UNIT_TEST_MODE='False',
             TF_USE_LEGACY_KERAS='1')
  env.update(extra)
  return env


def airflow_command(env, *args, timeout=900, check=True):
  """`airflow ARGS` in a child process."""
  done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True,
                        text=True, timeout=timeout, stdin=subprocess.DEVNULL)
  if check:
    assert done.returncode == 0, (args, done.stdout[-3000:],
                                  done.stderr[-5000:])
  return done


def compile_airflow(env, *args) -> str:
  """`fluent-pipeline compile ARGS --runner airflow` into the dags folder:
  the DAG file's path."""
  done = subprocess.run(
      [CLI, 'compile', *args, '--runner', 'airflow', '-o',
       env['AIRFLOW__CORE__DAGS_FOLDER']], env=env, capture_output=True,
      text=True, timeout=600, stdin=subprocess.DEVNULL)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.startswith('wrote '), done.stdout[:3000]  # nothing else
  return done.stdout.split()[1]  # 'wrote PATH (...)'


# ---------------------------------------------- what a scheduler's run shows
PARAMETERS = 'pipeline_parameters'  # the task binding a run's parameters


def dag_edges(ir_path: str) -> dict:
  """The tasks a compiled pipeline's DAG has, each with its upstream
  tasks: the IR's nodes and edges, after the parameters' task."""
  from tfx.proto.orchestration import pipeline_pb2
  with open(ir_path, 'rb') as f:
    ir = pipeline_pb2.Pipeline.FromString(f.read())
  edges = {n.pipeline_node.node_info.id: sorted(n.pipeline_node.upstream_nodes)
           or [PARAMETERS] for n in ir.nodes}
  return dict(edges, **{PARAMETERS: []})


def _ancestors(edges: dict, task: str) -> set:
  found, todo = set(), list(edges[task])
  while todo:
    up = todo.pop()
    if up not in found:
      found.add(up)
      todo.extend(edges[up])
  return found


def timeline(states: dict) -> str:
  """task_instances() as lines, in seconds from the first queued task."""
  t0 = min(s['queued'] for s in states.values())
  return '\n'.join(
      f'{task:26} queued {(s["queued"] - t0).total_seconds():6.1f} start '
      f'{(s["start_date"] - t0).total_seconds():6.1f} end '
      f'{(s["end_date"] - t0).total_seconds():6.1f} on {s["hostname"]}'
      for task, s in sorted(states.items(), key=lambda i: i[1]['queued']))


def assert_ran_together(states: dict, edges: dict,
                        on_two_workers: bool = False) -> list:
  """Asserts that tasks queued together ran at the same time: the pairs
  of independent tasks (neither upstream of the other) each queued before
  the other started, so that both waited at once, of which one pair at
  least overlapped (and, `on_two_workers`, on two hostnames). A task
  spends seconds starting (Airflow, then TFX's imports) before its node
  runs, so an executor with room starts the second while the first still
  runs, however loaded the machine; only pairs queued together are
  judged, since a task queued once the other ended says nothing of the
  executor. Returns the pairs that overlapped."""
  assert set(edges) == set(states), (sorted(edges), sorted(states))
  together = [(a, b) for a in states for b in states if a < b and
              a not in _ancestors(edges, b) and b not in _ancestors(edges, a)
              and states[a]['queued'] < states[b]['start_date'] and
              states[b]['queued'] < states[a]['start_date']]
  assert together, f'no two tasks were queued together:\n{timeline(states)}'
  overlapped = [(a, b) for a, b in together
                if states[a]['start_date'] < states[b]['end_date'] and
                states[b]['start_date'] < states[a]['end_date'] and
                (not on_two_workers or
                 states[a]['hostname'] != states[b]['hostname'])]
  assert overlapped, (f'tasks queued together {together} did not run at the '
                      f'same time{" on two workers" * on_two_workers}:\n'
                      f'{timeline(states)}')
  return overlapped


# -------------------------------------------- docs/SCALING.md's commands
SCALING = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'docs', 'SCALING.md')
INSTALLS = ('apt-get', 'pip')  # `make install` and `make test` do these


def doc_commands(caption: str) -> list:
  """The shell commands of the ```sh block that follows `caption` in
  docs/SCALING.md, each with its continuation lines joined."""
  with open(SCALING, encoding='utf-8') as f:
    text = f.read()
  assert caption in text, f'{SCALING} lost its block "{caption}"'
  block = text.split(caption, 1)[1].split('```sh\n', 1)[1]
  block = block.split('```', 1)[0].replace('\\\n', ' ')
  return [line.split('  #', 1)[0].strip() for line in block.splitlines()
          if line.strip() and not line.lstrip().startswith('#')]


class DocShell:
  """Runs doc_commands() as sh would, for the forms they use: `export
  K=V ...`, `CMD ARGS`, `CMD ARGS &` and `(cd DIR && K=V CMD ARGS) &`,
  in the test's folder `cwd`, with the doc's ports replaced by the test's
  servers' (`ports`: the doc's -> the test's). Installs are left to make;
  `redis-server` to the redis fixture (its arguments are kept in
  redis_args). Before `airflow dags trigger DAG` it waits for the
  scheduler to have parsed DAG, and for the Celery workers to be ready.
  stop() stops what runs in the background."""

  def __init__(self, cwd: pathlib.Path, env: dict, postgres_url: str,
               ports: dict):
    self.cwd = cwd
    self.env = dict(env, PATH=BIN + os.pathsep + env.get('PATH', ''))
    self.postgres_url = postgres_url
    self.ports = ports
    self.background = []  # (name, Popen, log path)
    self.redis_args = None

  def run(self, line: str) -> None:
    # One pass: a port of ours may begin with another of the doc's ports.
    line = re.sub(r'(127\.0\.0\.1:|--port )(\d+)\b', lambda m: m.group(1) + (
        self.ports.get(m.group(2), m.group(2))), line)
    words = shlex.split(line)
    if words[0] in INSTALLS:
      return
    if words[0] == 'export':
      self.env.update(w.split('=', 1) for w in words[1:])
      return
    if words[0] == 'redis-server':
      self.redis_args = words[1:-1]
      return
    words = [re.sub(r'\$(\w+)', lambda m: self.env[m.group(1)], w)
             for w in words]
    cwd, env = self.cwd, dict(self.env)
    in_background = words[-1] == '&'
    if in_background:
      words = words[:-1]
    if words[0].startswith('(cd'):
      assert words[0] == '(cd' and words[2] == '&&' and \
          words[-1].endswith(')'), line
      cwd = cwd / words[1]
      words = words[3:-1] + [words[-1][:-1]]
      while '=' in words[0]:
        key, value = words.pop(0).split('=', 1)
        env[key] = value
    if words[:3] == ['airflow', 'dags', 'trigger']:
      self._wait_for_the_dag(words[3])
    if not in_background:
      done = subprocess.run(words, cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=900, stdin=subprocess.DEVNULL)
      assert done.returncode == 0, (line, done.stdout[-3000:],
                                    done.stderr[-5000:])
      return
    name = f'{len(self.background)}-{"-".join(words[1:3])}-{cwd.name}'
    log = self.cwd / f'{name}.log'
    process = subprocess.Popen(
        words, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=open(log, 'w'), stderr=subprocess.STDOUT,
        start_new_session=True)  # its own group: its children stop with it
    self.background.append((name, process, log))

  def wait_for_run(self, dag_id: str, run_id: str,
                   seconds: float = 1500) -> tuple:
    """Waits for the scheduler to end the DAG run (after its last
    task): its state, when it was queued and when it ended."""
    deadline = time.monotonic() + seconds
    while True:
      run = query(self.postgres_url, 'SELECT state, queued_at, end_date '
                  'FROM dag_run WHERE dag_id = %s AND run_id = %s', dag_id,
                  run_id)
      if run and run[0][0] in ('success', 'failed'):
        return run[0]
      self.check_alive()
      assert time.monotonic() < deadline, (
          run, task_instances(self.postgres_url, dag_id, run_id))
      time.sleep(3)

  def workers(self) -> list:
    return [(n, p, log) for n, p, log in self.background
            if '-celery-worker-' in n]

  def _wait_for_the_dag(self, dag_id: str) -> None:
    self.wait_for('the scheduler to parse the DAG', lambda: query(
        self.postgres_url, 'SELECT 1 FROM serialized_dag WHERE dag_id = %s',
        dag_id), 300)
    for name, _, log in self.workers():
      self.wait_for(f'{name} to be ready', lambda log=log: ' ready.' in
                    log.read_text(errors='replace'), 120)

  def wait_for(self, what: str, ready, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
      self.check_alive()
      assert time.monotonic() < deadline, f'waited {seconds} s for {what}'
      time.sleep(1)

  def check_alive(self) -> None:
    for name, process, log in self.background:
      assert process.poll() is None, (
          f'{name} stopped', log.read_text(errors='replace')[-3000:])

  def logs(self) -> dict:
    return {name: log.read_text(errors='replace')[-2000:]
            for name, _, log in self.background}

  def stop(self) -> None:
    for _, process, _ in reversed(self.background):
      if process.poll() is None:
        process.terminate()
    for _, process, _ in reversed(self.background):
      try:
        process.wait(timeout=90)
      except subprocess.TimeoutExpired:
        pass
      try:  # what is left of its group (Celery's pool, task processes)
        os.killpg(process.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
      process.wait(timeout=30)
