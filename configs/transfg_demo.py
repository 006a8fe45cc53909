"""The embedded TransFG demo: a small TransFG from scratch on the synthetic fine-grained set,
on any CPU; the same model size and optimiser as configs/vit_demo.py, so the two compare.

No download: the data are generated from a seed on first use. About 7-15 minutes on 2 CPU
cores. Judged over seeds 0-4 (`benchmarks/demo_seeds.py --config configs/transfg_demo.py`;
the table is in BENCHMARKS.md).
"""

import ml_collections

from configs import vit_demo


def get_config():
  config = vit_demo.get_config()  # its data, AdamW and schedule (DeiT's recipe, scaled down)
  config.model = 'transfg_vit_base_patch16'
  # 9 x 9 overlapping patches of 8 px at stride 7 on the 64 px images (the released overlap
  # of 16 px patches at stride 12, scaled down), 4 blocks of width 64 with 4 heads: 4 parts.
  config.model_overrides = ml_collections.ConfigDict(
      {'width': 64, 'depth': 4, 'num_heads': 4, 'patch_size': 8, 'slide_step': 7})
  return config
