"""A buffer's data spec as JSON-safe text, and back.

The spec is a nest of `TensorSpec`/`BoundedTensorSpec` (usually a TF-Agents
`Trajectory` of them). It is stored with an exported dataset so an import
rebuilds exactly the table signature the source buffer had: TensorFlow's
`nested_structure_coder` proto (the encoding Reverb itself uses for table
signatures), base64-encoded.
"""

from __future__ import annotations

import base64
from typing import Any

import tensorflow as tf
from tensorflow.python.saved_model import nested_structure_coder
from tf_agents.specs import tensor_spec


def encode_spec(spec: Any) -> str:
    """The spec as base64 text of its `StructuredValue` proto."""
    proto = nested_structure_coder.encode_structure(spec)
    return base64.b64encode(proto.SerializeToString()).decode("ascii")


def decode_spec(text: str) -> Any:
    """Inverse of `encode_spec`.

    Raises:
      ValueError: If `text` is not an encoded spec.
    """
    from tensorflow.core.protobuf import struct_pb2

    try:
        proto = struct_pb2.StructuredValue.FromString(base64.b64decode(text))
        return nested_structure_coder.decode_proto(proto)
    except Exception as e:  # binascii, protobuf and coder errors alike.
        raise ValueError(f"not an encoded data spec: {e}") from None


def step_spec_from_signature(signature: Any) -> Any:
    """The per-step spec of a table signature: the time dimension dropped.

    Unlike `checkpoint_files.step_spec_from_signature` the bounds of bounded
    specs are kept, so exported spaces carry the environment's bounds.
    """

    def drop_time(spec: tf.TensorSpec) -> tf.TensorSpec:
        shape = spec.shape[1:]
        if isinstance(spec, tensor_spec.BoundedTensorSpec):
            return tensor_spec.BoundedTensorSpec(
                shape, spec.dtype, spec.minimum, spec.maximum, spec.name
            )
        return tf.TensorSpec(shape, spec.dtype, spec.name)

    return tf.nest.map_structure(drop_time, signature)
