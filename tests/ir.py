"""Reading TFX's compiled pipeline IR in tests: nodes, edges, parameters."""


from tfx.dsl.compiler import compiler


def compile_ir(tfx_pipeline):
  return compiler.Compiler().compile(tfx_pipeline)


def nodes(ir) -> dict[str, object]:
  return {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}


def edges(ir) -> dict[tuple[str, str], list[tuple[str, str]]]:
  """(node, input key) -> [(producer node, output key)], real channels only."""
  found = {}
  for node_id, node in nodes(ir).items():
    for key, spec in node.inputs.inputs.items():
      channels = [(c.producer_node_query.id, c.output_key)
                  for c in spec.channels if c.producer_node_query.id]
      if channels:
        found[(node_id, key)] = channels
  return found


def params(node) -> dict[str, object]:
  """Exec properties of a compiled node as plain Python values."""
  out = {}
  for name, value in node.parameters.parameters.items():
    field = value.field_value
    kind = field.WhichOneof('value')
    out[name] = getattr(field, kind) if kind else None
  return out


def node_type(node) -> str:
  return node.node_info.type.name
