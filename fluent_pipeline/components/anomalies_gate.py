"""A gate after ExampleValidator that stops the run when it found anomalies.

TFX's ExampleValidator records anomalies but never fails, so training goes on
with data the schema rejects. `validate_input_data(fail_on_anomalies=True)`
adds this component after it, upstream of Transform, Tuner and Trainer: when
any split has anomalies it raises AnomaliesFound listing them, so nothing is
trained or pushed.
"""

import json
import os
from typing import Dict, List, Tuple

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import ExampleAnomalies

GATE_ID = 'anomalies_gate'


class AnomaliesFound(RuntimeError):
  """The data has anomalies against the schema."""

  def __init__(self, anomalies: List[Tuple[str, str, str, str]]):
    self.anomalies = anomalies  # (split, feature, kind, description)
    splits: Dict[Tuple[str, str, str], List[str]] = {}
    for split, feature, kind, description in anomalies:
      splits.setdefault((feature, kind, description), []).append(split)
    lines = [f'  {feature} ({", ".join(names)}): {kind}: {description}'
             for (feature, kind, description), names in splits.items()]
    super().__init__(f'ExampleValidator found {len(splits)} anomalies:\n'
                     + '\n'.join(lines))


def read_anomalies(uri: str, split_names: List[str]
                   ) -> List[Tuple[str, str, str, str]]:
  """(split, feature, kind, description) of every anomaly under `uri`."""
  from tensorflow_metadata.proto.v0 import anomalies_pb2
  from tfx.utils import io_utils
  found = []
  for split in split_names:
    path = os.path.join(uri, f'Split-{split}', 'SchemaDiff.pb')
    if not os.path.exists(path):
      continue
    anomalies = anomalies_pb2.Anomalies.FromString(
        io_utils.read_bytes_file(path))
    for feature, info in sorted(anomalies.anomaly_info.items()):
      kinds = ', '.join(anomalies_pb2.AnomalyInfo.Type.Name(r.type)
                        for r in info.reason) or 'UNKNOWN'
      found.append((split, feature, kinds,
                    info.description or info.short_description))
    if anomalies.HasField('dataset_anomaly_info'):
      info = anomalies.dataset_anomaly_info
      found.append((split, '(dataset)', ', '.join(
          anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason),
                    info.description or info.short_description))
  return found


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:
  """Fails when ExampleValidator found any anomaly."""
  found = read_anomalies(anomalies.uri, json.loads(anomalies.split_names))
  if found:
    raise AnomaliesFound(found)
