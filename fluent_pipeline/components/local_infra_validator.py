"""Serving validation without Docker or Kubernetes: LocalInfraValidator.

TFX's InfraValidator starts TensorFlow Serving in Docker or Kubernetes. This
component asks the same question, "does the model load and serve fast
enough?", on any machine: it loads the candidate SavedModel in a fresh Python
process, checks its serving signature, sends serialized tf.Example batches
made from the pipeline's own examples (as TFX's RequestSpec does), and times
the load and each request. It writes a standard InfraBlessing artifact
(`INFRA_BLESSED` / `INFRA_NOT_BLESSED` and the `blessed` custom property that
Pusher reads) with `measurements.json` beside the marker file.
"""

import json
import os
import statistics
import subprocess
import sys
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import path_utils

from fluent_pipeline.components import serving_probe

MEASUREMENTS_FILE = 'measurements.json'
_PROBE_TIMEOUT_SECONDS = 600


class LocalInfraValidatorSpec(types.ComponentSpec):
  PARAMETERS = {
      'max_load_seconds': ExecutionParameter(type=float),
      'max_latency_ms': ExecutionParameter(type=float),
      'num_requests': ExecutionParameter(type=int),
      'batch_size': ExecutionParameter(type=int),
      'signature_name': ExecutionParameter(type=str),
      'split': ExecutionParameter(type=str),
  }
  INPUTS = {
      'model': ChannelParameter(type=standard_artifacts.Model),
      'examples': ChannelParameter(type=standard_artifacts.Examples,
                                   optional=True),
  }
  OUTPUTS = {
      'blessing': ChannelParameter(type=standard_artifacts.InfraBlessing),
  }


def judge(result: Dict[str, Any], max_load_seconds: float,
          max_latency_ms: float) -> Optional[str]:
  """None when the measurements pass, else the one-line reason."""
  if result.get('error'):
    return result['error']
  load = result.get('load_seconds')
  if load is not None and load > max_load_seconds:
    return (f'loading took {load:.2f} s > max_load_seconds '
            f'{max_load_seconds:g}')
  p95 = result.get('p95_ms')
  if p95 is not None and p95 > max_latency_ms:
    return (f'p95 latency {p95:.1f} ms > max_latency_ms {max_latency_ms:g} '
            f'over {len(result["latencies_ms"])} requests')
  return None


def summarize(latencies: List[float]) -> Dict[str, float]:
  if not latencies:
    return {}
  ordered = sorted(latencies)
  p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
  return {'p50_ms': round(statistics.median(ordered), 3),
          'p95_ms': round(p95, 3), 'max_ms': round(ordered[-1], 3)}


class Executor(base_executor.BaseExecutor):
  """Runs the serving probe in a fresh process and writes the blessing."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    model = artifact_utils.get_single_instance(input_dict['model'])
    blessing = artifact_utils.get_single_instance(output_dict['blessing'])
    files = []
    if input_dict.get('examples'):
      examples = artifact_utils.get_single_instance(input_dict['examples'])
      files = serving_probe.example_files(examples.uri,
                                           exec_properties['split'])
    request = {
        'model_path': path_utils.serving_model_path(model.uri),
        'signature_name': exec_properties['signature_name'],
        'example_files': files,
        'num_requests': int(exec_properties['num_requests']),
        'batch_size': int(exec_properties['batch_size']),
    }
    result = _run_probe(request)
    result.update(summarize(result.get('latencies_ms', [])))
    reason = judge(result, float(exec_properties['max_load_seconds']),
                   float(exec_properties['max_latency_ms']))
    result['blessed'] = reason is None
    result['reason'] = reason
    os.makedirs(blessing.uri, exist_ok=True)
    with open(os.path.join(blessing.uri, MEASUREMENTS_FILE), 'w') as f:
      json.dump(result, f, indent=2)
    marker = 'INFRA_BLESSED' if reason is None else 'INFRA_NOT_BLESSED'
    with open(os.path.join(blessing.uri, marker), 'w'):
      pass
    blessing.set_int_custom_property('blessed', int(reason is None))
    if reason:
      blessing.set_string_custom_property('reason', reason)


def _run_probe(request: Dict[str, Any]) -> Dict[str, Any]:
  """The probe's measurements, or an error saying why it could not run."""
  try:
    done = subprocess.run(
        [sys.executable, '-m', 'fluent_pipeline.components.serving_probe',
         json.dumps(request)],
        capture_output=True, text=True, timeout=_PROBE_TIMEOUT_SECONDS,
        check=False)
  except subprocess.TimeoutExpired:
    return {'error': f'the model did not answer within '
                     f'{_PROBE_TIMEOUT_SECONDS} s', 'latencies_ms': []}
  for line in reversed(done.stdout.splitlines()):
    if line.startswith('PROBE_RESULT '):
      return json.loads(line[len('PROBE_RESULT '):])
  tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ['']
  return {'error': f'the serving process exited with code {done.returncode}: '
                   f'{tail[0][:300]}', 'latencies_ms': []}


class LocalInfraValidator(base_component.BaseComponent):
  """Checks that a model loads and serves fast enough, without Docker."""

  SPEC_CLASS = LocalInfraValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, model, examples=None, *, max_load_seconds: float = 5.0,
               max_latency_ms: float = 200.0, num_requests: int = 20,
               batch_size: int = 1, signature_name: str = 'serving_default',
               split: str = 'eval'):
    super().__init__(spec=LocalInfraValidatorSpec(
        model=model, examples=examples,
        blessing=channel.Channel(type=standard_artifacts.InfraBlessing),
        max_load_seconds=float(max_load_seconds),
        max_latency_ms=float(max_latency_ms),
        num_requests=int(num_requests), batch_size=int(batch_size),
        signature_name=signature_name, split=split))
