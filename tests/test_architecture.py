"""docs/ARCHITECTURE.md matches the tree it describes, and the layer
contracts hold (the same check `make lint` runs)."""

import importlib
import os
import re
import subprocess
import sys
import types

import tomli as toml  # pytest needs it on Python < 3.11

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, 'fluent_pipeline')
DOC = os.path.join(REPO, 'docs', 'ARCHITECTURE.md')


def _doc():
  with open(DOC, encoding='utf-8') as f:
    return f.read()


def _tree_block():
  return _doc().split('```', 2)[1]


def _children():
  """Top-level modules and subpackages of fluent_pipeline."""
  found = set()
  for name in os.listdir(PACKAGE):
    path = os.path.join(PACKAGE, name)
    if name.endswith('.py') and name != '__init__.py':
      found.add(name)
    elif os.path.isfile(os.path.join(path, '__init__.py')):
      found.add(name + '/')
  return found


def test_the_tree_names_every_module_and_subpackage_and_nothing_else():
  block = _tree_block()
  named = set(re.findall(r'\b([a-z_0-9]+(?:\.py|/))', block)) - {'fluent_pipeline/'}
  assert named == _children()


def test_each_subpackage_row_names_exactly_its_modules():
  table = {}
  for line in _doc().splitlines():
    m = re.match(r'\| `([a-z_]+)/` \| (.*) \| (.*) \|$', line)
    if m:
      table[m.group(1)] = set(re.findall(r'`([a-z_0-9]+)`', m.group(2)))
  subpackages = {c[:-1] for c in _children() if c.endswith('/')}
  assert set(table) == subpackages
  for package, named in table.items():
    modules = {n[:-3] for n in os.listdir(os.path.join(PACKAGE, package))
               if n.endswith('.py') and n != '__init__.py'}
    # components/ is described by its classes; its modules are in the tree
    if package == 'components':
      continue
    assert modules <= named, (package, modules - named)


def test_the_layers_contract_lists_the_tree_in_its_order():
  with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
    config = toml.load(f)
  contracts = config['tool']['importlinter']['contracts']
  layers = next(c for c in contracts
                if c['containers'] == ['fluent_pipeline'])['layers']
  in_contract = [set(part.strip() for part in layer.split('|'))
                 for layer in layers]
  flat = set().union(*in_contract)
  assert flat == {c.rstrip('/').removesuffix('.py') for c in _children()}
  # the doc's tree lists the layers top to bottom, as the contract does
  lines = _tree_block().splitlines()

  def line_of(name):
    pattern = re.compile(rf'(?<![\w.]){re.escape(name)}(/|\.py)(?!\w)')
    return next(i for i, line in enumerate(lines) if pattern.search(line))
  positions = [[line_of(name) for name in layer] for layer in in_contract]
  for upper, lower in zip(positions, positions[1:]):
    assert max(upper) <= min(lower), (positions, layers)


def test_the_import_contracts_hold():
  lint = os.path.join(os.path.dirname(sys.executable), 'lint-imports')
  done = subprocess.run([lint, '--no-cache'], cwd=REPO, capture_output=True,
                        text=True, check=False)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
  assert '0 broken' in done.stdout


def test_no_public_name_hides_a_subpackage():
  """`import fluent_pipeline.x.y as m` and mock.patch('fluent_pipeline.x...')
  look `x` up as an attribute of the package: a public function of that
  name (`runs`) would hide the subpackage."""
  import fluent_pipeline
  for child in sorted(c for c in _children() if c.endswith('/')):
    name = child[:-1]
    importlib.import_module(f'fluent_pipeline.{name}')
    assert isinstance(getattr(fluent_pipeline, name), types.ModuleType), name
