"""Where examples come from: one small value per kind of source.

    from fluent_pipeline import PipelineDef, inputs
    pipeline = PipelineDef('taxi').from_source(inputs.from_csv('data/'))

A source is a plan for an ExampleGen (dsl/inputs.py holds them), so the same
source can feed the training data (`PipelineDef.from_source`) or bulk
inference (`PipelineDef.bulk_infer`).
"""

from fluent_pipeline.dsl.inputs import (
    Source,
    from_avro,
    from_bigquery,
    from_csv,
    from_example_gen,
    from_parquet,
    from_tfrecord,
)

__all__ = ['Source', 'from_csv', 'from_tfrecord', 'from_parquet', 'from_avro',
           'from_bigquery', 'from_example_gen']
