"""Process environment that the pinned TFX stack needs, set before TF loads.

TF 2.16 ships Keras 3, which TFX 1.16's Keras code cannot use; tf-keras (Keras
2) is selected by TF_USE_LEGACY_KERAS, which TensorFlow reads when `tf.keras`
is first touched. Setting it here, at `import fluent_pipeline`, spares users
from exporting it themselves. TF's C++ start-up chatter is silenced the same
way. Both use setdefault so an explicit user choice wins.
"""

import os
import sys
import warnings

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
