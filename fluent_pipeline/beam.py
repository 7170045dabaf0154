"""Beam presets: where TFX's Beam-powered components run, in one call.

    from fluent_pipeline import PipelineDef, beam
    pipeline = (PipelineDef('taxi').from_csv('data/').generate_statistics()
                .with_beam(beam.local(workers=2)))

Each preset returns the `beam_pipeline_args` TFX expects, checked when it is
called (orchestration/beam.py holds them).
"""

from fluent_pipeline.orchestration.beam import dataflow, flink, local, spark

__all__ = ['local', 'dataflow', 'flink', 'spark']
