"""Flax models: ResNet and MobileNetV2 backbones with tap points, the NL and CNL blocks, and
RMG-PMSI's network."""

from cnl_jax.models.attention import ATTENTION_MAPS, DotProductAttention
from cnl_jax.models.builders import MODELS, PAPER_PLACEMENTS, create_model
from cnl_jax.models.cnl import CNL
from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.models.nonlocal_block import NonLocal
from cnl_jax.models.resnet import CNLPlacement, ResNet, block_specs
from cnl_jax.models.rmg_pmsi import RMGPMSI
