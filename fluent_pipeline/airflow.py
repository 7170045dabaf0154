"""The chain on Apache Airflow: one task per TFX component.

    from fluent_pipeline.airflow import dag
    DAG = dag(pipeline, schedule='@daily', start_date='2026-12-01')

in a file of Airflow's dags folder, or `fluent-pipeline compile FILE --runner
airflow -o dags/`, which writes such a file for a pipeline file
(orchestration/airflow.py holds the implementation).
"""

from fluent_pipeline.orchestration.airflow import (
    dag,
    dag_file_text,
    dag_from_file,
    write_dag_file,
)

__all__ = ['dag', 'dag_from_file', 'dag_file_text', 'write_dag_file']
