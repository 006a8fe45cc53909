"""Plain classification: softmax cross-entropy on one head. The CNL, NL and ResNet recipe
(FouriYe/CNL-ICIP2020, train_val.py), and MobileNetV2 on its own."""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import optax

from cnl_jax.errors import ConfigError
from cnl_jax.grad_cam import CamTarget
from cnl_jax.methods.base import Method, Metrics, ParameterGroup
from cnl_jax.methods.layer_decay import layer_decay_groups
from cnl_jax.models import MobileNetV2, ResNet
from cnl_jax.models.swin import SwinTransformer
from cnl_jax.models.vit import VisionTransformer

TRANSFORMERS = (VisionTransformer, SwinTransformer)


class Classification(Method):
  """Cross-entropy (optionally label-smoothed) on the model's logits; one update per batch."""

  name = 'classification'
  reported_head = 'logits'
  head_titles = {'logits': 'classifier'}

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    options = super().default_options()
    options.label_smoothing = 0.0  # the released recipe uses none
    # ViT and Swin: layer-wise learning-rate decay, each block decay x the rate of the one
    # above it (methods/layer_decay.py); 1.0: none.
    options.layer_decay = 1.0
    return options

  def check(self, config: ml_collections.ConfigDict) -> None:
    smoothing = self.options.label_smoothing
    if not 0 <= smoothing < 1:
      raise ConfigError(f'config.method.label_smoothing={smoothing} must lie in [0, 1).')
    decay = self.options.layer_decay
    if not 0 < decay <= 1:
      raise ConfigError(f'config.method.layer_decay={decay} must lie in (0, 1]; 1.0 is none.')
    if decay != 1 and not isinstance(self.model, TRANSFORMERS):
      raise ConfigError(f'config.method.layer_decay={decay} needs a ViT or Swin model, not '
                        f'config.model={config.model!r}; set it to 1.0.')

  def parameter_groups(self) -> tuple[ParameterGroup, ...]:
    """Layer-wise learning-rate decay on a transformer when `layer_decay` < 1."""
    if self.options.layer_decay == 1:
      return ()
    return layer_decay_groups(self.model.layers(), self.options.layer_decay)

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
    if isinstance(self.model, TRANSFORMERS) and self.model.architecture:
      return {'': self.model.architecture}
    return {}

  def attention_titles(self) -> dict[str, str]:
    """The response layer of each CNL map and the block each NL block follows (ResNet, ViT,
    Swin; MobileNetV2 has no attention)."""
    model = self.model
    titles = {f'{block}_nonlocal/attention': f'NL block after {block}'
              for block in getattr(model, 'nonlocal_after', ())}
    cnl = getattr(model, 'cnl', None)
    responses = cnl.responses if cnl is not None else getattr(model, 'cnl_responses', ())
    titles.update({f'cnl/attention_{i}': f'CNL response {response}'
                   for i, response in enumerate(responses)})
    return titles

  def cam_targets(self) -> tuple[CamTarget, ...]:
    """The one head on the last convolutional stage (ResNet: after any NL or CNL block
    there; MobileNetV2: its last conv), Swin's last stage, or the patch tokens entering
    ViT's last block."""
    return (CamTarget(self.reported_head, self.model.final_feature_map()),)
