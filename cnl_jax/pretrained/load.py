"""The one entry point from a config's `pretrained` field to loaded variables."""

from __future__ import annotations

import os

from absl import logging

from cnl_jax.pretrained import timm_sources
from cnl_jax.pretrained.sources import read_state_dict
from cnl_jax.pretrained.timm import convert_timm_state_dict
from cnl_jax.pretrained.torchvision import Variables, convert_torchvision_state_dict


def load_pretrained(variables: Variables, source: str | os.PathLike | None, *,
                    architecture: str) -> Variables:
  """Fills the backbone of `variables` from `source`; None keeps the random init.

  `source` is 'imagenet' (torchvision's weights for `architecture`, e.g. 'resnet50' from the
  Hugging Face hub or its cache, 'mobilenet_v2' from torchvision's server or torch's cache),
  a path to a torchvision ResNet or MobileNetV2 state dict in a .safetensors file, or one
  in a .pth file (needs torch). A ViT or Swin `architecture` ('vit_base_patch16',
  `timm_sources.ARCHITECTURES`) reads timm's weights instead: 'imagenet21k',
  'imagenet21k_augreg' (ViT) or 'imagenet' from the hub, a timm .safetensors or .pth file, or
  Google's ViT .npz. Logs what was loaded once.
  """
  if source is None:
    logging.info('No pretrained weights: the model keeps its random init.')
    return variables
  if architecture in timm_sources.ARCHITECTURES:
    state_dict, resampling = timm_sources.read_timm_source(source, architecture)
    converted, report = convert_timm_state_dict(variables, state_dict,
                                                position_resampling=resampling)
  else:
    converted, report = convert_torchvision_state_dict(
        variables, read_state_dict(source, architecture=architecture))
  logging.info('Pretrained weights from %s: %s', source, report)
  return converted


def load_backbones(variables: Variables, source: str | os.PathLike | None,
                   backbones: dict[str, str]) -> Variables:
  """Fills each backbone subtree ('' = the whole model) of every collection from `source`.

  `backbones` maps a top-level subtree to the architecture whose weights it takes, e.g.
  {'attention_net': 'resnet18', 'part_net': 'resnet50'} or {'': 'resnet50'}.
  """
  variables = dict(variables)
  for subtree, architecture in backbones.items():
    if not subtree:
      return load_pretrained(variables, source, architecture=architecture)
    part = {name: collection[subtree] for name, collection in variables.items()
            if subtree in collection}
    loaded = load_pretrained(part, source, architecture=architecture)
    for name, collection in loaded.items():
      variables[name] = {**variables[name], subtree: collection}
  return variables
