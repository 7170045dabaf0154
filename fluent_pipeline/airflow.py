"""The chain on Apache Airflow: one task per node of the compiled pipeline.

    fluent-pipeline compile pipeline.py --runner airflow -o ~/airflow/dags

writes the compiled pipeline and a DAG file that Airflow parses without
TensorFlow; each task runs its node through TFX's Launcher. In Python:

    from fluent_pipeline.airflow import dag
    DAG = dag(pipeline, schedule='@daily', start_date='2026-12-01')

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
