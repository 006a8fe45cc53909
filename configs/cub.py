"""CUB-200-2011, ResNet-50 + 5 CNL at 448 px: the released recipe
(FouriYe/CNL-ICIP2020, train_val.py).

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
