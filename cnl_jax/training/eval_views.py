"""Test-time augmentation: the views of each test image whose logits an evaluation averages.

`config.eval_tta` (`--mode eval`, `cnl-jax eval`) and `config.epoch_eval_tta` (the eval
after each training epoch) name one of MODES; 'none' is the paper's protocol (one centre
crop). The input pipeline cuts the crops (`eval_batches(crops=...)`), `predict_views` adds
the mirrors and averages the logits of every view in float32. Logits rather than softmax
probabilities: the mean of the logits is what torchvision's multi-crop recipe averages
(pytorch/vision @ 6247d96d, torchvision/transforms/transforms.py, FiveCrop's docstring:
`result.view(bs, ncrops, -1).mean(1)`), the eval loss is then the cross-entropy of one
set of logits, and a method whose reported head sums its heads' logits reports the sum
of the heads' averages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from cnl_jax.errors import ConfigError
from cnl_jax.methods.base import Method


@dataclasses.dataclass(frozen=True)
class Views:
  """The crops the input pipeline cuts ('center' or 'five', `cnl_jax.data.eval_batches`) and
  whether each crop's horizontal mirror is averaged too."""
  crops: str
  flip: bool


MODES = {
    'none': Views('center', flip=False),
    'flip': Views('center', flip=True),
    'five_crop': Views('five', flip=False),
    'five_crop_flip': Views('five', flip=True),
}


def views_of(mode: str, field: str = 'eval_tta') -> Views:
  """The views of test-time augmentation `mode`, the value of `config.<field>`."""
  if mode not in MODES:
    raise ConfigError(f'config.{field}={mode!r} must be one of {tuple(MODES)}.')
  return MODES[mode]


def predict_views(method: Method, variables: dict[str, Any], images: jax.Array,
                  flip: bool) -> dict[str, jax.Array]:
  """Every head's float32 logits [batch, classes], averaged over the crops of `images`
  ([batch, height, width, 3], one crop, or [batch, crops, height, width, 3]) and, with
  `flip`, their mirrors.

  The views run through the network one after another (`lax.map`), so peak memory is one
  view's and an eval_batch_size that fits without augmentation fits with it.
  """
  if images.ndim == 4 and not flip:
    return {head: logits.astype(jnp.float32)
            for head, logits in method.predict(variables, images).items()}
  crops = images[:, None] if images.ndim == 4 else images
  views = jnp.moveaxis(crops, 1, 0)  # [views, batch, height, width, 3]
  if flip:
    views = jnp.concatenate([views, jnp.flip(views, axis=3)])
  logits = jax.lax.map(lambda view: {head: value.astype(jnp.float32) for head, value in
                                     method.predict(variables, view).items()}, views)
  return {head: jnp.mean(value, axis=0) for head, value in logits.items()}
