"""Reverb table configuration: samplers, rate limiters and the table signature.

Samplers and rate limiters are passed to `ReplayBufferManager` as *factories*
(zero-argument callables), because Reverb's Python selector and limiter objects
wrap C++ state and must not be shared between two tables (a manager builds one
table on `create`, another on `load`, and a throw-away one to read the wanted
configuration when it rewrites a checkpoint).

In gin, reference the function without calling it:

    ReplayBufferManager.sampler_factory = @prioritized_sampler
    prioritized_sampler.priority_exponent = 0.6
    ReplayBufferManager.rate_limiter_factory = @sample_to_insert_ratio_rate_limiter
    sample_to_insert_ratio_rate_limiter.samples_per_insert = 4.0
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import gin
import reverb
import tensorflow as tf
import tree
from tf_agents.specs import tensor_spec

SamplerFactory = Callable[[], Any]
RateLimiterFactory = Callable[[], reverb.rate_limiters.RateLimiter]


@gin.configurable
def uniform_sampler() -> Any:
    """Samples every stored item with equal probability (the default)."""
    return reverb.selectors.Uniform()


@gin.configurable
def prioritized_sampler(priority_exponent: float = 0.8) -> Any:
    """Samples items proportionally to priority ** priority_exponent.

    Args:
      priority_exponent: 0 gives uniform sampling, 1 fully prioritised.

    Raises:
      ValueError: If `priority_exponent` is negative.
    """
    if priority_exponent < 0:
        raise ValueError(f"priority_exponent must be >= 0, got {priority_exponent!r}")
    return reverb.selectors.Prioritized(priority_exponent)


@gin.configurable
def min_size_rate_limiter(
    min_size_to_sample: int = 1,
) -> reverb.rate_limiters.RateLimiter:
    """Blocks sampling until the table holds `min_size_to_sample` items (default).

    Args:
      min_size_to_sample: Items needed before the first sample is served.

    Raises:
      ValueError: If `min_size_to_sample` is < 1.
    """
    if min_size_to_sample < 1:
        raise ValueError(f"min_size_to_sample must be >= 1, got {min_size_to_sample!r}")
    return reverb.rate_limiters.MinSize(min_size_to_sample)


@gin.configurable
def sample_to_insert_ratio_rate_limiter(
    samples_per_insert: float = 1.0,
    min_size_to_sample: int = 1,
    error_buffer: float | None = None,
) -> reverb.rate_limiters.RateLimiter:
    """Keeps collectors and learner at `samples_per_insert` samples per item.

    Args:
      samples_per_insert: Target number of samples per inserted item.
      min_size_to_sample: Items needed before the first sample is served.
      error_buffer: Allowed deviation from the target, in samples. Reverb
        deadlocks if it is not larger than max(1, samples_per_insert) (a single
        insert or sample would already leave the allowed band), so that is
        checked here. Default: max(2, 2 * samples_per_insert).

    Raises:
      ValueError: If an argument is out of range.
    """
    if samples_per_insert <= 0:
        raise ValueError(f"samples_per_insert must be > 0, got {samples_per_insert!r}")
    if min_size_to_sample < 1:
        raise ValueError(f"min_size_to_sample must be >= 1, got {min_size_to_sample!r}")
    if error_buffer is None:
        error_buffer = max(2.0, 2.0 * samples_per_insert)
    if error_buffer <= max(1.0, samples_per_insert):
        raise ValueError(
            "error_buffer must exceed max(1, samples_per_insert) = "
            f"{max(1.0, samples_per_insert)}, got {error_buffer!r}"
        )
    return reverb.rate_limiters.SampleToInsertRatio(
        samples_per_insert=samples_per_insert,
        min_size_to_sample=min_size_to_sample,
        error_buffer=error_buffer,
    )


def table_signature(data_spec: Any) -> Any:
    """The Reverb signature for items holding sequences of `data_spec` steps."""
    return tensor_spec.add_outer_dim(tensor_spec.from_spec(data_spec), None)


def build_table(
    name: str,
    capacity: int,
    data_spec: Any,
    sampler_factory: SamplerFactory,
    rate_limiter_factory: RateLimiterFactory,
) -> reverb.Table:
    """A FIFO-evicting table of `capacity` items with the given signature."""
    return reverb.Table(
        name=name,
        sampler=sampler_factory(),
        remover=reverb.selectors.Fifo(),
        max_size=capacity,
        rate_limiter=rate_limiter_factory(),
        signature=table_signature(data_spec),
    )


def flat_spec_fields(signature: Any) -> List[Tuple[str, str, Tuple]]:
    """(path, dtype, shape) for every leaf; names of specs are ignored."""
    fields = []
    for path_tuple, spec in tree.flatten_with_path(signature):
        path = "/".join(str(p) for p in path_tuple)
        shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None
        fields.append((path, tf.as_dtype(spec.dtype).name, shape))
    return fields


def describe_signature(signature: Any) -> str:
    """A one-line, human readable rendering of a table signature."""
    if signature is None:
        return "<no signature>"
    parts = []
    for path, dtype, shape in flat_spec_fields(signature):
        dims = (
            "?"
            if shape is None
            else ",".join("None" if d is None else str(d) for d in shape)
        )
        parts.append(f"{path or '<root>'}: {dtype}[{dims}]")
    return "{" + "; ".join(parts) + "}"


def signatures_match(
    expected: Any, actual: Any, sequence_length: Optional[int] = None
) -> bool:
    """Whether two signatures describe the same tensors (paths, dtypes, shapes).

    With `sequence_length`, an outer (time) dimension of `actual` fixed to
    that length matches the unknown one of `expected`: TF-Agents' examples
    write signatures with `add_outer_dim(spec, sequence_length)`.
    """
    if expected is None or actual is None:
        return expected is None and actual is None
    ours, theirs = flat_spec_fields(expected), flat_spec_fields(actual)
    if len(ours) != len(theirs):
        return False
    for (path, dtype, shape), (their_path, their_dtype, their_shape) in zip(
        ours, theirs
    ):
        if (path, dtype) != (their_path, their_dtype):
            return False
        if shape == their_shape:
            continue
        if shape is None or their_shape is None or len(shape) != len(their_shape):
            return False
        outer_ok = shape[0] is None and their_shape[0] in (None, sequence_length)
        if not (outer_ok and shape[1:] == their_shape[1:]):
            return False
    return True


def columns_match(data_spec: Any, columns: List[Tuple[str, Tuple[int, ...]]]) -> bool:
    """Whether stored columns ((dtype, step shape) each) hold `data_spec` steps."""
    flat = tf.nest.flatten(tensor_spec.from_spec(data_spec))
    if len(flat) != len(columns):
        return False
    return all(
        spec.dtype.name == dtype and tuple(spec.shape.as_list()) == tuple(shape)
        for spec, (dtype, shape) in zip(flat, columns)
    )


def describe_columns(
    columns: List[Tuple[str, Tuple[int, ...]]], data_spec: Any = None
) -> str:
    """A one-line rendering of stored columns, named by `data_spec` where it fits."""
    names = [f"column {i}" for i in range(len(columns))]
    if data_spec is not None:
        paths = [path for path, _, _ in flat_spec_fields(data_spec)]
        if len(paths) == len(columns):
            names = [path or "<root>" for path in paths]
    parts = [
        f"{name}: {dtype}[{','.join(['None', *map(str, shape)])}]"
        for name, (dtype, shape) in zip(names, columns)
    ]
    return "{" + "; ".join(parts) + "}"
