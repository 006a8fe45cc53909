"""The exported computation: a predict function with its variables baked in, traced once for
a runtime that is not XLA."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.extend.core
import jax.numpy as jnp


def inference_function(predict_fn: Callable[[Any, jax.Array], jax.Array], variables: Any,
                       input_shape: tuple[int, int, int, int]
                       ) -> Callable[[jax.Array], jax.Array]:
  """images [batch, size, size, 3] float32 -> logits [batch, classes] float32, `variables`
  held as constants.

  Traced here to a jaxpr, so that the converters see only JAX primitives. The model's
  backend-dependent lowerings are the builder's choice (`source.source_from_config`).
  """
  images = jax.ShapeDtypeStruct(input_shape, jnp.float32)
  closed = jax.make_jaxpr(
      lambda images: predict_fn(variables, images).astype(jnp.float32))(images)
  return lambda images: jax.extend.core.jaxpr_as_fun(closed)(images)[0]
