"""The one entry point from a config's `pretrained` field to loaded variables."""

from __future__ import annotations

import os

from absl import logging

from cnl_jax.pretrained.sources import read_state_dict
from cnl_jax.pretrained.torchvision import Variables, convert_torchvision_state_dict


def load_pretrained(variables: Variables, source: str | os.PathLike | None, *,
                    architecture: str) -> Variables:
  """Fills the backbone of `variables` from `source`; None keeps the random init.

  `source` is 'imagenet' (torchvision's weights for `architecture`, e.g. 'resnet50', from the Hugging Face hub or its
  cache), a path to a torchvision ResNet state dict in a .safetensors file, or one in a
  .pth file (needs torch). Logs what was loaded once.
  """
  if source is None:
    logging.info('No pretrained weights: the model keeps its random init.')
    return variables
  converted, report = convert_torchvision_state_dict(
      variables, read_state_dict(source, architecture=architecture))
  logging.info('Pretrained weights from %s: %s', source, report)
  return converted
