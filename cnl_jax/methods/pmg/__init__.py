"""PMG (Du et al., "Fine-Grained Visual Classification via Progressive Multi-Granularity
Training of Jigsaw Patches", ECCV 2020), from the released code
(PRIS-CV/PMG-Progressive-Multi-Granularity-Training @ db7a7d7)."""

from cnl_jax.methods.pmg.method import PMGMethod
from cnl_jax.methods.pmg.network import HEADS, PMG
