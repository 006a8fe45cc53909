"""Where pretrained weights come from: 'imagenet' on the Hugging Face hub (ResNets) or
torchvision's download server (MobileNetV2), or a local file.

Each source becomes a torchvision-named state dict of NumPy arrays. huggingface_hub,
safetensors and torch are imported only when a source needs them.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

import numpy as np

from cnl_jax.errors import WeightsError
from cnl_jax.models.resnet import ARCHITECTURES

# torchvision's original (V1) ImageNet weights as timm republished them in safetensors form;
# timm's ResNet keys are torchvision's (conv1, bn1, layer1.0.conv1, downsample.0, fc).
IMAGENET_FILE = 'model.safetensors'
SOURCES = "'imagenet', a path to a .safetensors or .pth file, or None"


# torchvision's ImageNet MobileNetV2 (V1, the one RMG-PMSI's released code loads) exists only
# as torchvision's .pth: the hub has no copy under torchvision's key names (timm's
# mobilenetv2_100 weights are timm's own training, named differently). torch reads it.
TORCHVISION_URLS = {
    'mobilenet_v2': 'https://download.pytorch.org/models/mobilenet_v2-b0353104.pth',
}
HUB_ARCHITECTURES = tuple(f'resnet{depth}' for depth in ARCHITECTURES)
ARCHITECTURE_NAMES = (*HUB_ARCHITECTURES, *TORCHVISION_URLS)


def imagenet_repo(architecture: str) -> str:
  """The hub repository with torchvision's ImageNet weights for an architecture ('resnet50')."""
  if architecture not in HUB_ARCHITECTURES:
    raise WeightsError(f'No ImageNet weights on the hub for architecture {architecture!r}; '
                     f'known: {", ".join(HUB_ARCHITECTURES)}.')
  return f'timm/{architecture}.tv_in1k'


def read_state_dict(source: str | os.PathLike, *, architecture: str
                    ) -> dict[str, np.ndarray]:
  """The state dict that `source` names; `architecture` picks the 'imagenet' checkpoint."""
  if source == 'imagenet':
    if architecture not in ARCHITECTURE_NAMES:
      raise WeightsError(f'No ImageNet weights for architecture {architecture!r}; known: '
                       f'{", ".join(ARCHITECTURE_NAMES)}.')
    if architecture in TORCHVISION_URLS:
      return read_torch(_download_torchvision(architecture))
    return read_safetensors(_download_imagenet(architecture))
  path = pathlib.Path(source)
  if path.suffix not in ('.safetensors', '.pth', '.pt'):
    raise WeightsError(f'Unknown pretrained source {str(source)!r}; use {SOURCES}.')
  if not path.is_file():
    raise WeightsError(f'Pretrained weights file {str(path)!r} does not exist; pass the '
                            'path of a torchvision ResNet or MobileNetV2 checkpoint, or '
                            "'imagenet'.")
  if path.suffix == '.safetensors':
    return read_safetensors(path)
  return read_torch(path)


def _download_imagenet(architecture: str) -> str:
  """The local path of the ImageNet checkpoint, from the hub's cache or downloaded into it."""
  return download_from_hub(imagenet_repo(architecture), 'imagenet',
                           f'ImageNet weights for {architecture}')


def download_from_hub(repo: str, source: str, description: str) -> str:
  """The local path of `repo`'s model.safetensors on the Hugging Face hub, from the hub's
  cache or downloaded into it; `source` (the config's value) and `description` (of the
  weights) are for the error."""
  from huggingface_hub import constants, hf_hub_download
  from huggingface_hub.errors import LocalEntryNotFoundError

  try:
    return hf_hub_download(repo, IMAGENET_FILE)
  except LocalEntryNotFoundError as error:
    cache = constants.HF_HUB_CACHE
    raise WeightsError(
        f'{description} are neither in the Hugging Face cache ({cache}) '
        'nor downloadable from here (no network, or HF_HUB_OFFLINE is set). Either download\n'
        f'  https://huggingface.co/{repo}/resolve/main/{IMAGENET_FILE}\n'
        f"and pass that file's path instead of '{source}' (config.pretrained = "
        "'/path/to/model.safetensors'), or on a machine with network access run\n"
        f'  python -c "import huggingface_hub as hub; hub.hf_hub_download(\'{repo}\', '
        f'\'{IMAGENET_FILE}\')"\n'
        f'and copy the folder models--{repo.replace("/", "--")} of its cache into {cache}.'
    ) from error


def _download_torchvision(architecture: str) -> pathlib.Path:
  """torchvision's checkpoint from torch's hub cache (`torch.hub.get_dir()`), downloaded
  into it when missing, as torchvision itself does."""
  url = TORCHVISION_URLS[architecture]
  filename = url.rsplit('/', 1)[-1]
  convert = (f"  python -c \"import torch, safetensors.torch as st; st.save_file(torch.load("
             f"'{filename}'), '{architecture}.safetensors')\"\n"
             f"and set config.pretrained = '/path/to/{architecture}.safetensors'.")
  try:
    import torch
  except ImportError as error:
    raise WeightsError(
        f"ImageNet weights for {architecture} are torchvision's .pth file, and reading it "
        f'needs PyTorch, which is not installed. Install torch, or download\n  {url}\n'
        f'and convert it where torch is installed:\n{convert}') from error
  path = pathlib.Path(torch.hub.get_dir()) / 'checkpoints' / filename
  if not path.is_file():
    try:
      path.parent.mkdir(parents=True, exist_ok=True)
      torch.hub.download_url_to_file(url, str(path), progress=False)
    except OSError as error:  # URLError is an OSError
      raise WeightsError(
          f"ImageNet weights for {architecture} are not in torch's hub cache and cannot be "
          f'downloaded from here. Download\n  {url}\nand put it at\n  {path}\n(the folder '
          f'torchvision uses; TORCH_HOME moves it), or convert it to .safetensors:\n{convert}'
      ) from error
  return path


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
  from safetensors.numpy import load_file
  return load_file(path)


def read_torch(path: pathlib.Path) -> dict[str, np.ndarray]:
  try:
    import torch
  except ImportError as error:
    raise WeightsError(
        f'Reading {str(path)!r} needs PyTorch, which is not installed. Install torch, or save '
        'the state dict as .safetensors where torch is (safetensors.torch.save_file) and pass '
        "that path; for torchvision's ImageNet weights pass 'imagenet'.") from error
  state = torch.load(path, map_location='cpu', weights_only=True)
  if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
    top = list(state)[:5] if isinstance(state, Mapping) else type(state).__name__
    raise WeightsError(f'{str(path)!r} holds {top}, not a state dict of tensors; save '
                     '`model.state_dict()` (or the state dict inside this checkpoint) instead.')
  return {name: (value.float() if value.is_floating_point() else value).numpy()
          for name, value in state.items()}
