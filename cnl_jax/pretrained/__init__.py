"""Pretrained weights: torchvision ResNet checkpoints into the Flax ResNet (see docs/weights.md)."""

from cnl_jax.pretrained.load import load_backbones, load_pretrained
from cnl_jax.pretrained.sources import IMAGENET_FILE, imagenet_repo, read_state_dict
from cnl_jax.pretrained.torchvision import (LoadReport, StateDictMismatchError,
                                            convert_torchvision_state_dict,
                                            load_torchvision_state_dict, torchvision_name)

__all__ = ['IMAGENET_FILE', 'LoadReport', 'StateDictMismatchError',
           'convert_torchvision_state_dict', 'imagenet_repo', 'load_backbones', 'load_pretrained',
           'load_torchvision_state_dict', 'read_state_dict', 'torchvision_name']
