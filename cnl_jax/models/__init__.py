"""Flax models: ResNet backbones with tap points, the NL block and the CNL block."""

from cnl_jax.models.attention import ATTENTION_MAPS, DotProductAttention
from cnl_jax.models.builders import MODELS, PAPER_PLACEMENTS, create_model
from cnl_jax.models.cnl import CNL
from cnl_jax.models.nonlocal_block import NonLocal
from cnl_jax.models.resnet import CNLPlacement, ResNet, block_specs
