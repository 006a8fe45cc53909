"""The presets give the released code's models their exact parameter counts, which round to
the paper's printed Table 2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnl_jax
from cnl_jax.summary import PAPER_TABLE_2


def count_params(name: str, num_classes: int = 200) -> int:
  model = cnl_jax.create_model(name, num_classes)
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 448, 448, 3)), train=False))
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables['params']))


@pytest.mark.parametrize('name', sorted(PAPER_TABLE_2))
def test_parameter_count_matches_table_2(name):
  """Trainable parameters at 200 classes (BN running statistics excluded): the count
  reconstructed from the released code, and the paper's printed x10^7 figure."""
  row = PAPER_TABLE_2[name]
  params = count_params(name)
  assert params == row.params
  assert round(params / 1e7, 2) == row.printed_params


def test_head_scales_with_class_count():
  assert count_params('resnet50', 201) - count_params('resnet50', 200) == 2048 + 1
