"""The TFX components fluent_pipeline adds to a pipeline, all in one place.

- `configuration.PipelineConfigurationGen`: first node of every pipeline;
  freezes the run's parameters, step arguments, user code and package
  versions as a `PipelineConfiguration` artifact;
- `anomalies_gate.AnomaliesGate`: stops a run whose data has anomalies
  (`validate_input_data(fail_on_anomalies=True)`);
- `local_infra_validator.LocalInfraValidator` (with `serving_probe`, the
  process it starts): the serving check that runs without Docker;
- `filter_examples.FilterExamples`: keeps the examples a user predicate
  accepts, in the chosen splits (the others copied byte for byte), and fails
  (NothingKept) when a split keeps none;
- `stratified_sample.StratifiedSample`: a seeded, runner-independent sample
  of every stratum (a feature's value or a user key): N examples per key,
  or a fraction of each;
- `pusher.Pusher`: TFX's Pusher with an executor that does not push a model
  its destination already holds (pushing it again is a rollback, on request);
- `baseline.LatestBlessedOtherModelStrategy`: a resolver strategy, the
  Evaluator's baseline: the latest blessed model other than the candidate;
- `columnar_csv.ColumnarCsvExampleGen` (with `_csv_files`, `_csv_types`,
  `_example_bytes`, and `_columnar_io`, the splits, writing and Do it shares
  with columnar_parquet): CsvExampleGen with a columnar executor (pyarrow blocks,
  examples serialized with numpy, TFX's hash split): the same examples in
  the same splits, about 16x faster at 240,000 rows; a CSV TFX cannot read
  fails with `CsvInputError` naming the file, the line and the fix;
- `columnar_parquet.Executor`: the same for Parquet (FileBasedExampleGen
  with this executor): TFX's parquet executor's examples and splits, read
  in pyarrow batches (`ParquetInputError` names the file and the column).

Each is a regular TFX component, so any TFX runner executes it; the runner's
workers need fluent_pipeline installed, as they need TFX.
"""

# The file inside a PipelineConfiguration artifact: PipelineConfigurationGen
# writes it; runs read it back without importing TFX.
CONFIGURATION_FILE = 'configuration.json'
