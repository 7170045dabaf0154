"""Reuse of TFX's user-code wheels when the module files have not changed.

TFX (udf_utils.UserModuleFilePipDependency) builds a wheel of a component's
module file at every run, even when an identical one (same content hash) is
already in <pipeline root>/_wheels. This dependency does the same, except
that it first looks for that wheel.
"""

import os
import re
from typing import Optional

from tfx.components.util import udf_utils


class _ReusingUserModuleDependency(udf_utils.UserModuleFilePipDependency):
  """TFX's user-module dependency, reusing an existing wheel of its hash."""

  def resolve(self, pipeline_root: str):
    module_file = self.component.spec.exec_properties.get(
        self.module_file_key)
    wheel = None
    if isinstance(module_file, str) and pipeline_root:
      wheel = existing_wheel(self.component.id, module_file, pipeline_root)
    if wheel is None:
      return super().resolve(pipeline_root)
    module_name = os.path.basename(module_file)[:-len('.py')]
    self.component.spec.exec_properties[self.module_path_key] = (
        f'{module_name}@{wheel}')
    self.component.spec.exec_properties[self.module_file_key] = None
    return wheel


def existing_wheel(component_id: str, module_file: str,
                   pipeline_root: str) -> Optional[str]:
  """The wheel TFX would build for this module file, if already built."""
  module_file = os.path.abspath(module_file)
  if not module_file.endswith('.py') or not os.path.isfile(module_file):
    return None
  wheels = os.path.join(pipeline_root, '_wheels')
  if not os.path.isdir(wheels):
    return None
  module_dir = os.path.dirname(module_file)
  sources = [f for f in os.listdir(module_dir) if f.endswith('.py')]
  version_hash = udf_utils._get_version_hash(module_dir, sources)
  project = re.sub(r'[-_.]+', '_', f'tfx-user-code-{component_id}').lower()
  prefix = f'{project}-0.0+{version_hash}-'
  for name in os.listdir(wheels):
    if name.lower().startswith(prefix) and name.endswith('.whl'):
      return os.path.join(wheels, name)
  return None


def reuse_existing(component) -> None:
  """Swaps TFX's module-file dependencies of `component` for reusing ones."""
  dependencies = getattr(component, '_pip_dependencies', None)
  if not dependencies:
    return
  for i, dependency in enumerate(dependencies):
    if type(dependency) is udf_utils.UserModuleFilePipDependency:
      dependencies[i] = _ReusingUserModuleDependency(
          dependency.component, dependency.module_file_key,
          dependency.module_path_key)
