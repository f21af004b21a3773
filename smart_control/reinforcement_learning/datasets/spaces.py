"""A data spec as gymnasium spaces, and values between the two structures.

Every `TensorSpec` leaf becomes a `Box` of its shape and dtype (bounds from a
`BoundedTensorSpec`, else the dtype's range; `bool` leaves a `MultiBinary`),
every mapping or namedtuple a `Dict` keyed by field name and every other
sequence a `Tuple`. Values are converted by walking the spec, never by
flattening the space, because gymnasium sorts `Dict` keys and a namedtuple's
fields need not be sorted.
"""

from __future__ import annotations

import collections.abc
from typing import Any, List

import gymnasium as gym
import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def _children(spec: Any) -> List[Any]:
    """(key, child) pairs of a nest node, in the spec's own order."""
    if isinstance(spec, collections.abc.Mapping):
        return list(spec.items())
    if _is_namedtuple(spec):
        return list(spec._asdict().items())
    return list(enumerate(spec))


def _leaf_space(spec: tf.TensorSpec) -> gym.Space:
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    shape = tuple(spec.shape.as_list())
    if None in shape:
        raise ValueError(f"spec must have a fully known shape, got {spec}")
    if dtype == np.bool_:
        return gym.spaces.MultiBinary(list(shape) or 1)
    if isinstance(spec, tensor_spec.BoundedTensorSpec):
        low = np.broadcast_to(np.asarray(spec.minimum, dtype), shape)
        high = np.broadcast_to(np.asarray(spec.maximum, dtype), shape)
    elif np.issubdtype(dtype, np.floating):
        low, high = np.full(shape, -np.inf, dtype), np.full(shape, np.inf, dtype)
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = np.full(shape, info.min, dtype), np.full(shape, info.max, dtype)
    else:
        raise ValueError(f"spec has a dtype no gymnasium space holds: {spec}")
    return gym.spaces.Box(low=low, high=high, shape=shape, dtype=dtype)


def space_from_spec(spec: Any) -> gym.Space:
    """The gymnasium space of one step of `spec` (a nest of `TensorSpec`).

    Raises:
      ValueError: If `spec` is empty or has a leaf no space can describe.
    """
    if isinstance(spec, tf.TensorSpec):
        return _leaf_space(spec)
    children = _children(spec)
    if not children:
        raise ValueError(f"spec must not be an empty nest, got {spec!r}")
    if isinstance(spec, collections.abc.Mapping) or _is_namedtuple(spec):
        return gym.spaces.Dict({str(k): space_from_spec(v) for k, v in children})
    return gym.spaces.Tuple([space_from_spec(v) for _, v in children])


def to_space_value(spec: Any, value: Any) -> Any:
    """`value` (a nest shaped like `spec`) in the structure of `space_from_spec`."""
    if isinstance(spec, tf.TensorSpec):
        return value
    if isinstance(spec, collections.abc.Mapping) or _is_namedtuple(spec):
        values = dict(_children(value))
        return {str(k): to_space_value(v, values[k]) for k, v in _children(spec)}
    return tuple(to_space_value(v, value[i]) for i, v in _children(spec))


def from_space_value(spec: Any, value: Any) -> List[Any]:
    """The leaves of a space-structured `value`, in `tf.nest.flatten(spec)` order."""
    leaves: List[Any] = []

    def walk(node: Any, part: Any) -> None:
        if isinstance(node, tf.TensorSpec):
            leaves.append(part)
            return
        keyed = isinstance(node, collections.abc.Mapping) or _is_namedtuple(node)
        children = dict(_children(node))
        # tf.nest orders mapping keys sorted and sequences by position.
        keys = sorted(children) if isinstance(node, collections.abc.Mapping) else None
        for key in keys if keys is not None else list(children):
            walk(children[key], part[str(key)] if keyed else part[key])

    walk(spec, value)
    return leaves
