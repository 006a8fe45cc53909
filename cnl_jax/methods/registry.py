"""Every training method by name, and every model preset by the method that trains it.

Adding a method: write its folder (network, method class with its presets and options) and
list its class here; the loop, the tools and the preset tests pick it up.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from cnl_jax.errors import ConfigError
from cnl_jax.methods.base import Method
from cnl_jax.methods.classification import Classification
from cnl_jax.methods.pmg import PMGMethod
from cnl_jax.methods.rmg_pmsi import RMGPMSIMethod
from cnl_jax.methods.tasn import TASNMethod
from cnl_jax.models.builders import Preset

METHODS: dict[str, type[Method]] = {
    method.name: method for method in (Classification, TASNMethod, RMGPMSIMethod, PMGMethod)}

# Every model preset (`config.model`) and the method that trains it.
PRESETS: dict[str, Preset] = {name: preset for method in METHODS.values()
                              for name, preset in method.presets.items()}
PRESET_METHODS: dict[str, type[Method]] = {name: method for method in METHODS.values()
                                           for name in method.presets}


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
  """Builds any preset by name: a backbone ('resnet50_5cnl') or another method's network
  ('tasn_resnet50'); `overrides` replace or add attributes of its module."""
  if name not in PRESETS:
    raise ValueError(f'Unknown model {name!r}; valid names are: {", ".join(sorted(PRESETS))}.')
  return PRESETS[name].build(num_classes, **overrides)


def method_config(model: str) -> ml_collections.ConfigDict:
  """The `config.method` section, with its defaults, of the method that trains `model`."""
  if model not in PRESET_METHODS:
    raise ConfigError(f'config.model={model!r} is unknown; valid models: '
                      f'{", ".join(sorted(PRESETS))}.')
  return PRESET_METHODS[model].default_options()


def build_method(config: ml_collections.ConfigDict, num_classes: int) -> Method:
  """The model `config.model` names, wrapped in its method with `config.method`'s options.

  Raises ConfigError when the model is unknown or `config.method` belongs to another method
  (e.g. `--config.model=tasn_resnet50` on a CNL config).
  """
  method = PRESET_METHODS.get(config.model)
  if method is None:
    raise ConfigError(f'config.model={config.model!r} is unknown; valid models: '
                      f'{", ".join(sorted(PRESETS))}.')
  options = config.method
  if options.name != method.name:
    raise ConfigError(
        f'config.model={config.model!r} is trained by method {method.name!r}, but '
        f'config.method holds the options of {options.name!r}; start from a config of '
        f'{method.name!r} (configs/) or set config.method = '
        f'cnl_jax.methods.method_config({config.model!r}) in your config file.')
  expected = set(method.default_options())
  if set(options) != expected:
    raise ConfigError(f'config.method has the fields {sorted(options)}; method '
                      f'{method.name!r} takes {sorted(expected)}.')
  try:
    model = create_model(config.model, num_classes, dtype=jnp.dtype(config.dtype),
                         **config.model_overrides)
  except TypeError as error:  # an attribute the module does not have
    raise ConfigError(f'config.model_overrides={dict(config.model_overrides)} does not fit '
                      f'config.model={config.model!r}: {error}') from error
  return method(model, num_classes, options)
