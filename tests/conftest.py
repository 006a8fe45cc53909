"""Shared fixtures: random non-zero variables for property tests."""

import jax
import numpy as np
import pytest


def randomize(variables, seed: int = 0):
  """Every parameter and BN statistic drawn at random (variances positive), as NumPy."""
  rng = np.random.RandomState(seed)

  def draw(path, leaf):
    if path[-1].key == 'var':
      return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    return (rng.normal(size=leaf.shape) * 0.2).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, jax.device_get(variables))


@pytest.fixture
def rng():
  return np.random.RandomState(1234)


def pytest_collection_modifyitems(config, items):
  """`gpu` tests run only where JAX's default backend is a GPU."""
  if jax.default_backend() == 'gpu':
    return
  skip = pytest.mark.skip(reason='needs a GPU (run with `pytest -m gpu` on one)')
  for item in items:
    if item.get_closest_marker('gpu') is not None:
      item.add_marker(skip)
