"""The chain on Apache Airflow: one task per node of the compiled pipeline.

    fluent-pipeline compile pipeline.py --runner airflow -o ~/airflow/dags

writes the compiled pipeline and a DAG file that Airflow parses without
TensorFlow; each task runs its node through TFX's Launcher (with `--image
IMAGE --kubernetes`, in a Kubernetes pod of IMAGE), with the queue and pool
of its step's `with_resources`. In Python:

    from fluent_pipeline.airflow import dag
    DAG = dag(pipeline, schedule='@daily', start_date='2026-12-01')

On the CeleryExecutor, workers started with

    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=fluent_pipeline.airflow.CELERY_CONFIG

import TFX once, when they start, instead of in every task
(orchestration/celery_workers.py).

(orchestration/airflow.py and orchestration/airflow_dag.py hold the
implementation).
"""

from fluent_pipeline.orchestration.airflow import (
    dag,
    dag_file_text,
    dag_from_file,
    write_dag_file,
)

__all__ = ['dag', 'dag_from_file', 'dag_file_text', 'write_dag_file']


def __getattr__(name: str):
  # Loaded when asked for: it imports Airflow's Celery provider.
  if name == 'CELERY_CONFIG':
    from fluent_pipeline.orchestration import celery_workers
    return celery_workers.CELERY_CONFIG
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
