"""Records torchvision models on stand-in weights: the fixture of tests/test_pretrained.py.

Fills torchvision's own resnet18, resnet50, resnet101 and mobilenet_v2 with the weights
that `cnl_jax/pretrained/reference.py` draws, runs them in eval mode on fixed images and
saves the images, the logits, the pooled features and a few channels of the stem, stage and
block outputs, and the state dict key names and shapes of every ResNet depth from 18 to 152
and of MobileNetV2. The test redraws the weights without torch, converts them and compares.
Needs torch and torchvision (not project requirements) and loads the NumPy-only reference
module by path, so no JAX:

  python tools/make_torchvision_reference.py [--output tests/fixtures/torchvision_models.npz]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib

import numpy as np
import torch
import torchvision

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYOUT_DEPTHS = (18, 34, 50, 101, 152)
RUN_DEPTHS = (18, 50, 101)  # a basic-block depth and the paper's two backbones
MOBILENET_SEED = 2
# Odd, non-square sizes exercise PyTorch's padding arithmetic at every stride.
IMAGE_SHAPE = (2, 67, 93, 3)
IMAGE_SEED = 0
# torchvision module whose output is recorded -> fixture name.
RECORDED = {'maxpool': 'stem', 'layer1': 'layer1', 'layer2': 'layer2', 'layer3': 'layer3',
            'layer4': 'layer4'}
# MobileNetV2 `features` index -> fixture name (cnl_jax's feature names): the stem, the
# first strided block (after the one without expansion), RMG-PMSI's taps and the last block.
RECORDED_MOBILENET = {0: 'stem', 2: 'block2', 6: 'block6', 13: 'block13', 17: 'block17',
                      18: 'last'}


def load_reference_module():
  """cnl_jax/pretrained/reference.py alone: importing the package would need JAX."""
  spec = importlib.util.spec_from_file_location(
      'reference', ROOT / 'cnl_jax' / 'pretrained' / 'reference.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def state_dict_layout(model: torch.nn.Module) -> list[tuple[str, list[int]]]:
  """Key names and shapes in the state dict's order: what the weight draw depends on."""
  return [(name, list(value.shape)) for name, value in model.state_dict().items()]


def record(depth: int, images: np.ndarray, reference) -> dict[str, np.ndarray]:
  """Outputs of one depth on weights drawn with seed = depth."""
  model = getattr(torchvision.models, f'resnet{depth}')(weights=None).eval()
  layout = state_dict_layout(model)
  weights = reference.draw_state_dict(layout, seed=depth)
  model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()})

  outputs = {}
  for module_name, fixture_name in RECORDED.items():
    getattr(model, module_name).register_forward_hook(
        lambda module, inputs, output, key=fixture_name: outputs.__setitem__(key, output))
  model.avgpool.register_forward_hook(
      lambda module, inputs, output: outputs.__setitem__('pooled', output.flatten(1)))
  with torch.no_grad():
    logits = model(torch.from_numpy(images).permute(0, 3, 1, 2))

  prefix = f'resnet{depth}/'
  entries = {prefix + 'seed': np.array(depth),
             prefix + 'logits': logits.numpy(),
             prefix + 'pooled': outputs.pop('pooled').numpy()}
  for name, value in outputs.items():  # NCHW -> NHWC, then the recorded channels
    entries[prefix + name] = reference.recorded_channels(value.permute(0, 2, 3, 1).numpy())
  return entries


def record_mobilenet_v2(images: np.ndarray, reference) -> dict[str, np.ndarray]:
  """Outputs of MobileNetV2 on weights drawn with seed MOBILENET_SEED, and its layout."""
  model = torchvision.models.mobilenet_v2(weights=None).eval()
  layout = state_dict_layout(model)
  weights = reference.draw_state_dict(layout, seed=MOBILENET_SEED)
  model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()})

  outputs = {}
  for index, fixture_name in RECORDED_MOBILENET.items():
    model.features[index].register_forward_hook(
        lambda module, inputs, output, key=fixture_name: outputs.__setitem__(key, output))
  model.classifier.register_forward_hook(
      lambda module, inputs, output: outputs.__setitem__('pooled', inputs[0]))
  with torch.no_grad():
    logits = model(torch.from_numpy(images).permute(0, 3, 1, 2))

  prefix = 'mobilenet_v2/'
  entries = {prefix + 'seed': np.array(MOBILENET_SEED),
             prefix + 'layout': np.array(json.dumps(layout)),
             prefix + 'logits': logits.numpy(),
             prefix + 'pooled': outputs.pop('pooled').numpy()}
  for name, value in outputs.items():
    entries[prefix + name] = reference.recorded_channels(value.permute(0, 2, 3, 1).numpy())
  return entries


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--output', type=pathlib.Path,
                      default=ROOT / 'tests' / 'fixtures' / 'torchvision_models.npz')
  args = parser.parse_args()
  reference = load_reference_module()
  images = np.random.RandomState(IMAGE_SEED).standard_normal(IMAGE_SHAPE).astype(np.float32)
  entries = {'images': images}
  for depth in LAYOUT_DEPTHS:
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    entries[f'resnet{depth}/layout'] = np.array(json.dumps(state_dict_layout(model)))
  for depth in RUN_DEPTHS:
    entries.update(record(depth, images, reference))
  entries.update(record_mobilenet_v2(images, reference))
  args.output.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(args.output, **entries)
  print(f'Wrote {args.output} ({args.output.stat().st_size // 1024} KiB).')


if __name__ == '__main__':
  main()
