"""CUB-200-2011, RMG-PMSI on MobileNetV2 at 448 px: the released recipe
(cj-wade/Progressive-Multi-stage-Interactive-Training-in-Mobile-Network-for-FGVC @ 857ba00,
main.py and utils.py).

python main.py --config configs/rmg_pmsi_cub.py --workdir runs/rmg_pmsi_cub \
    --config.data.manual_dir=/path/with/CUB_200_2011.tgz

Every value is the released code's; its quirks are kept and marked "Released quirk", with
the field that changes each. The paper's text and tables could not be read, so no accuracy of
its is quoted. As released: the heads' new layers take PyTorch's default init, every BN
moves its running variance toward the unbiased batch variance (PyTorch's update), and the
last partial training batch is dropped (its DataLoader's drop_last=True).
"""

import ml_collections

from configs import cub

CUB_TRAIN_IMAGES = 5994


def get_config():
  config = cub.get_config()
  config.model = 'rmg_pmsi_mobilenetv2'
  # Released quirk: the trunk's stem conv has stride 1 (its comment says "for cifar-10"), so
  # the taps sit at 112, 56, 28 px (35.7 GMACs per image). stem_stride=2 is torchvision's
  # MobileNetV2 and the grid the released comments state, 56, 28, 14 (8.9 GMACs).
  config.model_overrides = ml_collections.ConfigDict({'stem_stride': 1})
  # torchvision's ImageNet MobileNetV2 (V1, mobilenet_v2-b0353104.pth), its classifier dropped.
  config.pretrained = 'imagenet'
  # Released quirk, the default method.mosaic_mode='released': one mosaic arrangement for
  # the whole batch, from a swap procedure that reaches 6 of the 24 quadrant orders.
  # 'per_sample' draws one per image.
  config.method.mosaic_mode = 'released'

  # Train: resize to 512x512 (aspect not kept), random 448 crop (no padding), flip.
  # Test: resize to 512x512, center 448 crop. ImageNet mean and std.
  config.data.train_crop = 'random'
  config.data.resize_mode = 'square'
  config.eval_resize = 512
  config.image_size = 448

  # Released quirk: batch 32 through DataParallel on 2 GPUs, so every BN saw 16 images; here
  # BN sees the global batch of 32.
  config.batch_size = 32
  config.eval_batch_size = 32
  config.num_epochs = 150
  # SGD, momentum 0.9, weight decay 5e-4 added to every gradient (BN and biases included),
  # in two groups: new layers at 3e-3, the backbone at 0.1 of it (3e-4).
  # Released quirk: each of the four updates steps every head, so the heads outside that
  # update's loss still move by their momentum and weight decay (before PyTorch 2.0,
  # zero_grad leaves zero gradients, and SGD steps them); kept, with no field.
  config.learning_rate = 3e-3
  config.method.backbone_learning_rate_factor = 0.1
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  # Epochs 0-4: the backbone's optimizer is not stepped (its BN statistics still move).
  config.method.freeze_backbone_epochs = 5
  # Released quirk: CosineAnnealingLR stepped every batch with T_max = 150 x the number of
  # training images (899,100), while only 150 x 187 = 28,050 batches run: the rate ends at
  # 0.9976 of its start, effectively constant. cosine_steps = 0 anneals over the real run.
  config.schedule = 'cosine'
  config.cosine_steps = config.num_epochs * CUB_TRAIN_IMAGES
  config.warmup_epochs = 0
  # Released quirk: the checkpoint kept is the best 'mix' top-1 on the test set (no
  # validation split), as this loop's best checkpoint is.
  return config
