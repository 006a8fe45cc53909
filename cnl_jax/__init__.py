"""cnl_jax: Cross-layer Non-Local (CNL) networks for fine-grained recognition in JAX/Flax."""

from cnl_jax.models import (ATTENTION_MAPS, CNL, MODELS, CNLPlacement, NonLocal, ResNet,
                            create_model)

__all__ = ['ATTENTION_MAPS', 'CNL', 'MODELS', 'CNLPlacement', 'NonLocal', 'ResNet',
           'create_model']
