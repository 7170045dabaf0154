"""Process environment that the pinned TFX stack needs, set before TF loads.

TF 2.16 ships Keras 3, which TFX 1.16's Keras code cannot use; tf-keras (Keras
2) is selected by TF_USE_LEGACY_KERAS, which TensorFlow reads when `tf.keras`
is first touched. Setting it here, at `import fluent_pipeline`, spares users
from exporting it themselves. TF's C++ start-up chatter is silenced the same
way. Both use setdefault so an explicit user choice wins.

`user_code_pip_env` sets, for a run, what TFX's pip install of user-code
wheels needs (every runner of ours, Airflow's tasks included, uses it).
"""

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

_DEFAULTS = {
    'TF_USE_LEGACY_KERAS': '1',
    'TF_CPP_MIN_LOG_LEVEL': '3',
}


def configure() -> None:
  for key, value in _DEFAULTS.items():
    os.environ.setdefault(key, value)
  # google-api-core warns on every import that Python 3.10 is old; TFX 1.16
  # cannot run on anything newer, so the warning is noise for our users.
  warnings.filterwarnings(
      'ignore', category=FutureWarning, module=r'google\.api_core.*')
  keras = sys.modules.get('keras')
  if ('tensorflow' in sys.modules and keras is not None
      and getattr(keras, '__version__', '2').startswith('3')
      and os.environ.get('TF_USE_LEGACY_KERAS') != '1'):
    warnings.warn(
        'Keras 3 was loaded before fluent_pipeline; TFX 1.16 needs tf-keras. '
        'Import fluent_pipeline first or export TF_USE_LEGACY_KERAS=1.',
        RuntimeWarning, stacklevel=3)


# TFX pip-installs each user-code wheel (Transform, Trainer, Tuner) into a
# temporary directory before running it. The wheels have no dependencies, so
# pip needs no package index: without one it cannot stall on an unreachable
# index or version check (offline machines, firewalled clusters), and each
# install is 0.3-0.7 s faster here.
_USER_CODE_PIP_ENV = {'PIP_NO_INDEX': '1', 'PIP_NO_DEPS': '1',
                      'PIP_DISABLE_PIP_VERSION_CHECK': '1'}


@contextlib.contextmanager
def user_code_pip_env() -> Iterator[None]:
  """Sets `_USER_CODE_PIP_ENV` for the run, restoring the caller's."""
  saved = {k: os.environ.get(k) for k in _USER_CODE_PIP_ENV}
  os.environ.update(_USER_CODE_PIP_ENV)
  try:
    yield
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
