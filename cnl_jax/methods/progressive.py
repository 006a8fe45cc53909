"""Progressive multi-granularity training, the mechanism PMG introduced and RMG-PMSI reuses:
several sequential updates per batch, each on a mosaic of the batch (or the clean batch)
with cross-entropy on one head; predictions sum the heads.

Every update runs the whole network in train mode, so BN statistics move once per update,
and the shared train step applies each update before the next forward pass. As released
(PRIS-CV/PMG-Progressive-Multi-Granularity-Training @ db7a7d7, train.py), the optimizer
keeps momentum and weight decay on heads outside the current loss: their momentum keeps
moving them at every update, as PyTorch's SGD does for parameters whose gradient is zero.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import ml_collections

from cnl_jax.errors import ConfigError
from cnl_jax.grad_cam import CamTarget
from cnl_jax.methods import mosaics
from cnl_jax.methods.base import Method, Metrics, ParameterGroup, cross_entropy_metrics

# A mosaic: (images [batch, height, width, channels], key, mode) -> images of the same shape.
Mosaic = Callable[[jax.Array, jax.Array, mosaics.Mode], jax.Array]


@dataclasses.dataclass(frozen=True)
class Granularity:
  """One update of a batch: the mosaic it trains on (None: the clean images), the grid it
  cuts (the image size must be a multiple), the head it trains and its loss weight."""
  mosaic: Mosaic | None
  grid: int
  head: str
  weight: float


def jigsaw(n: int) -> Mosaic:
  """PMG's n x n jigsaw as a Mosaic."""
  return lambda images, key, mode: mosaics.jigsaw(images, n, key, mode)


def recursive_mosaic(depth: int) -> Mosaic:
  """RMG-PMSI's recursive mosaic of `depth` levels as a Mosaic."""
  return lambda images, key, mode: mosaics.recursive_mosaic(images, depth, key, mode)


class Progressive(Method):
  """A method of `schedule` updates per batch that predicts with each head and their sum.

  Subclasses set `schedule`, `reported_head` (the sum's name) and `name`. The
  network returns `(logits by head, features)` and has its ImageNet trunk under 'backbone',
  which is its own parameter group.
  """

  schedule: ClassVar[tuple[Granularity, ...]]

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    options = super().default_options()
    # 'released': one mosaic arrangement for the whole batch; 'per_sample': one per image.
    options.mosaic_mode = 'released'
    # The backbone runs at this factor x the learning rate, and makes no update at all for
    # the first `freeze_backbone_epochs` epochs.
    options.backbone_learning_rate_factor = 0.1
    options.freeze_backbone_epochs = 0
    return options

  def stage_feature_maps(self) -> tuple[tuple[str, ...], ...]:
    """Paths of the trunk submodules whose outputs feed the heads of the schedule's
    mosaic updates, in schedule order."""
    raise NotImplementedError

  def cam_targets(self) -> tuple[CamTarget, ...]:
    """Each stage head on the feature map it reads; the heads that read every stage (the
    clean image's head and the sum) on the last, deepest one."""
    maps = self.stage_feature_maps()
    stages = [granularity.head for granularity in self.schedule
              if granularity.mosaic is not None]
    combined = [granularity.head for granularity in self.schedule
                if granularity.mosaic is None]
    return (*(CamTarget(head, path) for head, path in zip(stages, maps, strict=True)),
            *(CamTarget(head, maps[-1]) for head in (*combined, self.reported_head)))

  @property
  def updates_per_step(self) -> int:  # one update per granularity
    return len(self.schedule)

  def check(self, config: ml_collections.ConfigDict) -> None:
    options = self.options
    if options.mosaic_mode not in mosaics.MODES:
      raise ConfigError(f'config.method.mosaic_mode={options.mosaic_mode!r} must be one of '
                        f'{mosaics.MODES}.')
    if not options.backbone_learning_rate_factor > 0:
      raise ConfigError('config.method.backbone_learning_rate_factor='
                        f'{options.backbone_learning_rate_factor} must be positive.')
    frozen = options.freeze_backbone_epochs
    if not (isinstance(frozen, int) and 0 <= frozen <= config.num_epochs):
      raise ConfigError(f'config.method.freeze_backbone_epochs={frozen!r} must be an integer '
                        f'in [0, num_epochs={config.num_epochs}].')
    grid = max(granularity.grid for granularity in self.schedule)
    if config.image_size % grid:
      raise ConfigError(f'config.image_size={config.image_size} cannot be cut into the '
                        f'{grid} x {grid} mosaic of {self.name}: use a multiple of {grid}.')

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Weighted CE of update `update`'s head on its mosaic; metrics are that head's CE, top-1."""
    granularity = self.schedule[update]
    mosaic_rng, dropout_rng = jax.random.split(rng)
    images = batch['image']
    if granularity.mosaic is not None:
      images = granularity.mosaic(images, mosaic_rng, self.options.mosaic_mode)
    (logits, _), new_state = self.train_forward(params, model_state, images, dropout_rng)
    metrics = cross_entropy_metrics(logits[granularity.head], batch['label'],
                                    f'{granularity.head}/')
    return granularity.weight * metrics[f'{granularity.head}/loss'], (new_state, metrics)

  def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
    """Each head's logits [batch, num_classes] on the clean images, and their sum under
    `reported_head`."""
    logits, _ = self.model.apply(variables, images, train=False)
    return {**logits, self.reported_head: sum(logits.values())}

  def parameter_groups(self) -> tuple[ParameterGroup, ...]:
    return (ParameterGroup('backbone/.*', self.options.backbone_learning_rate_factor,
                           self.options.freeze_backbone_epochs),)
