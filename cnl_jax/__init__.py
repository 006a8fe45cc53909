"""cnl_jax: Cross-layer Non-Local (CNL) networks for fine-grained recognition in JAX/Flax.

The names below load on first use (PEP 562), so that the JAX-free parts of the package
(`cnl_jax.lite`, the exported-model predictor) import without JAX or TensorFlow.
"""

import importlib
from typing import Any

# Each public name as (module, name there).
_EXPORTS = {
    'MODELS': ('cnl_jax.methods', 'PRESETS'),
    'create_model': ('cnl_jax.methods', 'create_model'),
    **{name: ('cnl_jax.models', name)
       for name in ('ATTENTION_MAPS', 'CNL', 'CNLPlacement', 'NonLocal', 'ResNet')},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _EXPORTS[name]
  return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
  return sorted([*globals(), *__all__])
