"""The chain: what a PipelineDef records and how it becomes a TFX pipeline.

- `plan`: the recorded plan, plain immutable values (no TFX);
- `chain`: the chain calls that record it (`Chain`, which PipelineDef is);
- `inputs`: the sources of examples (`fluent_pipeline.inputs`);
- `protos`, `channels`: what users write turned into TFX's protos and
  channels;
- `configuration`: the plan as the JSON of the PipelineConfiguration artifact;
- `chain_code`: the plan written back as chain code (repr, export);
- `csv_data`: what a CSV source's files hold, checked at build;
- `wiring`: the plan as a vanilla TFX pipeline, every channel wired;
- `tfx_v1`: tfx.v1's names, without tfx.v1's import cost.

Nothing here runs a pipeline, reads a run back or writes a project: those
layers sit above and import this one, never the reverse.
"""
