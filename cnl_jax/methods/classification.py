"""Plain classification: softmax cross-entropy on one head. The CNL, NL and ResNet recipe
(FouriYe/CNL-ICIP2020, train_val.py), and MobileNetV2 on its own."""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import optax

from cnl_jax.errors import ConfigError
from cnl_jax.grad_cam import CamTarget
from cnl_jax.methods.base import Method, Metrics
from cnl_jax.models import MobileNetV2, ResNet


class Classification(Method):
  """Cross-entropy (optionally label-smoothed) on the model's logits; one update per batch."""

  name = 'classification'
  reported_head = 'logits'
  head_titles = {'logits': 'classifier'}

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    options = super().default_options()
    options.label_smoothing = 0.0  # the released recipe uses none
    return options

  def check(self, config: ml_collections.ConfigDict) -> None:
    del config  # the options alone
    smoothing = self.options.label_smoothing
    if not 0 <= smoothing < 1:
      raise ConfigError(f'config.method.label_smoothing={smoothing} must lie in [0, 1).')

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Mean loss over the batch, the new model state and per-batch metrics."""
    del update  # one update per batch
    (logits, _), new_state = self.train_forward(params, model_state, batch['image'], rng)
    labels = optax.smooth_labels(jax.nn.one_hot(batch['label'], self.num_classes),
                                 self.options.label_smoothing)
    loss = optax.softmax_cross_entropy(logits, labels).mean()
    top1 = (logits.argmax(-1) == batch['label']).mean()
    return loss, (new_state, {'loss': loss, 'top1': top1})

  def pretrained_backbones(self) -> dict[str, str]:
    """The whole model is an ImageNet architecture (its classifier is loaded when the class
    counts agree)."""
    if isinstance(self.model, ResNet):
      return {'': f'resnet{self.model.depth}'}
    if isinstance(self.model, MobileNetV2):
      return {'': 'mobilenet_v2'}
    return {}

  def attention_titles(self) -> dict[str, str]:
    """The response layer of each CNL map and the block each NL block follows (ResNet;
    MobileNetV2 has no attention)."""
    if not isinstance(self.model, ResNet):
      return {}
    titles = {f'{block}_nonlocal/attention': f'NL block after {block}'
              for block in self.model.nonlocal_after}
    if self.model.cnl is not None:
      titles.update({f'cnl/attention_{i}': f'CNL response {response}'
                     for i, response in enumerate(self.model.cnl.responses)})
    return titles

  def cam_targets(self) -> tuple[CamTarget, ...]:
    """The one head on the last convolutional stage (ResNet: after any NL or CNL block
    there; MobileNetV2: its last conv)."""
    return (CamTarget(self.reported_head, self.model.final_feature_map()),)
