"""An embedded synthetic fine-grained dataset, generated from a seed into a cache directory.

Every class draws the same bird-like object (body, head, wing, tail, beak) with the same
colours; classes differ only in local details at two scales: the wing's pattern (plain,
stripes, dots, checks) and two small marks (the eye's colour, a spot on the tail or none).
Background, position, size, rotation, flip and lighting are random, so a model has to find
the object and look at its details.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cnl_jax.data.info import DatasetError
from cnl_jax.data.manual import ConfiguredBuilder, image_features

WING_PATTERNS = ('plain', 'stripes', 'dots', 'checks')
EYE_COLOURS = {'red': (230, 30, 30), 'blue': (40, 70, 235), 'yellow': (245, 220, 30),
               'white': (250, 250, 250), 'green': (30, 200, 60)}
TAIL_SPOTS = ('no', 'white')
MAX_CLASSES = len(WING_PATTERNS) * len(EYE_COLOURS) * len(TAIL_SPOTS)
_SPLIT_IDS = {'train': 0, 'test': 1}


@dataclasses.dataclass(frozen=True)
class ClassSpec:
  """The local details that make a class."""
  wing: str
  eye: str
  tail_spot: str

  @property
  def name(self) -> str:
    return f'{self.wing} wing, {self.eye} eye, {self.tail_spot} tail spot'


@dataclasses.dataclass(frozen=True)
class Nuisance:
  """Everything random about an image that is not its class."""
  background: np.ndarray  # [3, 3, 3] corner colours, upsampled to a smooth gradient.
  clutter: np.ndarray  # [k, 7]: centre x, y, radii x, y, colour r, g, b of background blobs.
  centre: tuple[float, float]  # Object centre, fraction of the image side.
  scale: float  # Object half-length, fraction of the image side.
  angle: float  # Radians.
  flip: bool
  body_colour: np.ndarray  # [3]
  light: float
  noise_seed: int


def class_specs(num_classes: int, seed: int) -> tuple[ClassSpec, ...]:
  """`num_classes` distinct detail combinations, chosen by `seed` from all of them."""
  if not 2 <= num_classes <= MAX_CLASSES:
    raise DatasetError(f'config.data.synthetic_classes must be in 2..{MAX_CLASSES}, got '
                       f'{num_classes}.')
  combos = list(itertools.product(WING_PATTERNS, EYE_COLOURS, TAIL_SPOTS))
  order = np.random.default_rng([seed, 7]).permutation(len(combos))[:num_classes]
  return tuple(ClassSpec(*combos[i]) for i in sorted(order))


def sample_nuisance(rng: np.random.Generator) -> Nuisance:
  return Nuisance(
      background=rng.uniform(0, 255, (3, 3, 3)),
      clutter=np.concatenate([rng.uniform(0, 1, (3, 2)), rng.uniform(0.04, 0.15, (3, 2)),
                              rng.uniform(0, 255, (3, 3))], axis=1),
      centre=tuple(rng.uniform(0.35, 0.65, 2)),
      scale=float(rng.uniform(0.32, 0.42)),
      angle=float(rng.uniform(-0.3, 0.3)),
      flip=bool(rng.integers(2)),
      body_colour=np.array([150, 110, 70]) + rng.uniform(-20, 20, 3),
      light=float(rng.uniform(0.8, 1.15)),
      noise_seed=int(rng.integers(2**31)))


def _ellipse(u, v, cu, cv, ru, rv):
  return ((u - cu) / ru)**2 + ((v - cv) / rv)**2 <= 1.0


def render(spec: ClassSpec, nuisance: Nuisance, size: int) -> np.ndarray:
  """The image [size, size, 3] uint8 of one class under one nuisance draw."""
  # Draw at twice the size and average 2x2 blocks for smooth edges.
  side = 2 * size
  y, x = (np.mgrid[0:side, 0:side] + 0.5) / side
  corners = nuisance.background
  image = (corners[0, 0] * ((1 - x) * (1 - y))[..., None] + corners[0, 2] * (x * (1 - y))[..., None]
           + corners[2, 0] * ((1 - x) * y)[..., None] + corners[2, 2] * (x * y)[..., None]
           + corners[1, 1] * (1 - np.abs(2 * x - 1))[..., None] * (1 - np.abs(2 * y - 1))[..., None])
  for cx, cy, rx, ry, *colour in nuisance.clutter:
    image[_ellipse(x, y, cx, cy, rx, ry)] = colour
  # Object coordinates: u along the body (head at +u), v across it, in units of `scale`.
  dx, dy = (x - nuisance.centre[0]) / nuisance.scale, (y - nuisance.centre[1]) / nuisance.scale
  cos, sin = np.cos(nuisance.angle), np.sin(nuisance.angle)
  u, v = cos * dx + sin * dy, -sin * dx + cos * dy
  if nuisance.flip:
    u = -u
  body = nuisance.body_colour
  tail = (u < -0.55) & (u > -1.0) & (np.abs(v - 0.05) < 0.12 + 0.5 * (-0.55 - u))
  image[tail] = body * 0.8
  image[_ellipse(u, v, 0.0, 0.05, 0.75, 0.42)] = body
  image[(u > 0.8) & (u < 1.08) & (np.abs(v + 0.35) < 0.12 * (1.08 - u) / 0.28)] = (70, 60, 50)
  image[_ellipse(u, v, 0.6, -0.35, 0.28, 0.28)] = body * 0.9
  wing = _ellipse(u, v, -0.1, 0.05, 0.5, 0.3)
  image[wing] = body * 0.65
  pattern = {'plain': np.zeros_like(wing),
             'stripes': np.sin(u * 16) > 0.3,
             'dots': (np.sin(u * 14) * np.sin(v * 14)) > 0.55,
             'checks': (np.sin(u * 10) * np.sin(v * 10)) > 0}[spec.wing]
  image[wing & pattern] = (235, 225, 200)
  image[_ellipse(u, v, 0.68, -0.4, 0.16, 0.16)] = EYE_COLOURS[spec.eye]
  if spec.tail_spot == 'white':
    image[_ellipse(u, v, -0.8, 0.05, 0.16, 0.16)] = (250, 250, 250)
  image = image.reshape(size, 2, size, 2, 3).mean(axis=(1, 3)) * nuisance.light
  image += np.random.default_rng(nuisance.noise_seed).normal(0, 6, image.shape)
  return np.clip(image, 0, 255).astype(np.uint8)


def synthetic_config(seed: int, num_classes: int, image_size: int, train_per_class: int,
                     test_per_class: int) -> tfds.core.BuilderConfig:
  """A builder config whose name holds every generation parameter, so each is cached apart."""
  if image_size < 16 or min(train_per_class, test_per_class) < 1:
    raise DatasetError('config.data.synthetic_image_size must be >= 16 and the per-class '
                       f'counts >= 1, got {image_size}, {train_per_class}, {test_per_class}.')
  class_specs(num_classes, seed)
  return tfds.core.BuilderConfig(
      name=f'seed{seed}_classes{num_classes}_size{image_size}_train{train_per_class}'
           f'_test{test_per_class}')


class SyntheticFineGrained(ConfiguredBuilder):
  """The synthetic set as a tfds builder: JPEG images, 0-based labels."""
  VERSION = tfds.core.Version('1.0.0')

  def __init__(self, *, seed: int, num_classes: int, image_size: int, train_per_class: int,
               test_per_class: int, **kwargs):
    self._seed, self._image_size = seed, image_size
    self._specs = class_specs(num_classes, seed)
    self._per_class = {'train': train_per_class, 'test': test_per_class}
    super().__init__(config=synthetic_config(seed, num_classes, image_size, train_per_class,
                                             test_per_class), **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=image_features(with_boxes=False))

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Generated, nothing to download.
    self.info.features['label'].names = [spec.name for spec in self._specs]
    return {split: self._generate_examples(split) for split in self._per_class}

  def _generate_examples(self, split: str):
    for index in range(self._per_class[split] * len(self._specs)):
      label = index % len(self._specs)
      nuisance = sample_nuisance(np.random.default_rng([self._seed, _SPLIT_IDS[split], index]))
      image = render(self._specs[label], nuisance, self._image_size)
      yield index, {'image': tf.io.encode_jpeg(image, quality=90).numpy(), 'label': label,
                    'file_name': f'{split}/{index:05d}.jpg'}
