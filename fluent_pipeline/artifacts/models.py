"""Which model an evaluation's figures are of: the one rule that every reader
of a TFMA evaluation's metrics uses (the run listing, `RunResult.metrics`,
`RunResult.metrics_by_slice`, the report's evaluation and comparison).

With a baseline, TFMA writes each metric three times: the candidate's, the
baseline's, and the candidate's change from it (`MetricKey.is_diff`). Each
MetricKey names its model (`model_name`) as the EvalConfig's model_specs do:

- the baseline is the spec with `is_baseline`;
- the candidate is the (first) spec without it: TFX's Evaluator takes one
  candidate and at most one baseline;
- a change is the candidate's: TFMA gives it the candidate's name.

The names are the user's to choose: 'candidate' and 'baseline' are only
what TFMA calls the two models when the user named neither, and a single
model is named ''. So the names are read from the EvalConfig TFMA wrote
next to the metrics (eval_config.json, the config with TFMA's defaults
filled in), as JSON: no TensorFlow import, so run listings stay fast.
Without that file (or, with a warning, one that is not an EvalRun), TFMA's
default names apply.
"""

import dataclasses
import json
import warnings
from collections.abc import Iterable
from typing import Any, Optional

from fluent_pipeline import _paths

CANDIDATE = 'candidate'
BASELINE = 'baseline'
DIFF = 'diff'  # the candidate's change from the baseline

EVAL_CONFIG_FILE = 'eval_config.json'  # TFMA's eval_config_writer


@dataclasses.dataclass(frozen=True)
class Models:
  """The model names of one evaluation: the candidate's and the baseline's."""
  candidate: frozenset[str]
  baseline: frozenset[str]

  def role(self, model_name: str, is_diff: bool = False) -> Optional[str]:
    """CANDIDATE, BASELINE or DIFF for a metric of model `model_name`; None
    for any other model (its figures are no run's)."""
    if model_name in self.candidate:
      return DIFF if is_diff else CANDIDATE
    if model_name in self.baseline and not is_diff:
      return BASELINE
    return None


# TFMA's names when the EvalConfig is unknown: '' for a single model,
# 'candidate' and 'baseline' for two the user did not name.
DEFAULT = Models(candidate=frozenset({'', 'candidate'}),
                 baseline=frozenset({'baseline'}))


def of_specs(specs: Iterable[tuple[str, bool]]) -> Models:
  """The Models of the model specs (name, is_baseline), in EvalConfig
  order; DEFAULT when there are none."""
  specs = list(specs)
  if not specs:
    return DEFAULT
  candidates = [name for name, is_baseline in specs if not is_baseline]
  return Models(candidate=frozenset(candidates[:1]),
                baseline=frozenset(name for name, is_baseline in specs
                                   if is_baseline))


def of_eval_run_json(text: str) -> Models:
  """The Models of an EvalRun as TFMA writes it (eval_config.json: protobuf
  JSON, whose field names may be lowerCamelCase or as in the .proto)."""
  run = json.loads(text)
  config = _field(run, 'evalConfig', 'eval_config') or {}
  specs = _field(config, 'modelSpecs', 'model_specs') or []
  return of_specs((str(_field(spec, 'name') or ''),
                   bool(_field(spec, 'isBaseline', 'is_baseline')))
                  for spec in specs)


def of_evaluation(evaluation_uri: str) -> Models:
  """The Models of a ModelEvaluation artifact, from its eval_config.json;
  DEFAULT when it has none, or (with a warning) one that is not an EvalRun."""
  path = _paths.join(evaluation_uri, EVAL_CONFIG_FILE)
  if not _paths.exists(path):
    return DEFAULT
  text = _paths.read_text(path)  # a file that cannot be read raises
  try:
    return of_eval_run_json(text)
  except (ValueError, TypeError, AttributeError) as e:
    warnings.warn(f'{path} is not an EvalRun ({type(e).__name__}: {e}); '
                  "its metrics are read as of TFMA's default model names",
                  stacklevel=2)
    return DEFAULT


def _field(message: Any, *names: str) -> Any:
  for name in names:
    if name in message:
      return message[name]
  return None
