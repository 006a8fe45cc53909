"""CUB-200-2011, PMG on ResNet-50 at 448 px: the released recipe
(PRIS-CV/PMG-Progressive-Multi-Granularity-Training @ db7a7d7, train.py and utils.py).

python main.py --config configs/pmg_cub.py --workdir runs/pmg_cub \
    --config.data.manual_dir=/path/with/CUB_200_2011.tgz

Every value is the released code's; where this system differs, the comment says so.
"""

import ml_collections

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'pmg_resnet50'
  # PMG's method: jigsaws 8, 4, 2, then the clean image.
  config.model_overrides = ml_collections.ConfigDict()  # none of the CNL recipe's
  # torchvision's ImageNet ResNet-50 (V1) as the trunk, its classifier dropped.
  config.pretrained = 'imagenet'
  config.data.name = 'cub'

  # Train: resize to 550 x 550 (aspect not kept), pad 8 black pixels, random 448 crop,
  # flip. Test: resize to 550 x 550, centre 448 crop. Mean and std 0.5 per channel.
  config.data.train_crop = 'random'
  config.data.resize_mode = 'square'
  config.data.crop_padding = 8
  config.data.mean_rgb = (0.5, 0.5, 0.5)
  config.data.std_rgb = (0.5, 0.5, 0.5)
  config.image_size = 448
  config.eval_resize = 550

  # SGD, momentum 0.9, weight decay 5e-4 added to every gradient (BN and biases included),
  # batch 16 (the last partial batch skipped), 200 epochs; the heads at 0.002, the trunk at
  # 0.1 of it (0.0002). Released: DataParallel on 2 GPUs, so each BN saw 8 images; here BN
  # sees the global batch of 16.
  config.batch_size = 16
  config.eval_batch_size = 16
  config.num_epochs = 200
  config.learning_rate = 0.002
  config.method.backbone_learning_rate_factor = 0.1
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  # lr / 2 x (cos(pi x epoch / 200) + 1), set once per epoch, no warmup.
  config.schedule = 'cosine'
  config.cosine_steps = 0
  config.cosine_per = 'epoch'
  config.warmup_epochs = 0
  # Released: tested at epochs 0-4 and from 80 on, keeping the best `combined` top-1 on the
  # test set (no validation split); here every epoch is evaluated and the best checkpoint is
  # also chosen by the reported head, 'combined'.
  return config
