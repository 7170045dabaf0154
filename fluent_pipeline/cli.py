"""`fluent-pipeline`: run or inspect a pipeline defined in a Python file.

The file defines a PipelineDef at module level (any name; `--name` picks one
when there are several) or a function `create_pipeline()` returning one.
TFX is only imported once a command needs it, so `--help` answers at once.
"""

import argparse
import runpy
import sys
from typing import List, Optional


def _load(path: str, name: Optional[str]):
  from fluent_pipeline.pipeline_def import PipelineDef  # pylint: disable=g-import-not-at-top
  namespace = runpy.run_path(path, run_name='__fluent_pipeline__')
  if name:
    if name not in namespace:
      raise SystemExit(f'error: {path} defines no {name!r}')
    found = namespace[name]
    found = found() if callable(found) and not isinstance(
        found, PipelineDef) else found
  elif 'create_pipeline' in namespace:
    found = namespace['create_pipeline']()
  else:
    defs = {k: v for k, v in namespace.items() if isinstance(v, PipelineDef)}
    if len(defs) != 1:
      raise SystemExit(
          f'error: {path} defines {len(defs)} PipelineDefs '
          f'({", ".join(defs) or "none"}); pick one with --name')
    found = next(iter(defs.values()))
  if not isinstance(found, PipelineDef):
    raise SystemExit(f'error: {name or "create_pipeline()"} in {path} is a '
                     f'{type(found).__name__}, not a PipelineDef')
  return found


def _producer(channel) -> str:
  producer = getattr(channel, 'producer_component_id', None)
  if producer:
    return f'{producer}.{channel.output_key}'
  return f'MLMD query ({channel.type_name})'


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='fluent-pipeline',
      description='Run or inspect a fluent TFX pipeline defined in a file.')
  sub = parser.add_subparsers(dest='command', required=True)
  for command, text in (('run', 'build and run on LocalDagRunner'),
                        ('show', 'print the components and their inputs')):
    p = sub.add_parser(command, help=text)
    p.add_argument('file', help='Python file defining the pipeline')
    p.add_argument('--name', help='variable or function holding it')
    if command == 'run':
      p.add_argument('--verbose', action='store_true',
                     help='show TFX, Beam and absl logs')
  args = parser.parse_args(argv)
  pipeline_def = _load(args.file, args.name)
  if args.command == 'show':
    for component in pipeline_def.build().components:
      wired = ', '.join(f'{key}<-{_producer(ch)}'
                        for key, ch in component.inputs.items())
      print(f'{component.id}: {type(component).__name__}'
            + (f' ({wired})' if wired else ''))
    return 0
  result = pipeline_def.run(verbose=args.verbose)
  print(result)
  return 0


if __name__ == '__main__':
  sys.exit(main())
