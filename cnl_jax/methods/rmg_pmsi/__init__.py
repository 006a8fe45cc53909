"""RMG-PMSI (Wu et al., "Progressive Multi-stage Interactive Training in Mobile Network for
Fine-grained Recognition", arXiv 2112.04223): MobileNetV2 with multi-stage interaction and
recursive-mosaic progressive training, from the released code
(cj-wade/Progressive-Multi-stage-Interactive-Training-in-Mobile-Network-for-FGVC @ 857ba00)."""

from cnl_jax.methods.rmg_pmsi.method import RMGPMSIMethod
from cnl_jax.methods.rmg_pmsi.network import HEADS, TAPS, MultiStageInteraction, RMGPMSI
