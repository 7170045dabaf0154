"""The chain and the files it lives in: pipeline files, notebooks, export.

- `pipeline_file`: a Python file defining `create_pipeline(**params)`, its
  typed parameters;
- `notebook`: the pipeline a notebook builds, read without running it;
- `export`: a chain written out as a project to review and ship;
- `component_source`: the components add_component added, imported or
  written out as source (those of a notebook or `__main__`);
- `factory_parameters`: the `create_pipeline(...)` export keeps, each
  parameter placed where it goes in the chain;
- `chain_source`: the chain of its pipeline.py, secrets read from the
  environment.
"""
