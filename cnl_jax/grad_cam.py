"""Grad-CAM (Selvaraju et al., ICCV 2017): where in a feature map a head found the evidence
for its predicted class.

For a head's predicted class k and a feature map A [height, width, channels] that the head
reads, the map is ReLU(sum_c alpha_c A_c) with alpha_c the spatial mean of d logit_k / d A_c.
Which feature map each head reads is the method's to say (`Method.cam_targets`); the map is
found by the submodule that returns it, so networks need no change to be explained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class CamTarget:
  """Where Grad-CAM reads one head.

  Attributes:
    head: the head, a key of `Method.predict`'s logits.
    module: path of the submodule whose output is the feature map, e.g. ('res5_1',) or
      ('part_net', 'res5_2'); its output is [images, height, width, channels].
    image_index: which of the module's images belongs to the input: 0, unless the network
      runs the module on several images it derives from each input (TASN's part net sees
      the detail then the structure image).
    over: the method's image panel (`Method.panels`) the map belongs on, or None for the
      input image.
  """
  head: str
  module: tuple[str, ...]
  image_index: int = 0
  over: str | None = None


def grad_cam(predict: Callable[[jax.Array], dict[str, jax.Array]], image: jax.Array,
             target: CamTarget) -> tuple[jax.Array, jax.Array]:
  """(Grad-CAM [height, width] of the feature map's grid, >= 0; the head's logits
  [classes]) for `target.head`'s predicted class on one image [height, width, 3].

  `predict` maps images [1, height, width, 3] to logits [1, classes] by head (eval mode);
  it applies a Flax model whose submodule `target.module` returns the feature map, once.
  Traceable: jit it, or jax.eval_shape it.
  """
  def perturbed(offset: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """(the head's logits [classes], the feature map) with `offset` added to the map."""
    found = []

    def add_offset(call, args, kwargs, context):
      output = call(*args, **kwargs)
      module = context.module
      if (context.method_name == '__call__' and module.scope is not None
          and module.path == target.module):
        if offset is not None:
          output = output + offset
        found.append(output)
      return output
    with nn.intercept_methods(add_offset):
      logits = predict(image[None])[target.head][0]
    if len(found) != 1:
      raise ValueError(f'Module {"/".join(target.module)} ran {len(found)} times for head '
                       f'{target.head!r}; Grad-CAM needs a module that runs once.')
    return logits, found[0]

  shape = jax.eval_shape(lambda: perturbed(None)[1])
  logits, backward, features = jax.vjp(perturbed, jnp.zeros(shape.shape, shape.dtype),
                                       has_aux=True)
  (gradients,) = backward(jax.nn.one_hot(jnp.argmax(logits), logits.shape[-1],
                                         dtype=logits.dtype))
  features = features[target.image_index].astype(jnp.float32)
  weights = jnp.mean(gradients[target.image_index].astype(jnp.float32), axis=(0, 1))
  return jax.nn.relu(jnp.einsum('hwc,c->hw', features, weights)), logits
