"""The builders reproduce the paper's Table 2 parameter counts exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnl_jax

# Trainable parameters at 200 classes (BN running statistics excluded), as the released code
# (FouriYe/CNL-ICIP2020, cnlnet_5CNL.py) builds the models of the paper's Table 2.
TABLE_2_PARAMS = {
    'resnet50': 23_917_832,
    'resnet50_5nl': 31_266_056,
    'resnet50_5cnl': 27_084_040,
    'resnet101': 42_909_960,
    'resnet101_5nl': 50_258_184,
    'resnet101_5cnl': 46_076_168,
}


def count_params(name: str, num_classes: int = 200) -> int:
  model = cnl_jax.create_model(name, num_classes)
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 448, 448, 3)), train=False))
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables['params']))


@pytest.mark.parametrize('name', sorted(TABLE_2_PARAMS))
def test_parameter_count_matches_table_2(name):
  assert count_params(name) == TABLE_2_PARAMS[name]


def test_head_scales_with_class_count():
  assert count_params('resnet50', 201) - count_params('resnet50', 200) == 2048 + 1
