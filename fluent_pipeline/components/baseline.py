"""The Evaluator's baseline: the latest blessed model other than the candidate.

TFX's LatestBlessedModelStrategy resolves the latest blessed model, which,
once a run blessed its model, is that very model: an unchanged re-run then
evaluates the model against itself, so the Evaluator's inputs changed (the
baseline went from none to the model) and TFX's cache cannot serve it, nor
the Pusher after it. This strategy is also given the Trainer's model of the
run (`candidate`) and skips it, so an unchanged re-run resolves the same
baseline as the run before (none, or the same older model) and the cache
serves the Evaluator and the Pusher.

Kubeflow V2 / Vertex compile only TFX's two strategies, and the launchers of
TFX's AirflowDagRunner give a resolver every model the Trainer ever made
rather than this run's; there the wiring keeps LatestBlessedModelStrategy
(dsl/wiring.py).
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

# The resolver's input keys.
MODEL_KEY = 'model'
MODEL_BLESSING_KEY = 'model_blessing'
CANDIDATE_KEY = 'candidate'

# What TFX's Evaluator writes on its ModelBlessing (evaluator.constants,
# named here as LatestBlessedModelStrategy names them).
_CURRENT_MODEL_ID = 'current_model_id'
_BLESSED = 'blessed'


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
  """The latest blessed Model (and its ModelBlessing) that is not one of the
  `candidate` input's models; none when there is no such model.

  Inputs: `model` (every Model), `model_blessing` (every ModelBlessing) and
  `candidate` (the Trainer's model of this run). "Latest" is the highest
  artifact id, as in TFX's LatestBlessedModelStrategy; of several blessings
  of that model, the latest.
  """

  def resolve_artifacts(
      self, store, input_dict: Dict[str, List[types.Artifact]]
  ) -> Optional[Dict[str, List[types.Artifact]]]:
    del store  # everything needed is in the inputs
    candidates = {a.id for a in input_dict.get(CANDIDATE_KEY, [])}
    blessings: Dict[int, types.Artifact] = {}
    for blessing in sorted(input_dict.get(MODEL_BLESSING_KEY, []),
                           key=lambda a: a.id):
      if blessing.get_int_custom_property(_BLESSED) == 1:
        blessings[blessing.get_int_custom_property(_CURRENT_MODEL_ID)] = (
            blessing)
    result: Dict[str, List[types.Artifact]] = {key: [] for key in input_dict}
    result[CANDIDATE_KEY] = list(input_dict.get(CANDIDATE_KEY, []))
    for model in sorted(input_dict.get(MODEL_KEY, []), key=lambda a: a.id,
                        reverse=True):
      if model.id in blessings and model.id not in candidates:
        result[MODEL_KEY] = [model]
        result[MODEL_BLESSING_KEY] = [blessings[model.id]]
        break
    return result
