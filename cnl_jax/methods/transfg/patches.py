"""The released patch embedding's geometry: `split` and `slide_step` as a conv stride.

After the released `Embeddings` (TACJu/TransFG @ 9336fba, models/modeling.py:145-156): a
16 x 16 conv without padding, stride 16 for `split='non-overlap'` (the released CLI default,
train.py:356) or `slide_step` for `split='overlap'` (the paper's and README's setting, stride
12). Patches per side: size // 16, or (size - 16) // slide_step + 1: 28 or 37 at 448 px.
"""

from __future__ import annotations

from typing import Literal

Split = Literal['overlap', 'non-overlap']
SPLITS = ('overlap', 'non-overlap')
PATCH_SIZE = 16  # ViT-B_16


def patch_stride(split: Split, slide_step: int = 12, patch_size: int = PATCH_SIZE) -> int:
  """The patch-embedding conv's stride in pixels."""
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
  if split == 'non-overlap':
    return patch_size
  if not 0 < slide_step <= patch_size:
    raise ValueError(f'slide_step={slide_step} must lie in 1 .. {patch_size} (the patch '
                     'size); the released runs use 12.')
  return slide_step


def patches_per_side(image_size: int, split: Split, slide_step: int = 12,
                     patch_size: int = PATCH_SIZE) -> int:
  """Patches along a side of `image_size` pixels, as the released code counts them."""
  if image_size < patch_size:
    raise ValueError(f'Images of {image_size} px are smaller than one {patch_size} px patch.')
  if split == 'non-overlap':
    return image_size // patch_size
  return (image_size - patch_size) // patch_stride(split, slide_step, patch_size) + 1
