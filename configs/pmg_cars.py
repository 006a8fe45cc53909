"""Stanford Cars, PMG on ResNet-50 at 448 px: configs/pmg_cub.py's released recipe
(the released code has one recipe for every dataset; PRIS-CV/PMG-Progressive-Multi-
Granularity-Training @ db7a7d7, train.py).

python main.py --config configs/pmg_cars.py --workdir runs/pmg_cars \
    --config.data.manual_dir=/path/with/car_ims.tgz+cars_annos.mat
"""

from configs import pmg_cub


def get_config():
  config = pmg_cub.get_config()
  config.data.name = 'cars'
  return config
