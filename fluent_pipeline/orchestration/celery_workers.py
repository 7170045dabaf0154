"""Celery workers that import TFX's Launcher once, before forking tasks.

An Airflow task on the CeleryExecutor is a process forked from a worker's
pool process (Airflow's `execute_tasks_new_python_interpreter` is off by
default), which forks again for the task itself. A node's task then imports
TFX's Launcher and with it TensorFlow, Beam, TFDV, TFT and TFMA: 5-7 s
here, paid by every task. With this configuration the worker imports them
once, when it starts (Celery's `worker_init`, before its pool forks), and
every task inherits them.

Forking after TensorFlow is imported is safe while no TensorFlow op has
run (TF issues 8220, 51832 are about forking after work has run): the
worker's own processes run no TensorFlow code; only the forked task does.
Importing starts no Python thread (`preload` checks) and a few native ones:
OpenBLAS's (numpy) and jemalloc's (pyarrow), which both handle fork
(pthread_atfork). The worker logs how many there are.

    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=fluent_pipeline.airflow.CELERY_CONFIG

is Airflow's default Celery configuration with this preload added.
"""

import importlib
import os
import threading
from typing import Any

from airflow.providers.celery.executors.default_celery import (
  DEFAULT_CELERY_CONFIG,
)
from celery import signals

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)

# What run_node imports, and what the Launcher imports by class path: every
# TFX component class imports its executor module.
PRELOAD = (
  'tensorflow',
  'tfx.orchestration.portable.launcher',
  'tfx.orchestration.portable.runtime_parameter_utils',
  'tfx.orchestration.local.runner_utils',
  'tfx.orchestration.metadata',
  'tfx.components',
  'fluent_pipeline.components',
  'fluent_pipeline.orchestration.diagnose',
)


def preload() -> list[str]:
  """Imports PRELOAD; the threads that import left running (expected none:
  a thread running at fork time makes the forked task unsafe)."""
  from fluent_pipeline import _env
  _env.configure()
  before = set(threading.enumerate())
  for name in PRELOAD:
    importlib.import_module(name)
  return [t.name for t in threading.enumerate() if t not in before]


PRELOADED = ('fluent_pipeline: TFX imported in {:.1f} s, before forking '
             'tasks ({} native threads)')


def _native_threads() -> int:
  try:
    return len(os.listdir('/proc/self/task'))
  except OSError:  # not Linux
    return 0


@signals.worker_init.connect
def _preload_in_worker(**_: Any) -> None:
  import logging
  import time
  log = logging.getLogger(__name__)
  began = time.perf_counter()
  started = preload()
  log.warning(PRELOADED.format(time.perf_counter() - began,
                               _native_threads()))
  if started:  # not fork-safe: say so in the worker's log, keep working
    log.warning(
        'importing TFX started threads %s; tasks forked from this worker '
        'may hang. Unset AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS to run '
        'without the preload.', started)
