"""Records timm's ViT and Swin on deterministic weights: the fixture of tests/test_timm.py.

Builds tiny variants of timm's own `VisionTransformer` and `SwinTransformer` (`TINY_VIT`,
`TINY_SWIN`), fills them with weights drawn from a seeded NumPy generator, saves each state
dict as .safetensors (timm's key names, what the hub files hold) and records, in eval mode,
every block's output and the logits at 224 px and at 448 px. At 448 the ViT is a 448 model
that loads the 224 state dict through timm's `checkpoint_filter_fn` (its position
embedding resampled as timm does for hub weights); Swin loads it unchanged. Swin's maps are
recorded on `RECORDED_CHANNELS` channels to keep the fixture small.

Needs torch and timm (not project requirements), no JAX:

  python tools/make_timm_reference.py [--output-dir tests/fixtures]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from timm.models import swin_transformer, vision_transformer

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Four Swin stages cover the merges of stages 1-3 and, at 224, a last stage of one unshifted
# window (7x7).
TINY_VIT = dict(patch_size=16, embed_dim=32, depth=2, num_heads=2, num_classes=10)
TINY_SWIN = dict(patch_size=4, embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 2, 2),
                 window_size=7, num_classes=10)
IMAGES = {224: 2, 448: 1}  # image side -> images recorded at it
RECORDED_CHANNELS = 2
SEED = 0


def draw_images(batch: int, size: int) -> np.ndarray:
  """[batch, size, size, 3] standard normal images from RandomState(SEED + size): the test
  redraws them (NumPy's legacy generator is stable across versions), so none are stored."""
  return np.random.RandomState(SEED + size).standard_normal(
      (batch, size, size, 3)).astype(np.float32)


def draw_weights(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
  """Weights that keep activations O(1) and make every parameter matter: linear maps and
  convs N(0, 1 / fan_in), biases N(0, 0.1), LayerNorm scales 1 + N(0, 0.1), class token,
  position embeddings and Swin's relative-position tables N(0, 0.5)."""
  generator = np.random.RandomState(seed)
  weights = {}
  for name, value in model.state_dict().items():
    shape = tuple(value.shape)
    if name.endswith('.weight') and len(shape) >= 2:
      drawn = generator.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
    elif 'norm' in name and name.endswith('.weight'):
      drawn = 1 + 0.1 * generator.standard_normal(shape)
    elif name.endswith('.bias'):
      drawn = 0.1 * generator.standard_normal(shape)
    else:
      drawn = 0.5 * generator.standard_normal(shape)
    weights[name] = torch.from_numpy(drawn.astype(np.float32))
  return weights


def run(model: torch.nn.Module, blocks: dict[str, torch.nn.Module], images: np.ndarray
        ) -> dict[str, np.ndarray]:
  """The logits and each named block's output (NHWC maps, or [batch, tokens, width])."""
  outputs = {}
  for name, block in blocks.items():
    block.register_forward_hook(
        lambda module, inputs, output, key=name: outputs.__setitem__(key, output.numpy()))
  with torch.no_grad():
    outputs['logits'] = model(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
  return outputs


def record_vit(images: dict[int, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
  """(the 224 state dict, recorded outputs at every size)."""
  model = vision_transformer.VisionTransformer(img_size=224, **TINY_VIT).eval()
  state = draw_weights(model, SEED)
  entries = {}
  for size, sized in images.items():
    model = vision_transformer.VisionTransformer(img_size=size, **TINY_VIT).eval()
    model.load_state_dict(vision_transformer.checkpoint_filter_fn(dict(state), model))
    blocks = {f'block{i}': block for i, block in enumerate(model.blocks)}
    for name, value in run(model, blocks, sized).items():
      entries[f'vit/{size}/{name}'] = value
  return state, entries


def record_swin(images: dict[int, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
  """(the state dict, recorded outputs at every size; maps on a few channels)."""
  model = swin_transformer.SwinTransformer(img_size=224, **TINY_SWIN).eval()
  state = draw_weights(model, SEED + 1)
  entries = {}
  for size, sized in images.items():
    model = swin_transformer.SwinTransformer(img_size=size, **TINY_SWIN).eval()
    model.load_state_dict(swin_transformer.checkpoint_filter_fn(dict(state), model))
    blocks = {f'stage{s}_{b}': block for s, layer in enumerate(model.layers)
              for b, block in enumerate(layer.blocks)}
    for name, value in run(model, blocks, sized).items():
      if value.ndim == 4:
        channels = np.linspace(0, value.shape[-1] - 1, RECORDED_CHANNELS).round().astype(int)
        value = value[..., channels]
      entries[f'swin/{size}/{name}'] = value
  return state, entries


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--output-dir', type=pathlib.Path, default=ROOT / 'tests' / 'fixtures')
  args = parser.parse_args()
  images = {size: draw_images(batch, size) for size, batch in IMAGES.items()}
  entries = {'config': np.array(json.dumps(
      {'vit': TINY_VIT, 'swin': TINY_SWIN, 'recorded_channels': RECORDED_CHANNELS,
       'images': IMAGES, 'seed': SEED}))}
  args.output_dir.mkdir(parents=True, exist_ok=True)
  for family, record in (('vit', record_vit), ('swin', record_swin)):
    state, recorded = record(images)
    entries.update(recorded)
    save_file({name: value.contiguous() for name, value in state.items()},
              args.output_dir / f'timm_{family}.safetensors')
  output = args.output_dir / 'timm_outputs.npz'
  np.savez_compressed(output, **entries)
  sizes = {path.name: path.stat().st_size // 1024
           for path in sorted(args.output_dir.glob('timm_*'))}
  print(f'Wrote {sizes} (KiB).')


if __name__ == '__main__':
  main()
