"""CUB-200-2011, ResNet-50 + 5 CNL at 448 px: the released recipe
(FouriYe/CNL-ICIP2020 @ a10a8c4, train_val.py).

The paper reports 85.64% top-1 for this model (Table 2; plain ResNet-50 84.05%,
--config.model=resnet50) and 86.7% for ResNet-101 + 5 CNL (Table 3,
--config.model=resnet101_5cnl).

python main.py --config configs/cub.py --workdir runs/cub \
    --config.data.manual_dir=/path/with/CUB_200_2011.tgz
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'cub'
  # Released code, CUB: x0.1 at 0-based epochs 41, 61, 81 (the paper's text: 50, 70, 90).
  config.decay_epochs = (41, 61, 81)
  return config
