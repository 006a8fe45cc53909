"""A trained run loaded for inference: its config, class names, model and variables.

Shared by the inspection commands (`cnl-jax predict`, `visualize`, `export`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.traverse_util
import jax
import ml_collections
import numpy as np

from cnl_jax import data
from cnl_jax.data.image_files import read_eval_image
from cnl_jax.grad_cam import CamTarget, grad_cam
from cnl_jax.lite import top_k
from cnl_jax.methods import Method, Panel, build_method
from cnl_jax.models import ATTENTION_MAPS
from cnl_jax.training.checkpoints import Checkpoints
from cnl_jax.training.eval_views import predict_views
from cnl_jax.training.run_config import load_run_config


@dataclasses.dataclass(frozen=True)
class ClassActivationMap:
  """One head's Grad-CAM of one image: `values` [height, width] (>= 0, the feature map's
  grid), the head's predicted class and its softmax probability."""
  target: CamTarget
  values: np.ndarray
  predicted: int
  probability: float


class TrainedRun:
  """Eval-mode predictions, attention maps and class activation maps of one set of model
  variables."""

  def __init__(self, config: ml_collections.ConfigDict, class_names: tuple[str, ...],
               variables: dict[str, Any]):
    self.config = config
    self.class_names = class_names
    self.variables = variables
    self.method: Method = build_method(config, len(class_names))
    self._predict = jax.jit(functools.partial(predict_views, self.method),
                            static_argnames='flip')
    self._attend = jax.jit(lambda variables, images: self.method.model.apply(
        variables, images, train=False, mutable=[ATTENTION_MAPS])[1].get(ATTENTION_MAPS, {}))
    cam = lambda variables, image, target: grad_cam(
        functools.partial(self.method.predict, variables), image, target)
    self._grad_cam = jax.jit(cam, static_argnames='target')

  def read_eval_image(self, path: str) -> np.ndarray:
    """The image file at `path` through the run's eval transform: [size, size, 3]."""
    config = self.config
    return read_eval_image(path, config.image_size, config.eval_resize, config.dtype,
                           data.augmentation(config.data))

  def logits(self, images: np.ndarray, flip: bool = False) -> np.ndarray:
    """The reported head's class logits [count, num_classes] (float32) of eval-transformed
    images [count, size, size, 3], or the mean over their crops [count, crops, size, size, 3]
    and, with `flip`, the crops' mirrors (`cnl_jax.training.eval_views`); run in batches of
    config.eval_batch_size."""
    size = self.config.eval_batch_size
    return np.concatenate([
        np.asarray(self._predict(self.variables, images[start:start + size], flip=flip)[
            self.method.reported_head], np.float32)
        for start in range(0, len(images), size)] or [np.zeros((0, len(self.class_names)))])

  def panels(self, image: np.ndarray) -> dict[str, Panel]:
    """The method's own pictures of one eval-transformed image [size, size, 3] (e.g. maps
    that steer a sampler and the images sampled); {} for most methods."""
    return self.method.panels(self.variables, image)

  def class_activation_maps(self, image: np.ndarray) -> list[ClassActivationMap]:
    """Grad-CAM of each head the method explains (`Method.cam_targets`) on one
    eval-transformed image [size, size, 3], in the method's order."""
    maps = []
    for target in self.method.cam_targets():
      values, logits = self._grad_cam(self.variables, image, target)
      (predicted,), (probability,) = top_k(np.asarray(logits)[None], 1)
      maps.append(ClassActivationMap(target, np.asarray(values), int(predicted[0]),
                                     float(probability[0])))
    return maps

  def attention_maps(self, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every attention map by module path ('cnl/attention_0', 'res3_1_nonlocal/attention'):
    [batch, query positions, key positions], each row a softmax."""
    maps = flax.traverse_util.flatten_dict(self._attend(self.variables, images))
    return {'/'.join(path[:-1]): np.asarray(weights[0]) for path, weights in
            sorted(maps.items())}


def load_run(workdir: str, step: int | None = None) -> TrainedRun:
  """The run in `workdir` at checkpoint `step` (default: the latest)."""
  config = load_run_config(workdir)
  checkpoints = Checkpoints(workdir)
  try:
    variables = checkpoints.restore_variables(step)
  finally:
    checkpoints.close()
  return TrainedRun(config, data.load_info(config.data).class_names, variables)

