"""TASN (Zheng et al., "Looking for the Devil in the Details", CVPR 2019): the trilinear
attention sampling network, its sampler and its training method, from the released MXNet
code (researchmm/tasn @ 5dba8cc, tasn-mxnet/example/tasn/ and the att_sampler operator)."""

from cnl_jax.methods.tasn.method import TASNMethod, distillation_loss
from cnl_jax.methods.tasn.network import HEADS, TASN
