"""Stanford Cars, ResNet-50 + 5 CNL at 448 px: the released recipe
(FouriYe/CNL-ICIP2020 @ a10a8c4, train_val.py).

The paper reports only ResNet-101 + 5 CNL on Cars: 93.1% top-1 (Table 3,
--config.model=resnet101_5cnl).

python main.py --config configs/cars.py --workdir runs/cars \
    --config.data.manual_dir=/path/with/car_ims.tgz+cars_annos.mat
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'cars'
  # Released code, Dogs and Cars: x0.1 at 0-based epochs 61, 81, 101 (the paper's text:
  # 50, 70, 90).
  config.decay_epochs = (61, 81, 101)
  return config
