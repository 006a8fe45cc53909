"""CUB-200-2011, Swin-B (window 7) from Microsoft's ImageNet-22k weights at 448 px, with
PIM's released optimiser and schedule (chou141253/FGVC-PIM @ 348edd9,
configs/CUB200_SwinT.yaml:7-17, main.py:83, utils/lr_schedule.py:4-20, data/dataset.py:60-71).

python main.py --config configs/swin_cub.py --workdir runs/swin_cub \
    --config.data.manual_dir=/path/with/CUB_200_2011.tgz

CNL across Swin's stages: --config.model=swin_base_patch4_window7_cnl. PIM reports 92.77%
top-1 with Swin-L (window 12, 384 px) and its selection and fusion heads; this config trains
the plain Swin-B, with no run reported yet. Where this system differs, the comment says so.
"""

import ml_collections

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'swin_base_patch4_window7'
  config.model_overrides = ml_collections.ConfigDict()  # drop path 0.1, timm's default
  # timm/swin_base_patch4_window7_224.ms_in22k; its tables carry over to 448 unchanged.
  config.pretrained = 'imagenet21k'
  config.data.name = 'cub'

  # PIM: resize to 510 x 510, random 384 crop, flip, (Gaussian blur, sharpness p = 0.1, not
  # here); test: resize 510, centre 384. Here the same ratio at 448: 595 -> 448. ImageNet's
  # mean and std, Swin's own.
  config.data.train_crop = 'random'
  config.data.resize_mode = 'square'
  config.image_size = 448
  config.eval_resize = 595

  # SGD, momentum 0.9, Nesterov, weight decay 5e-4 added to every gradient, learning rate
  # 5e-4, batches of 16 with gradients accumulated over 2 (32 an update), 50 epochs; linear
  # warmup over 800 batches of 16 (2 epochs of updates here), then a cosine per step. PIM
  # steps its schedule per mini-batch, not per update. Released: AMP (float16).
  config.batch_size = 32
  config.grad_accum_steps = 2
  config.eval_batch_size = 32
  config.optimizer = 'sgd'
  config.learning_rate = 5e-4
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 5e-4
  config.num_epochs = 50
  config.warmup_epochs = 2
  config.warmup_per = 'step'
  config.warmup_start_lr = 1e-7
  config.schedule = 'cosine'
  config.cosine_steps = 0
  config.cosine_per = 'step'
  return config
