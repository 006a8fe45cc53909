"""TASN's training method: five cross-entropies and part-to-master distillation, as in the
released code (researchmm/tasn @ 5dba8cc, tasn-mxnet/example/tasn/model.py and train.py)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from cnl_jax.errors import ConfigError
from cnl_jax.grad_cam import CamTarget
from cnl_jax.methods.base import Method, Metrics, Panel, cross_entropy_metrics
from cnl_jax.methods.tasn.network import HEADS
from cnl_jax.models.resnet import block_specs


def distillation_loss(teacher_logits: jax.Array, student_logits: jax.Array,
                      temperature: float) -> jax.Array:
  """Mean over the batch of −Σ_k softmax(teacher/T)_k · log softmax(student/T)_k.

  Teacher = part net (detail images), student = master net (structure images). As released:
  weight 1, no T² factor, and no stop_gradient on the soft targets, so the teacher's logits
  get gradients from this term too. logits [batch, num_classes] -> scalar.
  """
  targets = jax.nn.softmax(teacher_logits / temperature, axis=-1)
  return jnp.mean(optax.softmax_cross_entropy(student_logits / temperature, targets))


class TASNMethod(Method):
  """Loss, heads and inspection panels of a `TASN` network.

  Loss per batch (means over the batch): CE(attention) + w·[CE(part) + CE(master) +
  CE(part_shared) + CE(master_shared)] + distillation(part -> master), w = 0.5 and T = 10
  as released. The attention net gets gradients only from its own CE: the trilinear maps
  and the sampler stop them. The reported head is 'master_shared', the shared FC on the
  structure (master) images: the released README's 87.0% matches it (`master_net_aux` in
  the only public training log); the paper needs only the master net at test. All five
  heads are evaluated.
  """

  name = 'tasn'
  reported_head = 'master_shared'
  rng_names = ('sampling',)  # the sampler's draws; TASN has no dropout

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    options = super().default_options()
    options.part_master_weight = 0.5
    options.distillation_temperature = 10.0
    return options

  def check(self, config: ml_collections.ConfigDict) -> None:
    del config  # the options alone
    if not self.options.distillation_temperature > 0:
      raise ConfigError('config.method.distillation_temperature='
                        f'{self.options.distillation_temperature} must be positive.')

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Mean loss over the batch, the new model state and per-head metrics."""
    del update  # one update per batch
    (logits, _), new_state = self.train_forward(params, model_state, batch['image'], rng)
    metrics = {}
    for head in HEADS:
      metrics.update(cross_entropy_metrics(logits[head], batch['label'], f'{head}/'))
    metrics['distillation_loss'] = distillation_loss(
        logits['part'], logits['master'], self.options.distillation_temperature)
    loss = (metrics['attention/loss']
            + self.options.part_master_weight * sum(metrics[f'{head}/loss']
                                                    for head in HEADS[1:])
            + metrics['distillation_loss'])
    metrics.update(loss=loss, top1=metrics[f'{self.reported_head}/top1'])
    return loss, (new_state, metrics)

  def pretrained_backbones(self) -> dict[str, str]:
    """Both ResNets take torchvision's ImageNet weights (their classifiers are dropped)."""
    return {'attention_net': f'resnet{self.model.attention_depth}',
            'part_net': f'resnet{self.model.part_depth}'}

  def panels(self, variables: dict[str, Any], image: jax.Array) -> dict[str, Panel]:
    """What steers the sampler and what it samples, in eval mode: the structure and detail
    maps (the test-time detail map is the sum of all trilinear maps) and both sampled
    images."""
    _, outputs = self.model.apply(variables, image[None], train=False)
    return {'structure_map': Panel('heatmap', np.asarray(outputs['structure_map'][0])),
            'detail_map': Panel('heatmap', np.asarray(outputs['detail_map'][0])),
            'structure_image': Panel('image', np.asarray(outputs['structure_images'][0])),
            'detail_image': Panel('image', np.asarray(outputs['detail_images'][0]))}

  def cam_targets(self) -> tuple[CamTarget, ...]:
    """The attention head on the last dilated conv (over the input); the part heads on the
    part net's last block over the detail image, the master heads over the structure image
    (the part net sees the detail images, then the structure images)."""
    part_net = ('part_net', block_specs(self.model.part_depth)[-1].name)
    return (CamTarget('attention', ('dilated_conv2',)),
            *(CamTarget(head, part_net, image_index=0, over='detail_image')
              for head in ('part', 'part_shared')),
            *(CamTarget(head, part_net, image_index=1, over='structure_image')
              for head in ('master', 'master_shared')))
