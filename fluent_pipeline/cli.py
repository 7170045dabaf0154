"""`fluent-pipeline`: run, inspect, list, compare and compile pipelines.

    fluent-pipeline run my_pipeline.py --set train_steps=300 [--from train]
    fluent-pipeline show my_pipeline.py          # components, arguments, wiring
    fluent-pipeline runs --root runs/            # every run, newest first
    fluent-pipeline show latest --root runs/     # one run and its configuration
    fluent-pipeline diff latest~1 latest --root runs/
    fluent-pipeline report latest --root runs/   # the run's HTML report
    fluent-pipeline rollback RUN_ID --root runs/ # serve that run's model again
    fluent-pipeline gc --keep 5 --root runs/     # remove old runs' outputs
    fluent-pipeline compile my_pipeline.py --runner vertex --image IMAGE -o build/
    fluent-pipeline export notebook.ipynb -o exported/

A file defines `create_pipeline(**params)` (or a PipelineDef; `--name`
picks another function or variable). TFX is only imported once a command
needs it, so `--help` answers at once.
"""

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
from typing import Any, Optional

_RUNNERS = ('local', 'beam', 'airflow', 'kubeflow_v2', 'vertex')


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='fluent-pipeline',
      description='Run, inspect, list, compare and compile fluent TFX '
      'pipelines.', epilog='Run ids: an exact id (or a unique prefix), '
      "'latest', or 'latest~N' (the Nth run before the newest).")
  sub = parser.add_subparsers(dest='command', required=True)

  def with_file(p, required=True):
    if required:
      p.add_argument('file', help='Python file defining the pipeline')
    p.add_argument('--name', help='function or variable holding it '
                   '(default: create_pipeline, or the one PipelineDef)')
    p.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                   help='a parameter of create_pipeline (repeatable); '
                   '--NAME VALUE works too, and a bool parameter is a flag: '
                   '--NAME sets it, --no-NAME clears it')

  def with_store(p):
    p.add_argument('--root', help="the pipeline's directory (<root>/<name>, "
                   'where metadata.sqlite is) or the root holding it '
                   '(default: runs/)')
    p.add_argument('--file', dest='pipeline_file',
                   help='or: the Python file defining the pipeline')

  run = sub.add_parser('run', help='build and run a pipeline file')
  with_file(run)
  run.add_argument('--runner', choices=('local', 'beam'), default='local',
                   help='LocalDagRunner (default) or BeamDagRunner')
  run.add_argument('--root', help="run under this root instead of the "
                   "file's (binds the file's root parameter, if it has one)")
  run.add_argument('--from', dest='from_step', metavar='STEP',
                   help='run this step and what follows (chain call or '
                   'component id); the rest comes from the latest run')
  run.add_argument('--to', dest='to_step', metavar='STEP',
                   help='run what leads up to this step, and it')
  run.add_argument('--only', action='append', metavar='STEP',
                   help='run just this step (repeatable)')
  run.add_argument('--resume', action='store_true',
                   help='run the steps that did not complete in the latest '
                   'run, with the parameters it used (a --set that differs '
                   'is an error)')
  run.add_argument('--override', action='store_true',
                   help='with --resume: resume with the --set values given '
                   'even where they differ from the resumed run\'s')
  run.add_argument('--rollback', action='store_true',
                   help='push the model again as the newest version when an '
                   'older version of the push destination holds it (without '
                   'it, a model already pushed is not pushed again)')
  run.add_argument('--verbose', action='store_true',
                   help='show TFX, Beam and absl logs')

  rollback = sub.add_parser(
      'rollback', help="serve a past run's model again: that run's chain, "
      'replayed (its Trainer served from cache), pushes its model as the '
      'newest version')
  rollback.add_argument('run_id', help="the run whose model to serve: an id, "
                        "'latest~N'")
  rollback.add_argument('--verbose', action='store_true',
                        help='show TFX, Beam and absl logs')
  with_file(rollback, required=False)
  with_store(rollback)

  show = sub.add_parser(
      'show', help='a file: its components, arguments and wiring; a run id: '
      'that run and its configuration')
  show.add_argument('target', help='a pipeline file, or a run id')
  with_file(show, required=False)
  with_store(show)

  runs = sub.add_parser('runs', help='list the runs of a pipeline')
  runs.add_argument('target', nargs='?',
                    help='a pipeline file or directory (or use --root)')
  runs.add_argument('--limit', type=int, default=20,
                    help='newest N runs (default 20; 0 for all)')
  with_file(runs, required=False)
  with_store(runs)

  diff = sub.add_parser('diff', help='what differs between two runs')
  diff.add_argument('run_a')
  diff.add_argument('run_b')
  with_file(diff, required=False)
  with_store(diff)

  report = sub.add_parser(
      'report', help='write a run as one self-contained HTML page: graph, '
      'data, training, evaluation per slice, serving, predictions')
  report.add_argument('run_id', nargs='?', default='latest',
                      help="a run id, 'latest' (default) or 'latest~N'")
  report.add_argument('-o', '--output', help='the HTML file (default: '
                      '<pipeline root>/reports/report-<run id>.html)')
  report.add_argument('--compare', metavar='OTHER_RUN_ID',
                      help='put this run side by side with another: metrics '
                      'with deltas, changed statistics, configuration diff')
  with_file(report, required=False)
  with_store(report)

  gc = sub.add_parser(
      'gc', help='remove the outputs of old runs and the half-written '
      'folders of killed ones, keeping what kept runs, the latest blessed '
      'model, pushed models and running steps need')
  gc.add_argument('target', nargs='?',
                  help='a pipeline file or directory (or use --root)')
  gc.add_argument('--keep', type=int, default=5, metavar='N',
                  help='keep the outputs of the newest N runs (default 5; '
                  'at least 1); a run still running is always kept')
  gc.add_argument('--dry-run', action='store_true',
                  help='say what would be removed, and remove nothing')
  with_file(gc, required=False)
  with_store(gc)

  export = sub.add_parser(
      'export', help='write a pipeline file or notebook as a project to '
      'review and ship: its functions as source, pipeline.py, pinned '
      'requirements')
  export.add_argument('file', help='a pipeline file (.py) or a notebook '
                      '(.ipynb; its cells run up to its first run() call)')
  export.add_argument('--name', help='function or variable holding the '
                      'pipeline')
  export.add_argument('--set', action='append', default=[],
                      metavar='NAME=VALUE', help='a parameter of '
                      'create_pipeline (repeatable)')
  export.add_argument('-o', '--output', required=True,
                      help='directory to write (new, or holding an earlier '
                      'identical export)')

  comp = sub.add_parser(
      'compile', help='write what a runner would run, without running it: '
      'the IR (local, beam), or the PipelineJob spec and its image build '
      'context (kubeflow_v2, vertex; no cloud access needed)')
  with_file(comp)
  comp.add_argument('--runner', choices=_RUNNERS, required=True)
  comp.add_argument('-o', '--output', required=True,
                    help='local, beam: the JSON file; airflow: the dags '
                    'folder; kubeflow_v2, vertex: a directory (spec, '
                    'Dockerfile, code)')
  comp.add_argument('--image', help='kubeflow_v2, vertex: the image you will '
                    'build from the output directory and push, e.g. '
                    'gcr.io/PROJECT/NAME:TAG; every component runs in it '
                    '(airflow --kubernetes: the same image)')
  comp.add_argument('--kubernetes', action='store_true',
                    help='airflow: each task runs its node in a Kubernetes '
                    'pod of --image (KubernetesPodOperator), with its '
                    'with_resources cpu, memory and GPUs')
  comp.add_argument('--root', help="overrides the file's root, e.g. "
                    'gs://BUCKET/pipelines')
  comp.add_argument('--allow-local-paths', action='store_true',
                    help='kubeflow_v2, vertex: write the spec even though '
                    'it names paths of this machine (an error otherwise: '
                    'only containers that mount them can read them)')
  comp.add_argument('--schedule', help="airflow: the DAG's schedule (cron, "
                    "'@daily'; default: only when triggered)")
  comp.add_argument('--start-date', help="airflow: the schedule's start, "
                    'e.g. 2026-12-01')
  comp.add_argument('--metadata-connection', metavar='CONN_ID',
                    help='airflow: the Airflow connection of the MySQL '
                    'server holding ML Metadata (its password stays in '
                    'Airflow)')
  return parser


def main(argv: Optional[list[str]] = None) -> int:
  parser = _parser()
  args, extra = parser.parse_known_args(argv)
  if extra and args.command not in ('run', 'compile', 'show', 'export'):
    parser.error(f'unrecognized arguments: {" ".join(extra)}')
  from fluent_pipeline import errors
  try:
    return _COMMANDS[args.command](args, extra)
  except (errors.PipelineDefinitionError, LookupError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except errors.PipelineRunError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  except SystemExit as e:  # a --set / --NAME VALUE that cannot be read
    from fluent_pipeline.project import pipeline_file
    if not isinstance(e, pipeline_file.ArgumentError):
      raise
    print(e.code, file=sys.stderr)
    return 2
  except KeyboardInterrupt as e:  # the run said what stopped and how to go on
    return 143 if e.args == ('SIGTERM',) else 130  # 128 + the signal


def _pipeline_def(file: str, args, extra: list[str],
                  root: Optional[str] = None):
  """The PipelineDef a file or notebook defines; `root`, when given, binds
  the file's own `root` parameter (if it has one) unless --set does. What
  a notebook's reading says (which of its PipelineDefs it took) is printed
  as a note."""
  if file.endswith('.ipynb'):
    from fluent_pipeline.project import notebook, pipeline_file
    if args.set or extra:
      raise pipeline_file.ArgumentError(
          f'error: {file}: a notebook takes no parameters (--set, --NAME '
          'VALUE): set the values in its cells')
    notes: list[str] = []
    pdef = notebook.load(file, args.name, notes)
    _print_notes(notes)
    return _rooted(pdef, root)
  loaded, assignments = _load(file, args, extra, root)
  return _rooted(loaded.build(assignments), root)


def _print_notes(notes: list[str]) -> None:
  for note in notes:
    print(f'note: {note}', file=sys.stderr)


def _load(file: str, args, extra: list[str], root: Optional[str] = None):
  """The loaded pipeline file and its assignments (name -> text). A --set
  or --NAME VALUE the file's syntax already refutes is an error before the
  file runs (its imports, TensorFlow's often, take seconds)."""
  from fluent_pipeline.project import pipeline_file
  defaults = {'root': root} if root else None
  pipeline_file.check_early(file, args.name, args.set, extra, defaults)
  loaded = pipeline_file.load(file, args.name)
  assignments = pipeline_file.split_assignments(args.set, extra,
                                                loaded.parameters)
  if root and 'root' in loaded.parameters:
    assignments.setdefault('root', root)
  return loaded, assignments


def _is_file(target: Optional[str]) -> bool:
  return bool(target) and target.endswith('.py') and os.path.isfile(target)


def _store(args, target: Optional[str] = None):
  """What recorded.history takes: a PipelineDef or a directory."""
  if getattr(args, 'pipeline_file', None):
    return _pipeline_def(args.pipeline_file, args, [])
  if _is_file(target):
    return _pipeline_def(target, args, [])
  if target and os.path.isdir(target):
    return target
  return args.root or 'runs'


def _run(args, extra) -> int:
  if args.override and not args.resume:
    raise SystemExit('error: --override goes with --resume (it resumes '
                     'with other parameter values than the run used)')
  if args.resume and not args.file.endswith('.ipynb'):
    pdef = _resumed_pipeline_def(args, extra)
  else:
    pdef = _pipeline_def(args.file, args, extra, root=args.root)
  runner = None
  if args.runner == 'beam':
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    runner = BeamDagRunner()
  result = pdef.run(runner, verbose=args.verbose, from_step=args.from_step,
                    to_step=args.to_step, only=args.only,
                    resume=args.resume, override=args.override,
                    rollback=args.rollback)
  print(result)
  return 0


def _rollback(args, extra) -> int:
  """`rollback RUN_ID`: the run's chain (PipelineDef.from_run) run with
  rollback on."""
  del extra
  from fluent_pipeline.pipeline_def import PipelineDef
  pdef = PipelineDef.from_run(args.run_id, _store(args))
  result = pdef.run(verbose=args.verbose, rollback=True)
  print(result)
  if result.push.get('rollback_refused'):
    print(f'rollback of run {args.run_id} refused: '
          f'{result.push["rollback_refused"]}', file=sys.stderr)
    return 1
  trainer = result.states.get('Trainer')
  if trainer not in (None, 'CACHED'):
    print(f'note: the Trainer ran again ({trainer}): run {args.run_id}\'s '
          'chain did not come from cache (its data, code or cache setting '
          'changed), so the model pushed is a new one, not that run\'s',
          file=sys.stderr)
  return 0


def _resumed_pipeline_def(args, extra):
  """The file's PipelineDef made with the parameters the run being resumed
  used; a --set that differs is an error unless --override."""
  from fluent_pipeline.orchestration import runners
  loaded, assignments = _load(args.file, args, extra, args.root)
  given = loaded.parse(assignments)
  pdef = _rooted(loaded.make(given), args.root)  # where its runs are
  base = runners.resumed_run(pdef)
  if base is None or not base.parameters:
    return pdef  # run() says there is nothing to resume, or records none
  values, changes = loaded.resume_values(given, base.parameters, base.run_id,
                                         args.override)
  if changes:
    print(f'note: resuming run {base.run_id} with other parameters '
          '(--override):\n  ' + '\n  '.join(changes), file=sys.stderr)
  else:
    print(f'resuming run {base.run_id} with the parameters it used: '
          + ', '.join(f'{k}={v!r}' for k, v in base.parameters.items()),
          file=sys.stderr)
  return _rooted(loaded.make(values), args.root)


def _rooted(pdef, root: Optional[str]):
  return pdef.with_root(root) if root else pdef


def _show(args, extra) -> int:
  if _is_file(args.target):
    _print_pipeline(_pipeline_def(args.target, args, extra))
    return 0
  if args.target.endswith('.py'):
    raise LookupError(f'{args.target} does not exist')
  from fluent_pipeline.recorded import history
  result = history.read_run(_store(args), args.target)
  print(result)
  if result.configuration:  # a reused step: the code of the run that made it
    print(_configuration_text(result.effective_configuration))
  return 0


def _producer(channel) -> str:
  producer = getattr(channel, 'producer_component_id', None)
  if producer:
    return f'{producer}.{channel.output_key}'
  return f'MLMD query ({channel.type_name})'


def _print_pipeline(pdef) -> None:
  """Each component with its wiring, then the arguments of its chain call."""
  from fluent_pipeline.dsl import wiring
  plan = pdef._plan
  pipeline, nodes_by_call = wiring.build_indexed(plan)
  config = _configuration_of(pipeline)
  call_of = {ids[0]: call for call, ids in nodes_by_call.items()}
  print(f'Pipeline {pdef.name!r} (pipeline root {pdef.pipeline_root})')
  if config and config['parameters']:
    print('  parameters: ' + ', '.join(
        f'{k}={v!r}' for k, v in config['parameters'].items()))
  for component in pipeline.components:
    wired = ', '.join(f'{key}<-{_producer(ch)}'
                      for key, ch in component.inputs.items())
    print(f'{component.id}: {type(component).__name__}'
          + (f' ({wired})' if wired else ''))
    call = call_of.get(component.id)
    if config and call:
      args = (config['source'] if call.startswith('from_')
              else config['steps'].get(call, {}))
      for line in _argument_lines(args, config):
        print(f'    {line}')


def _configuration_of(pipeline) -> Optional[dict[str, Any]]:
  for component in pipeline.components:
    text = component.exec_properties.get('configuration_json')
    if text:
      return json.loads(text)
  return None


def _argument_lines(args: dict[str, Any], config: dict[str, Any]) -> list[str]:
  lines = []
  for name, value in args.items():
    if value is None:
      continue
    if isinstance(value, dict) and 'user_code' in value:
      code = config['user_code'].get(value['user_code'], {})
      where = code.get('location', code.get('module', '?'))
      value = (f'{code.get("given_as", "code").replace("_", " ")} {where} '
               f'(sha256 {value["user_code"][:12]})')
    elif not isinstance(value, str):
      value = json.dumps(value, sort_keys=True)
    lines.append(f'{name}: {value}')
  return lines


def _configuration_text(config: dict[str, Any]) -> str:
  lines = ['  configuration:']
  if config.get('parameters'):
    lines.append('    parameters: ' + ', '.join(
        f'{k}={v!r}' for k, v in config['parameters'].items()))
  made_by = config.get('made_by') or {}
  if config.get('source'):
    lines.append(f'    {config["source"].get("kind")} source: '
                 + json.dumps(config['source'], sort_keys=True)
                 + (f' ({made_by["source"]})' if 'source' in made_by else ''))
  for call, args in config.get('steps', {}).items():
    lines.append(f'    {call}:' + (f' ({made_by[call]})' if call in made_by
                                    else ''))
    lines += [f'      {line}' for line in _argument_lines(args, config)]
  settings = config.get('settings', {})
  lines.append('    settings: ' + json.dumps(settings, sort_keys=True))
  lines.append('    versions: ' + ', '.join(
      f'{k} {v}' for k, v in config.get('versions', {}).items()))
  return '\n'.join(lines)


def _runs(args, extra) -> int:
  del extra
  from fluent_pipeline.recorded import history
  found = history.runs(_store(args, args.target), limit=args.limit or None)
  print(runs_table(found))
  return 0


def runs_table(found) -> str:
  """One line per run: id, start, time, states, metrics, blessing, push."""
  header = ('RUN ID', 'STARTED', 'TIME', 'STEPS', 'METRICS', 'BLESSED',
            'PUSHED', 'PARAMETERS')
  rows = [header]
  for run in found:
    counts: dict[str, int] = {}
    for state in run.states.values():
      counts[state.lower()] = counts.get(state.lower(), 0) + 1
    failed = [c.node_id for c in run.components if c.state == 'FAILED']
    steps = ', '.join(f'{n} {s}' for s, n in sorted(counts.items()))
    if failed:
      steps += f' ({", ".join(failed)})'
    if run.partial_run is not None:
      steps += f' (partial: {run.partial_description()})'
    metrics = ' '.join(f'{k}={v:.4g}' for k, v in sorted(run.metrics.items()))
    if 'metrics' in run.unreadable:  # `show RUN_ID` says why
      metrics = (metrics + ' ' if metrics else '') + '(unreadable)'
    blessed = {None: '-', True: 'yes', False: 'no'}[run.blessed]
    rows.append((run.run_id,
                 run.started.strftime('%Y-%m-%d %H:%M:%S') if run.started
                 else '?', f'{run.seconds:.1f} s', steps, metrics or '-',
                 blessed, _pushed_cell(run),
                 ' '.join(f'{k}={v}' for k, v in run.parameters.items())
                 or '-'))
  widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
  return '\n'.join('  '.join(str(v).ljust(w) for v, w in zip(r, widths))
                   .rstrip() for r in rows)


def _pushed_cell(run) -> str:
  """Whether this run pushed a model: 'yes', 'rollback', 'no (held)' (a
  version already held it), 'cached' (an earlier run's push, served from
  cache or reused), 'no' or '-' (no Pusher)."""
  pusher = next((c for c in run.components if 'pushed_model' in c.outputs),
                None)
  if pusher is None:
    return '-'
  if pusher.state in ('CACHED', 'REUSED'):
    return pusher.state.lower() if run.pushed_model else 'no'
  if run.push.get('rolled_back_version'):
    return 'rollback'
  if run.pushed_model:
    return 'yes'
  return 'no (held)' if run.push.get('already_pushed_version') else 'no'


def _diff(args, extra) -> int:
  del extra
  from fluent_pipeline.recorded import history
  print(history.diff(_store(args), args.run_a, args.run_b))
  return 0


def _report(args, extra) -> int:
  del extra
  from fluent_pipeline.recorded import history
  store = _store(args)
  result = history.read_run(store, args.run_id)
  other = (history.read_run(store, args.compare) if args.compare
           else None)
  print(result.report(args.output, compare=other))
  return 0


def _gc(args, extra) -> int:
  del extra
  from fluent_pipeline.recorded import gc
  print(gc.gc(_store(args, args.target), keep=args.keep,
              dry_run=args.dry_run))
  return 0


def _compile(args, extra) -> int:
  pdef = _pipeline_def(args.file, args, extra, root=args.root)
  from fluent_pipeline.orchestration import compile as compile_
  if args.kubernetes and args.runner != 'airflow':
    raise SystemExit(f'error: --kubernetes is for --runner airflow; '
                     f'{args.runner} runs every component in --image already')
  if args.runner == 'airflow':
    return _compile_airflow(args, extra, pdef)
  if args.runner not in compile_.IMAGE_RUNNERS:
    path = compile_.write_ir(pdef, args.runner, args.output)
    print(f'wrote {path} ({args.runner})')
    variables = compile_.beam_secret_variables(pdef._plan)
    if variables:
      print('note: its Beam flags read these secrets from the environment '
            'of the process that runs it: ' + ', '.join(variables),
            file=sys.stderr)
    return 0
  if args.output.endswith('.json'):
    raise SystemExit(f'error: for {args.runner}, -o is a directory (the '
                     'spec and the build context of its image go there)')
  if not args.image:
    raise SystemExit(f'error: {args.runner} needs --image: the image you '
                     'will build from the output directory and push, e.g. '
                     '--image gcr.io/PROJECT/NAME:TAG')
  written = compile_.write_image_build(
      pdef, args.runner, args.output, image=args.image,
      allow_local_paths=args.allow_local_paths)
  print(f'wrote {written["spec"]} ({args.runner}; components run in '
        f'{args.image})')
  from fluent_pipeline.dsl import plan
  ignored = plan.not_applied(pdef._plan, args.runner)
  if ignored:
    print(f'note: {ignored}', file=sys.stderr)
  print(f'and the build context of {args.image}: {args.output}/Dockerfile')
  print(f'next: docker build -t {args.image} {args.output} && '
        f'docker push {args.image}; then submit {written["spec"]} '
        f'({args.output}/README.md)')
  if written['environment']:
    print('note: the spec reads these secrets from the containers\' '
          'environment (set them from a Kubernetes secret; '
          f'{args.output}/README.md):\n  '
          + written['environment'].replace('\n', '\n  '), file=sys.stderr)
  if written['local_paths']:
    print('note: the spec names paths of this machine (--allow-local-paths),'
          ' which every container must mount:\n  '
          + written['local_paths'].replace('\n', '\n  '), file=sys.stderr)
  return 0


def _compile_airflow(args, extra, pdef) -> int:
  from fluent_pipeline.orchestration import airflow
  from fluent_pipeline.project import pipeline_file
  if args.file.endswith('.ipynb'):
    raise SystemExit('error: an Airflow DAG builds its pipeline from a '
                     'pipeline file: `fluent-pipeline export` the notebook '
                     'first, then compile its pipeline.py')
  parameters = pipeline_file.split_assignments(
      args.set, extra, pipeline_file.load(args.file, args.name).parameters)
  _refuse_secret_assignments(parameters, 'the DAG file')
  kubernetes = None
  if args.kubernetes:
    if not args.image:
      raise SystemExit('error: --kubernetes needs --image: the image of '
                       '`fluent-pipeline compile --runner vertex` (its build '
                       'context), which the pods run')
    kubernetes = {'image': args.image}
  elif args.image:
    raise SystemExit('error: --image with --runner airflow needs '
                     '--kubernetes (the tasks run in pods of that image)')
  path = airflow.write_dag_file(
      args.file, args.output, pdef, name=args.name,
      parameters=parameters, root=args.root, schedule=args.schedule,
      start_date=args.start_date,
      metadata_connection=args.metadata_connection, kubernetes=kubernetes,
      allow_local_paths=args.allow_local_paths)
  if importlib.util.find_spec('airflow') is not None:
    # Load the DAG file as Airflow's parser will (it reads the compiled
    # pipeline beside it), with Airflow's output in a log.
    from fluent_pipeline.orchestration import logs
    log = os.path.join(tempfile.gettempdir(), 'fluent_pipeline_logs',
                       f'compile-airflow-{pdef.name}.log')
    try:
      with logs.quiet_run(log):
        airflow.load_dag_file(path)
    except Exception as e:
      raise SystemExit(f'error: the DAG did not build: {type(e).__name__}: '
                       f'{e}\n  full log: {log}') from None
  else:
    print('note: Apache Airflow is not installed here, so the DAG was not '
          "built (pip install 'fluent-pipeline[airflow]')")
  print(f'wrote {path} (airflow: DAG {pdef.name!r}, one task per node)')
  from fluent_pipeline.dsl import plan
  ignored = plan.not_applied(pdef._plan,
                             'kubernetes' if kubernetes else 'airflow')
  if ignored:
    print(f'note: {ignored}' + ('' if kubernetes else
                                '; --kubernetes sizes pods with cpu, memory '
                                'and gpu'), file=sys.stderr)
  if kubernetes:
    print(f'note: its tasks run their nodes in pods of {args.image} '
          '(KubernetesPodOperator), compiled values only (no trigger-time '
          'params); build that image from `fluent-pipeline compile --runner '
          'vertex --image ...`; nothing here reached a cluster',
          file=sys.stderr)
  print(f'next: put it in your dags folder, then `airflow dags test '
        f'{pdef.name}` runs it once here, or `airflow dags trigger '
        f'{pdef.name}` on your scheduler')
  return 0


def _refuse_secret_assignments(assignments: dict[str, str],
                               where: str) -> None:
  """A --set of a secret (a parameter named like a password, token, ...)
  that would be written into a file in clear is refused."""
  from fluent_pipeline import errors
  from fluent_pipeline.dsl import configuration
  for name, value in assignments.items():
    if configuration.is_secret(name, value):
      variable = re.sub(r'\W', '_', name).upper()
      raise errors.PipelineDefinitionError(
          'compile', f'--set {name}=...: {name} is a secret, which {where} '
          'would hold in clear (nothing was written)',
          fix=f'read it in the pipeline file from the environment ({name}: '
          f"str = os.environ.get({variable!r}, '')) and set {variable} "
          "where it runs, not with --set")


def _export(args, extra) -> int:
  from fluent_pipeline.project import export as export
  factory = None
  if args.file.endswith('.ipynb'):
    pdef = _pipeline_def(args.file, args, extra)
  else:
    loaded, assignments = _load(args.file, args, extra)
    pdef = loaded.build(assignments)
    if loaded.factory is not None:  # pipeline.py keeps create_pipeline()
      factory = export.Factory(
          parameters={n: p.type for n, p in loaded.parameters.items()},
          remake=lambda values: loaded.make(values)._plan)
  project = export.make(pdef._plan, factory=factory)
  path = export.write(project, args.output)
  print(f'wrote {os.path.dirname(path) or "."}/: '
        + ', '.join(sorted(project.files)))
  print(f'run it: fluent-pipeline run {path}')
  _print_notes(project.notes)
  return 0


_COMMANDS = {'run': _run, 'show': _show, 'runs': _runs, 'diff': _diff,
             'compile': _compile, 'export': _export, 'report': _report,
             'gc': _gc, 'rollback': _rollback}


if __name__ == '__main__':
  sys.exit(main())
