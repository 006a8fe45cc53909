"""FGVC-Aircraft (100 variants), PMG on ResNet-50 at 448 px: configs/pmg_cub.py's released
recipe (the released code has one recipe for every dataset; PRIS-CV/PMG-Progressive-Multi-
Granularity-Training @ db7a7d7, train.py).

python main.py --config configs/pmg_aircraft.py --workdir runs/pmg_aircraft \
    --config.data.manual_dir=/path/with/fgvc-aircraft-2013b.tar.gz
"""

from configs import pmg_cub


def get_config():
  config = pmg_cub.get_config()
  config.data.name = 'aircraft'
  return config
