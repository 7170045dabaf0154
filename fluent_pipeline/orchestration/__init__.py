"""Running the chain: runners, partial runs, Airflow, Beam presets, compile.

- `runners`: build, run on a TFX DagRunner, read the run back;
- `partial`: from/to/only/resume on TFX's partial-run support;
- `airflow`: the chain as an Apache Airflow DAG (`fluent_pipeline.airflow`);
  `airflow_dag`: the DAG read from the compiled IR, one task per node;
  `airflow_ir`: that IR and its trigger-time parameters;
  `airflow_node`: one node run in a task or a pod, without Airflow;
  `celery_workers`: Celery workers that import TFX once, before forking;
- `beam`: where Beam-powered components run (`fluent_pipeline.beam`);
- `compile`: what a runner would run, written to disk (IR, Kubeflow V2 /
  Vertex spec and image build context);
- `compile_checks`: what compile refuses before writing (paths of this
  machine, secrets in clear, what Kubeflow V2 cannot compile);
- `logs`, `progress`, `notebook_logs`: quiet runs, one line per component;
- `diagnose`: a failed run's exception as one sentence a user can act on.
"""
