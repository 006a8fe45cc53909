"""The exported computation: a predict function with its variables baked in, traced once for
a runtime that is not XLA."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import jax
import jax.extend.core
import jax.numpy as jnp

# What the models see as the backend while they are traced for export. They choose some
# lowerings by jax.default_backend(): MobileNetV2 writes its depthwise convs as shifted
# multiply-adds on 'cpu', 30x faster under XLA:CPU but 6x slower under LiteRT, which (like
# onnxruntime) has a depthwise kernel of its own; 'tpu' picks the plain grouped convolution and
# no cuDNN-only path.
_TRACE_BACKEND = 'tpu'


@contextlib.contextmanager
def _traced_as_accelerator() -> Iterator[None]:
  with mock.patch.object(jax, 'default_backend', lambda: _TRACE_BACKEND):
    yield


def inference_function(predict_fn: Callable[[Any, jax.Array], jax.Array], variables: Any,
                       input_shape: tuple[int, int, int, int]
                       ) -> Callable[[jax.Array], jax.Array]:
  """images [batch, size, size, 3] float32 -> logits [batch, classes] float32, `variables`
  held as constants.

  Traced here to a jaxpr (a fresh closure, so no cached CPU trace is reused); the converters
  then see only JAX primitives.
  """
  images = jax.ShapeDtypeStruct(input_shape, jnp.float32)
  with _traced_as_accelerator():
    closed = jax.make_jaxpr(
        lambda images: predict_fn(variables, images).astype(jnp.float32))(images)
  return lambda images: jax.extend.core.jaxpr_as_fun(closed)(images)[0]
