"""Runs as ML Metadata recorded them: what a run did, every run, what
differs. (Not `runs/`: `fluent_pipeline.runs` is the public function that
lists them.)

- `results`: `RunResult`, a run's components, metrics, blessing and pushed
  model, read from ML Metadata alone;
- `provenance`: which run and execution made the outputs of a CACHED or
  REUSED step, and the configuration it recorded; why an Evaluator ran
  again;
- `pushes`: what the Pusher did (pushed, already held, rolled back);
- `mlmd`: the ML Metadata lookups these share (run and node contexts,
  types, events, states);
- `history`: `runs`, `read_run`, `diff` over a pipeline's store;
- `diff`: what differs between two runs (configuration, code, metrics);
- `replay`: `PipelineDef.from_run`, the chain rebuilt from a run's
  configuration;
- `owner`: the process running a run, so a run whose process died reads
  as ABANDONED;
- `earlier_data`: the features an earlier run's statistics saw in the same
  source, to check a feature name before a run when no header names them;
- `gc`: the outputs of old runs removed, never what a kept run needs.
"""
