"""Flax backbones and blocks: ResNet and MobileNetV2 with tap points, the NL and CNL blocks,
and the per-stage heads of PMG-style methods. Every network returns `(logits, features)`;
`num_classes=None` means no classifier."""

from cnl_jax.models.attention import ATTENTION_MAPS, TOKEN_ATTENTION_MAPS, DotProductAttention
from cnl_jax.models.builders import MODELS, PAPER_PLACEMENTS, Preset, create_model
from cnl_jax.models.cnl import CNL
from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.models.nonlocal_block import NonLocal
from cnl_jax.models.resnet import CNLPlacement, ResNet, block_specs
