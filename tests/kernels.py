"""A Jupyter kernel on this interpreter, for tests that run notebooks the way
a person does (nbclient), whatever other kernels the machine has."""

import json
import os
import sys

from jupyter_client import kernelspec, manager


def kernel_manager(kernels_dir: str) -> manager.KernelManager:
  """A 'python3' kernel on this interpreter."""
  spec_dir = os.path.join(kernels_dir, 'python3')
  os.makedirs(spec_dir)
  with open(os.path.join(spec_dir, 'kernel.json'), 'w') as f:
    json.dump({'argv': [sys.executable, '-m', 'ipykernel_launcher',
                        '-f', '{connection_file}'],
               'display_name': 'fluent_pipeline test', 'language': 'python'},
              f)
  return manager.KernelManager(
      kernel_name='python3',
      kernel_spec_manager=kernelspec.KernelSpecManager(
          kernel_dirs=[kernels_dir]))
