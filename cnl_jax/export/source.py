"""What an export needs from a run: its eval-mode predict function, variables, classes and
eval transform.

The one module of cnl_jax.export that imports the training code, so that a rename there is
a fix here only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cnl_jax.data.config import augmentation
from cnl_jax.data.pipeline import eval_image
from cnl_jax.data.sources import prepared_builder
from cnl_jax.methods import build_method
from cnl_jax.trained_run import load_run
from cnl_jax.training.checkpoints import Checkpoints

# (variables, images [batch, size, size, 3] float32) -> reported-head logits [batch, classes].
PredictFn = Callable[[Any, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """The eval transform: resize to eval_resize as resize_mode says, center-crop image_size,
  then (pixel / 255 - mean_rgb) / std_rgb (the data config's, on the 0-1 scale)."""
  image_size: int
  eval_resize: int
  resize_mode: str
  mean_rgb: tuple[float, float, float]
  std_rgb: tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class ExportSource:
  """A run's exportable prediction.

  Attributes:
    model: the preset name (config.model).
    head: the reported head whose logits `predict_fn` returns.
    predict_fn: eval-mode (variables, images) -> logits of that head.
    variables: the model variables.
    class_names: one name per logit.
    preprocessing: the eval transform the input must have had.
    config: the run's config (for calibration images and the record).
    step: the checkpoint step, or None for variables that were never trained.
  """
  model: str
  head: str
  predict_fn: PredictFn
  variables: Any
  class_names: tuple[str, ...]
  preprocessing: Preprocessing
  config: ml_collections.ConfigDict
  step: int | None = None


def _float32(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` computing in float32: the exported graph takes float32 and LiteRT and ONNX
  have no bfloat16 kernels (the variables are float32 whatever the compute dtype)."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.dtype = 'float32'
  return config


def source_from_config(config: ml_collections.ConfigDict, class_names: Sequence[str],
                       variables: Any, step: int | None = None) -> ExportSource:
  """The export of `variables` under the model and eval transform that `config` names."""
  # The grouped depthwise conv: LiteRT and ONNX run it with kernels of their own, 6x faster
  # under LiteRT than the shifted multiply-adds that are fastest under XLA:CPU.
  method = build_method(_float32(config), len(class_names), depthwise='grouped')
  head = method.reported_head
  transform = augmentation(config.data)
  preprocessing = Preprocessing(config.image_size, config.eval_resize, transform.resize_mode,
                                transform.mean_rgb, transform.std_rgb)
  return ExportSource(config.model, head,
                      lambda variables, images: method.predict(variables, images)[head],
                      variables, tuple(class_names), preprocessing, config, step)


def source_from_run(workdir: str, step: int | None = None) -> ExportSource:
  """The run in `workdir` at checkpoint `step` (default: the latest)."""
  run = load_run(workdir, step)
  if step is None:
    checkpoints = Checkpoints(workdir)
    step = checkpoints.latest_step()
    checkpoints.close()
  return source_from_config(run.config, run.class_names, run.variables, step)


def training_images(config: ml_collections.ConfigDict, count: int) -> np.ndarray:
  """`count` images [count, size, size, 3] spread evenly over the run's training split,
  through the eval transform (the calibration set of int8 quantization)."""
  builder = prepared_builder(config.data)
  split = config.data.train_split
  stride = max(1, builder.info.splits[split].num_examples // count)
  transform = augmentation(config.data)
  examples = (builder.as_dataset(split=split, decoders={'image': tfds.decode.SkipDecoding()},
                                 shuffle_files=False)
              .enumerate().filter(lambda index, _: index % stride == 0).take(count)
              .map(lambda _, example: eval_image(example['image'], config.image_size,
                                                 config.eval_resize, tf.float32, transform)))
  return np.stack(list(examples.as_numpy_iterator()))

