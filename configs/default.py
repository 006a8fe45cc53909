"""Base config: the released CNL recipe on CUB-200-2011 with ResNet-50 + 5 CNL
(FouriYe/CNL-ICIP2020 @ a10a8c4, train_val.py).

Other configs import this and change a few fields. Every field is listed here.

What the released code does and this does too: its classifier init (kaiming-normal fan-out
weights, PyTorch's default bias), its CNL reshape, PyTorch's BatchNorm (running variance
from the unbiased batch variance) with statistics over the whole batch of 32 (it trains on
one GPU), its RandomResizedCrop. Known differences: the last partial training batch of an
epoch is dropped (the released DataLoader keeps it: 10 images of CUB's 5,994 at batch 32);
the shuffling order and the augmentation draws are this pipeline's own.
"""

import ml_collections

from cnl_jax.data.config import default_data_config
from cnl_jax.methods import method_config


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()

  # Model: a preset of cnl_jax.MODELS, plus any attribute of its module to override.
  # The released code's CNL views its attended values [positions, d] as [d, height, width]
  # without a transpose, and every figure of the paper came from it, so the recipe trains
  # that; --config.model_overrides.cnl_reshape=paper trains the paper's equation (the CNL
  # module's default). A config of another model starts its own overrides.
  config.model = 'resnet50_5cnl'
  config.model_overrides = ml_collections.ConfigDict({'cnl_reshape': 'released'})
  # The options of the method that trains the model (cnl_jax.methods): `name` and its own
  # fields with their defaults. A config of another method sets
  # `config.method = method_config(config.model)` after choosing the model.
  config.method = method_config(config.model)
  config.dtype = 'float32'  # compute dtype: 'float32' (the paper) or 'bfloat16'
  # 'imagenet' (torchvision V1 weights), a .safetensors / .pth path, or None (random init).
  config.pretrained = 'imagenet'
  config.init_from = None  # another run's workdir: start from its latest parameters

  # Data: the dataset and where its files are; every field is documented in
  # cnl_jax/data/config.py. Each dataset config sets `name`; users set `manual_dir`.
  config.data = default_data_config()
  config.data.name = 'cub'
  config.image_size = 448   # train random-resized-crop and eval center-crop side
  config.eval_resize = 512  # eval resizes the short side to this before the crop
  # Test-time augmentation (cnl_jax/training/eval_views.py): the mean of the logits of each
  # test image's views. 'none' (one centre crop, the paper's protocol), 'flip' (and its
  # mirror), 'five_crop' (torchvision's FiveCrop: the corners and the centre of the resized
  # image) or 'five_crop_flip' (those five and their mirrors). `eval_tta` is used by
  # `--mode eval` and `cnl_jax.evaluate`; `epoch_eval_tta` by the eval after each training
  # epoch (and so by the best checkpoint's choice), which it makes views x slower.
  config.eval_tta = 'none'
  config.epoch_eval_tta = 'none'

  # Optimisation: SGD, momentum 0.9, weight decay 1e-4 added to every gradient, batch 32
  # (the paper's text says 64; the released code uses 32).
  config.batch_size = 32  # global, over all devices and processes
  # Gradient accumulation: each update averages the gradients of k micro-batches of
  # batch_size / k, one after another, then steps the optimizer once, so a batch that does
  # not fit in memory trains as one. Batch-norm statistics then come from micro-batches of
  # batch_size / k (running averages move once per micro-batch).
  config.grad_accum_steps = 1
  config.eval_batch_size = 32
  config.learning_rate = 0.01
  # 'sgd' (PyTorch SGD: momentum, decay added to every gradient) or 'adamw' (PyTorch AdamW:
  # decoupled decay on conv and dense kernels only, as timm's recipes; adam_* are its betas
  # and epsilon). momentum and nesterov are SGD's.
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 1e-4
  config.adam_b1 = 0.9
  config.adam_b2 = 0.999
  config.adam_eps = 1e-8
  # Clip the gradient to this global norm before each update (the transformer recipes' 1.0);
  # 0: no clipping.
  config.grad_clip_norm = 0.0
  # 10 warmup epochs from 1e-5, stepped per epoch; then x0.1 at the 0-based epochs below.
  # (The paper's text says decay at 50, 70, 90; the released code's CUB run decays at
  # 41, 61, 81.)
  config.num_epochs = 110
  config.warmup_epochs = 10
  config.warmup_start_lr = 1e-5
  config.warmup_per = 'epoch'  # 'epoch' (released code) or 'step'
  config.schedule = 'step'     # 'step': x decay_factor at decay_epochs; or 'cosine'
  config.decay_epochs = (41, 61, 81)
  config.decay_factor = 0.1
  config.cosine_steps = 0      # 'cosine' horizon in batch steps; 0: the whole run
  config.cosine_per = 'step'   # 'cosine' rate changes every 'step' or once an 'epoch'

  # Bookkeeping.
  config.seed = 0
  config.log_every_steps = 50
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 0  # 0: only at the end of each epoch
  config.keep_checkpoints = 3        # the latest ones; the best by top-1 is kept as well
  return config
