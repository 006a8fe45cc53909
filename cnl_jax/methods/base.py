"""What a training method is: a network with its loss, updates, heads, options and groups.

The training loop, steps, optimizer and the inspection tools are generic; they call only
the pieces below. A method lives in one module or folder of `cnl_jax.methods`; its presets
are listed in `cnl_jax.methods.registry`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from cnl_jax.grad_cam import CamTarget

Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class ParameterGroup:
  """Parameters trained apart from the rest: those whose path ('backbone/stem_conv/kernel')
  matches the regular expression `pattern` run at `learning_rate_factor` x the schedule and
  make no update for the first `frozen_epochs` (parameters and momentum untouched)."""
  pattern: str
  learning_rate_factor: float = 1.0
  frozen_epochs: int = 0


@dataclasses.dataclass(frozen=True)
class Panel:
  """One picture the inspection tools can show of a method's eval-mode forward pass:
  'heatmap' [height, width] (drawn over the input image) or 'image' [height, width, 3]
  (normalised like the input)."""
  kind: Literal['heatmap', 'image']
  values: np.ndarray


class Method:
  """A network trained in a particular way. Subclasses set the class attributes and
  `loss`; the rest has defaults that fit a single-network, single-update method.

  Attributes:
    name: the method's name in messages.
    updates_per_step: optimizer updates per batch; each calls `loss` with its index.
    reported_head: the head of `predict` whose top-1 is the run's top-1.
    rng_names: the PRNG streams a train-mode forward pass draws from ('dropout', TASN's
      'sampling'); `train_forward` feeds each the update's key.
    head_titles: the name users know a head by, where it is not the head's own name
      (figures and their file names).
  """

  name: ClassVar[str]
  updates_per_step: ClassVar[int] = 1
  reported_head: ClassVar[str]
  rng_names: ClassVar[tuple[str, ...]] = ('dropout',)
  head_titles: ClassVar[Mapping[str, str]] = {}

  def __init__(self, model: nn.Module, num_classes: int,
               options: ml_collections.ConfigDict | None = None):
    """`options`: every option of the method (`registry.method_options`); None takes
    `default_options()`."""
    self.model = model
    self.num_classes = num_classes
    self.options = self.default_options() if options is None else options

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    """Every option of the method with its default; `config.method` holds the ones a config
    or the command line changes."""
    return ml_collections.ConfigDict()

  def check(self, config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError for a bad value of the method's options or of `config` as the
    method uses it (e.g. an image size its mosaics cannot cut)."""

  def init(self, rng: jax.Array, images: jax.Array) -> dict[str, Any]:
    """Variables of the model for images shaped like `images`."""
    return self.model.init(rng, images, train=False)

  def train_forward(self, params: Any, model_state: Any, images: jax.Array,
                    rng: jax.Array) -> tuple[Any, Any]:
    """(model outputs, new model state) of a train-mode forward pass; every stream of
    `rng_names` draws from `rng`."""
    return self.model.apply({'params': params, **model_state}, images, train=True,
                            mutable=list(model_state),
                            rngs={name: rng for name in self.rng_names})

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """(scalar loss, (new model state, metrics)) for update `update` on one batch."""
    raise NotImplementedError

  def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
    """Class logits [batch, num_classes] of every head, by head name, in eval mode."""
    logits, _ = self.model.apply(variables, images, train=False)
    return logits if isinstance(logits, dict) else {self.reported_head: logits}

  def parameter_groups(self) -> tuple[ParameterGroup, ...]:
    """Groups with their own rate or freeze; parameters in none follow the schedule."""
    return ()

  def pretrained_backbones(self) -> dict[str, str]:
    """Top-level params subtrees that `config.pretrained` fills, by the architecture whose
    ImageNet weights they take ('' = the whole model)."""
    return {}

  def load_pretrained(self, variables: dict[str, Any], source: str | os.PathLike
                      ) -> dict[str, Any]:
    """`variables` with `config.pretrained`'s weights (`source`) in `pretrained_backbones`;
    a method that starts from them its own way (TransFG) overrides this."""
    from cnl_jax import pretrained  # pylint: disable=import-outside-toplevel
    return pretrained.load_backbones(variables, source, self.pretrained_backbones())

  def panels(self, variables: dict[str, Any], image: jax.Array) -> dict[str, Panel]:
    """What `cnl-jax visualize` shows of one image [height, width, 3] besides attention
    maps, by name; none by default."""
    del variables, image
    return {}

  def attention_titles(self) -> dict[str, str]:
    """Column titles of the attention maps `cnl-jax visualize` shows, by map path; the
    paths themselves by default."""
    return {}

  def cam_targets(self) -> tuple[CamTarget, ...]:
    """The heads `cnl-jax visualize` explains with Grad-CAM and the feature map each reads:
    the last convolutional stage for a one-head network, each head's own input for several;
    none by default."""
    return ()


def cross_entropy_metrics(logits: jax.Array, labels: jax.Array, prefix: str = ''
                          ) -> Metrics:
  """Mean softmax cross-entropy and top-1 of logits [batch, classes] against integer labels."""
  return {f'{prefix}loss': optax.softmax_cross_entropy_with_integer_labels(
              logits, labels).mean(),
          f'{prefix}top1': jnp.mean(jnp.argmax(logits, -1) == labels)}
