"""cnl_jax: Cross-layer Non-Local (CNL) networks for fine-grained recognition in JAX/Flax."""

from cnl_jax.methods import PRESETS as MODELS
from cnl_jax.methods import create_model
from cnl_jax.models import ATTENTION_MAPS, CNL, CNLPlacement, NonLocal, ResNet

__all__ = ['ATTENTION_MAPS', 'CNL', 'MODELS', 'CNLPlacement', 'NonLocal', 'ResNet',
           'create_model']
