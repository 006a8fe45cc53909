"""The embedded transformer demo: a small ViT from scratch on the synthetic fine-grained set,
on any CPU.

No download: the data are generated from a seed on first use. About 6-10 minutes on 2 CPU
cores. Judged over seeds 0-4 (`benchmarks/demo_seeds.py --config configs/vit_demo.py`; the
table is in BENCHMARKS.md): a ViT from scratch learns this set more slowly than the CNL
demo's ResNet-18.
"""

import ml_collections

from configs import demo


def get_config():
  config = demo.get_config()
  config.model = 'vit_small_patch16'
  # 8 x 8 patches of 8 px on the 64 px images, 4 blocks of width 64: a few minutes on a CPU.
  # CNL across its layers by override: --config.model_overrides.cnl_responses="('block1',
  # 'block2')" (the last layer's patch tokens query blocks 1 and 2; models/vit.py).
  config.model_overrides = ml_collections.ConfigDict(
      {'width': 64, 'depth': 4, 'num_heads': 4, 'patch_size': 8, 'cnl_responses': (),
       'cnl_inner_features': 32})
  # AdamW, as ViTs from scratch are trained (DeiT, Touvron et al., ICML 2021: lr 5e-4 x
  # batch / 512, weight decay 0.05, warmup, cosine); a higher rate suits this small set.
  config.optimizer = 'adamw'
  config.learning_rate = 1e-3
  config.weight_decay = 0.05
  config.grad_clip_norm = 1.0
  config.num_epochs = 40
  config.warmup_epochs = 3
  config.warmup_per = 'step'
  config.warmup_start_lr = 1e-5
  config.schedule = 'cosine'
  config.cosine_steps = 0
  config.cosine_per = 'step'
  return config
