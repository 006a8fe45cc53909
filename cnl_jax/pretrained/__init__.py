"""Pretrained weights: torchvision ResNet and MobileNetV2 checkpoints, and timm's ViT and
Swin (also Google's ViT .npz), into the Flax models (see docs/weights.md)."""

from cnl_jax.pretrained.load import load_backbones, load_pretrained
from cnl_jax.pretrained.position_embedding import resample_position_embedding
from cnl_jax.pretrained.sources import IMAGENET_FILE, imagenet_repo, read_state_dict
from cnl_jax.pretrained.timm import convert_timm_state_dict
from cnl_jax.pretrained.timm_sources import google_vit_state_dict, read_timm_source
from cnl_jax.pretrained.torchvision import (LoadReport, StateDictMismatchError,
                                            convert_torchvision_state_dict,
                                            load_torchvision_state_dict, torchvision_name)

__all__ = ['IMAGENET_FILE', 'LoadReport', 'StateDictMismatchError', 'convert_timm_state_dict',
           'convert_torchvision_state_dict', 'google_vit_state_dict', 'imagenet_repo',
           'load_backbones', 'load_pretrained', 'load_torchvision_state_dict',
           'read_state_dict', 'read_timm_source', 'resample_position_embedding',
           'torchvision_name']
