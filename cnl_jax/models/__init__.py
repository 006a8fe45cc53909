"""Flax backbones and blocks: ResNet, MobileNetV2, ViT and Swin with tap points, the NL and CNL
blocks. Every network returns `(logits, features)`; `num_classes=None` means no classifier."""

from cnl_jax.models.attention import ATTENTION_MAPS, TOKEN_ATTENTION_MAPS, DotProductAttention
from cnl_jax.models.cnl import CNL
from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.models.nonlocal_block import NonLocal
from cnl_jax.models.resnet import CNLPlacement, ResNet, block_specs
