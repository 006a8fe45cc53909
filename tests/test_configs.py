"""The shipped configs build their model, and a CNL config trains what the released code
trains."""

import importlib
import pathlib

import pytest

from cnl_jax.methods import build_method
from cnl_jax.models import ResNet

CONFIGS = sorted(path.stem for path in (pathlib.Path(__file__).parents[1] / 'configs').glob(
    '*.py') if path.stem != '__init__')


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_its_cnl_is_the_released_one(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  model = build_method(config, num_classes=10).model
  if isinstance(model, ResNet) and model.cnl is not None:
    # Every figure of the paper came from the released code's reshape; the embedded demo
    # trains the paper's equation (configs/demo.py says why).
    assert model.cnl_reshape == ('paper' if name == 'demo' else 'released')
