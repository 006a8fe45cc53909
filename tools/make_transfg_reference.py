"""Records the released TransFG on deterministic weights: the fixture of
tests/test_transfg_released.py.

Runs the released PyTorch code itself, imported from a checkout of TACJu/TransFG at 9336fba
(`--transfg-repo`; the project does not copy it). A tiny ViT config (`TINY`: 4 layers, so 3
selection blocks and the part layer) with overlapping patches (`split='overlap'`, stride 12)
at 64 px, 5 x 5 patches, loads a Google-layout .npz drawn from a seeded NumPy generator
through the released `load_from`: its 3 x 3 position grid is zoomed to 5 x 5, the part layer
and the head keep their PyTorch init (drawn after `torch.manual_seed(SEED)`) and the npz's
last block and head are never read. Records, in eval mode: the loaded state dict, the images,
the part indices chosen by `Part_Attention` (+1, token indices), the part head's input (the
normalised class token), the logits, and the released training loss (CE + con_loss) on
`LABELS` with dropout off.

Needs torch, numpy, scipy and ml_collections (the released code's imports), no JAX:

  python tools/make_transfg_reference.py --transfg-repo PATH [--output tests/fixtures/...]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(hidden_size=32, num_heads=2, mlp_dim=64, num_layers=4, patch_size=16,
            split='overlap', slide_step=12)
PRETRAINED_SIZE = 48  # 3 x 3 patches of 16: the 224 px checkpoint's 14 x 14 grid in small
IMAGE_SIZE = 64  # (64 - 16) // 12 + 1 = 5 patches per side
NUM_CLASSES = 5
LABELS = (0, 1, 0, 2)  # one positive pair besides the diagonal for con_loss
SEED = 0


def draw_images() -> np.ndarray:
  """[4, 64, 64, 3] standard normal images from RandomState(SEED): the test redraws them."""
  return np.random.RandomState(SEED).standard_normal(
      (len(LABELS), IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)


def draw_npz() -> dict[str, np.ndarray]:
  """A ViT checkpoint in Google's .npz layout (the keys `load_from` reads, plus the last
  block and a head, which it must not read): kernels N(0, 1 / fan_in) with the query and key
  kernels 3x larger so the attention is peaked, biases N(0, 0.1), LayerNorm scales
  1 + N(0, 0.1), class token and position embeddings N(0, 0.5)."""
  generator = np.random.RandomState(SEED + 1)
  width, heads, mlp = TINY['hidden_size'], TINY['num_heads'], TINY['mlp_dim']
  grid = PRETRAINED_SIZE // TINY['patch_size']

  def normal(shape, scale):
    return (scale * generator.standard_normal(shape)).astype(np.float32)
  weights = {'embedding/kernel': normal((16, 16, 3, width), 1 / np.sqrt(16 * 16 * 3)),
             'embedding/bias': normal((width,), 0.1),
             'cls': normal((1, 1, width), 0.5),
             'Transformer/posembed_input/pos_embedding': normal((1, grid * grid + 1, width),
                                                                0.5),
             'Transformer/encoder_norm/scale': 1 + normal((width,), 0.1),
             'Transformer/encoder_norm/bias': normal((width,), 0.1),
             'head/kernel': normal((width, NUM_CLASSES), 1 / np.sqrt(width)),
             'head/bias': normal((NUM_CLASSES,), 0.1)}
  for block in range(TINY['num_layers']):
    root = f'Transformer/encoderblock_{block}'
    attention = f'{root}/MultiHeadDotProductAttention_1'
    for name in ('query', 'key', 'value'):
      scale = (3 if name != 'value' else 1) / np.sqrt(width)
      weights[f'{attention}/{name}/kernel'] = normal((width, heads, width // heads), scale)
      weights[f'{attention}/{name}/bias'] = normal((heads, width // heads), 0.1)
    weights[f'{attention}/out/kernel'] = normal((heads, width // heads, width),
                                                1 / np.sqrt(width))
    weights[f'{attention}/out/bias'] = normal((width,), 0.1)
    for index, (fan_in, fan_out) in enumerate(((width, mlp), (mlp, width))):
      weights[f'{root}/MlpBlock_3/Dense_{index}/kernel'] = normal((fan_in, fan_out),
                                                                  1 / np.sqrt(fan_in))
      weights[f'{root}/MlpBlock_3/Dense_{index}/bias'] = normal((fan_out,), 0.1)
    for norm in ('LayerNorm_0', 'LayerNorm_2'):
      weights[f'{root}/{norm}/scale'] = 1 + normal((width,), 0.1)
      weights[f'{root}/{norm}/bias'] = normal((width,), 0.1)
  return weights


def released_config(configs):
  """The released ViT-B_16 config, shrunk to `TINY`."""
  config = configs.get_b16_config()
  config.patches.size = (TINY['patch_size'],) * 2
  config.split, config.slide_step = TINY['split'], TINY['slide_step']
  config.hidden_size = TINY['hidden_size']
  config.transformer.mlp_dim = TINY['mlp_dim']
  config.transformer.num_heads = TINY['num_heads']
  config.transformer.num_layers = TINY['num_layers']
  return config


def record(transfg_repo: pathlib.Path) -> dict[str, np.ndarray]:
  sys.path.insert(0, str(transfg_repo))
  from models import configs, modeling  # pylint: disable=import-outside-toplevel

  torch.manual_seed(SEED)
  model = modeling.VisionTransformer(released_config(configs), IMAGE_SIZE, zero_head=True,
                                     num_classes=NUM_CLASSES).eval()
  npz = draw_npz()
  model.load_from(npz)
  outputs = {}
  model.transformer.encoder.part_select.register_forward_hook(
      lambda module, inputs, output: outputs.__setitem__('part_indices', output[1] + 1))
  model.transformer.encoder.register_forward_hook(
      lambda module, inputs, output: outputs.__setitem__('pooled', output[:, 0]))
  images = torch.from_numpy(draw_images()).permute(0, 3, 1, 2)
  with torch.no_grad():
    logits = model(images)
    loss, _ = model(images, torch.tensor(LABELS))
  entries = {f'npz/{name}': value for name, value in npz.items()}
  entries.update({f'state/{name}': value.numpy() for name, value in model.state_dict().items()})
  entries.update({name: value.numpy() for name, value in outputs.items()})
  entries.update(logits=logits.numpy(), loss=loss.numpy(), labels=np.array(LABELS))
  return entries


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--transfg-repo', type=pathlib.Path, required=True,
                      help='a checkout of github.com/TACJu/TransFG at 9336fba')
  parser.add_argument('--output', type=pathlib.Path,
                      default=ROOT / 'tests' / 'fixtures' / 'transfg_reference.npz')
  args = parser.parse_args()
  entries = record(args.transfg_repo)
  entries['config'] = np.array(json.dumps(
      {'tiny': TINY, 'pretrained_size': PRETRAINED_SIZE, 'image_size': IMAGE_SIZE,
       'num_classes': NUM_CLASSES, 'seed': SEED, 'torch': torch.__version__}))
  args.output.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(args.output, **entries)
  print(f'Wrote {args.output} ({args.output.stat().st_size // 1024} KiB).')


if __name__ == '__main__':
  main()
