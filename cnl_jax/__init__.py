"""cnl_jax: Cross-layer Non-Local (CNL) networks for fine-grained recognition in JAX/Flax.

`create_model(name, num_classes, **overrides)` builds any preset that `list_models()` names.
The names below load on first use (PEP 562), so that the JAX-free parts of the package
(`cnl_jax.lite`, the exported-model predictor) import without JAX or TensorFlow.
"""

import importlib as _importlib

# Each public name as (module, name there).
_EXPORTS = {
    **{name: ('cnl_jax.methods', name) for name in ('create_model', 'list_models')},
    **{name: ('cnl_jax.models', name)
       for name in ('ATTENTION_MAPS', 'CNL', 'CNLPlacement', 'NonLocal', 'ResNet')},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _EXPORTS[name]
  return getattr(_importlib.import_module(module), attribute)


def __dir__() -> list[str]:
  return sorted([*globals(), *__all__])
