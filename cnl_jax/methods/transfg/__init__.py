"""TransFG (He et al., "TransFG: A Transformer Architecture for Fine-grained Recognition",
AAAI 2022), from the released code (TACJu/TransFG @ 9336fba; last code change ff28b58)."""

from cnl_jax.methods.transfg.method import TransFGMethod
from cnl_jax.methods.transfg.network import TransFG
