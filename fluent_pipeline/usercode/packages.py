"""Installed packages or the user's own code: which a module is.

User code of the user's own files is copied or written out (export, the
image build context, generated modules); an installed package is imported by
name where the code runs.
"""

import functools
import os
import site
import sys
import sysconfig


def installed(module) -> bool:
  """Whether `module` comes from an installed package (site-packages or the
  standard library) rather than the user's own files."""
  path = getattr(module, '__file__', None)
  if not path:  # built in, a namespace package, or a notebook's namespace
    return module.__name__ in sys.builtin_module_names or hasattr(
        module, '__path__')
  path = os.path.realpath(path)
  if any(path.startswith(root + os.sep) for root in install_roots()):
    return True
  # An installed distribution's package, wherever it lives (pip install -e).
  return module.__name__.split('.')[0] in _distributed_packages()


@functools.lru_cache(maxsize=1)
def install_roots():
  roots = {os.path.realpath(p) for key in ('stdlib', 'platstdlib', 'purelib',
                                           'platlib')
           for p in [sysconfig.get_paths().get(key)] if p}
  roots |= {os.path.realpath(p) for p in site.getsitepackages()}
  if site.ENABLE_USER_SITE:
    roots.add(os.path.realpath(site.getusersitepackages()))
  return roots


@functools.lru_cache(maxsize=1)
def _distributed_packages():
  import importlib.metadata
  return set(importlib.metadata.packages_distributions())
