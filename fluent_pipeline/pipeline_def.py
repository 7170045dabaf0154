"""PipelineDef: a TFX pipeline written as one chained expression.

    pipeline = (PipelineDef('taxi', root='runs')
                .from_csv('data/')
                .generate_statistics()
                .infer_schema()
                .preprocess('taxi_utils.py')
                .train('taxi_utils.py', train_args=100, eval_args=10)
                .push_to('serving')
                .build())

The chain calls are `dsl.chain.Chain`'s: each returns a new PipelineDef and
leaves its receiver unchanged, and build() turns the plan into a vanilla
`tfx.orchestration.pipeline.Pipeline` for any TFX DagRunner. PipelineDef adds
the endings that need the layers above the chain: run() (orchestration),
export() (project), from_run() (runs) and the notebook display (report).
"""

import html
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Union, overload

from fluent_pipeline.dsl import chain_code, wiring
from fluent_pipeline.dsl.chain import Chain, latest
from fluent_pipeline.dsl.inputs import StrPath
from fluent_pipeline.errors import PipelineDefinitionError
from fluent_pipeline.project import notebook

if TYPE_CHECKING:  # never imported at run time: TFX loads only when needed
  from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
  from tfx.orchestration.tfx_runner import TfxRunner
  from tfx.v1.orchestration import LocalDagRunner

  from fluent_pipeline.recorded.results import RunResult

__all__ = ['PipelineDef', 'latest']

# Chain call names or component ids, for partial runs.
Steps = Union[str, Sequence[str], None]
# The runners run() reads the RunResult of: by name ('local', 'beam',
# 'airflow') or TFX's runners that run here, on the pipeline's own MLMD.
LocalRunner = Union[str, 'LocalDagRunner', 'BeamDagRunner', None]

_P = TypeVar('_P', bound='PipelineDef')


class PipelineDef(Chain):
  """A recorded TFX pipeline; see the module docstring."""

  @classmethod
  def from_run(cls: type[_P], run_id: str = 'latest',
               root: Union[StrPath, Chain] = 'runs') -> _P:
    """The chain of a past run, rebuilt from its configuration artifact with
    the user code it ran, so the run can be reproduced (with unchanged data
    and cache(), TFX's cache serves it).

    root: the pipeline's directory (<root>/<name>), the root holding it, or
    a PipelineDef (for a MySQL store). run_id: an id, 'latest' or
    'latest~N'.

    Running it does not push its model again when a version in the push
    destination holds it (serving an older model again is a rollback:
    `.run(rollback=True)`, or `fluent-pipeline rollback RUN_ID`).
    """
    from fluent_pipeline.recorded import history, replay
    result = history.read_run(root, run_id)
    if 'configuration' in result.unreadable:
      raise PipelineDefinitionError(
          'from_run', f'the configuration of run {result.run_id} cannot be '
          f"read: {result.unreadable['configuration']}",
          fix='restore the file, or pick another run')
    if result.configuration is None:
      raise PipelineDefinitionError(
          'from_run', f'run {result.run_id} recorded no configuration '
          '(record_configuration was off)',
          fix='pick a run made with the configuration recorded')
    metadata_config = (root._plan.metadata_config
                       if isinstance(root, Chain) else None)
    return replay.rebuild(result.configuration, result.run_id,
                          metadata_config, make=cls)

  def _repr_html_(self) -> str:
    """Jupyter shows the planned component graph above the chain, or why
    the chain does not build; it never raises (a display hook must not)."""
    chain = f'<pre>{html.escape(repr(self))}</pre>'
    try:
      from fluent_pipeline.report import graph
      pipeline, nodes_by_call = wiring.build_indexed(self._plan)
      details = {node_id: chain_code.call_detail(call, self._plan, Chain)
                 for call, ids in nodes_by_call.items() for node_id in ids}
      components = pipeline.components
      drawn = graph.svg(
          [graph.Node(c.id, detail=details.get(c.id)) for c in components],
          sorted((up.id, c.id) for c in components
                 for up in c.upstream_nodes),
          title=f'Pipeline {self._plan.name!r}: {len(components)} '
          'components, as planned')
    except Exception as e:  # a display hook never raises
      problem = (str(e) if isinstance(e, PipelineDefinitionError)
                 else f'{type(e).__name__}: {e}')
      drawn = ('<pre style="color: #b3261e; white-space: pre-wrap">'
               f'{html.escape(problem)}</pre>')
    return f'<div class="fluent-pipeline">{drawn}{chain}</div>'

  def export(self, directory: StrPath) -> str:
    """Writes this chain as a project to review and ship: its user
    functions as source in `<name>_functions.py` (with the imports,
    constants and helpers they use, recovered from the notebook or module),
    `pipeline.py` with the same chain, and pinned requirements. The
    exported pipeline builds the same components with the same exec
    properties, so TFX's cache serves its first run. Returns the path of
    pipeline.py; files already there are never overwritten with other
    content."""
    from fluent_pipeline.project import export
    if notebook.capturing():
      notebook.stop_at(self)
    project = export.make(self._plan)
    written = export.write(project, os.fspath(directory))
    for note in project.notes:  # what the exported code does differently
      warnings.warn(f'export: {note}', stacklevel=2)
    return written

  @overload
  def run(self, runner: LocalRunner = None, *, verbose: bool = False,
          from_step: Steps = None, to_step: Steps = None, only: Steps = None,
          resume: bool = False, override: bool = False,
          rollback: bool = False) -> 'RunResult': ...

  @overload
  def run(self, runner: 'TfxRunner', *, verbose: bool = False,
          from_step: Steps = None, to_step: Steps = None, only: Steps = None,
          resume: bool = False, override: bool = False,
          rollback: bool = False) -> Any: ...

  def run(self, runner: Union[LocalRunner, 'TfxRunner'] = None, *,
          verbose: bool = False, from_step: Steps = None,
          to_step: Steps = None, only: Steps = None,
          resume: bool = False, override: bool = False,
          rollback: bool = False) -> Any:
    """Builds and runs the pipeline; LocalDagRunner by default, or a runner
    by name: 'local', 'beam', 'airflow' (the pipeline's Airflow DAG, run
    once here with Airflow's dag.test(); see fluent_pipeline.airflow).

    Returns a RunResult (component states, evaluation, pushed model, bulk
    inference output, configuration) for runners that use this pipeline's
    metadata store (the default, a runner by name, LocalDagRunner,
    BeamDagRunner); for another runner, what its run() returns
    (KubeflowV2DagRunner writes the compiled job for Vertex).

    Partial runs (LocalDagRunner, BeamDagRunner), with TFX's partial-run
    support: `from_step='train'` runs train and what follows it,
    `to_step='preprocess'` what leads up to preprocess, `only=['train']`
    just that; steps are chain call names or component ids. The outputs of
    the steps that do not run come from the latest run. `resume=True` runs
    the steps that did not complete in the latest run (after a failure):
    that run continued, so this chain must be the one it recorded (its
    parameters, source and step arguments; user code may change, to fix
    what failed), or a PipelineDefinitionError lists what differs before
    anything runs. `override=True` resumes with this chain's values
    deliberately, and says what changed on stderr.

    A model is pushed once: push_to() does not push a model that a version
    in its destination already holds (a re-run, a replayed run), and the
    summary names that version. `rollback=True` serves such a model again:
    it is pushed as the newest version, which the summary says.
    """
    from fluent_pipeline.orchestration import runners
    if notebook.capturing():  # `fluent-pipeline export notebook.ipynb`
      notebook.stop_at(self)
    return runners.run(self, runner=runner, verbose=verbose,
                       from_step=from_step, to_step=to_step, only=only,
                       resume=resume, override=override,
                       rollback=rollback)
