"""FGVC-Aircraft (100 variants), ResNet-50 + 5 CNL at 448 px: the released CNL recipe
(FouriYe/CNL-ICIP2020 @ a10a8c4, train_val.py).

The CNL paper did not train on FGVC-Aircraft, so the schedule is the released code's Dogs and
Cars one, not tuned or verified for this set.

python main.py --config configs/aircraft.py --workdir runs/aircraft \
    --config.data.manual_dir=/path/with/fgvc-aircraft-2013b.tar.gz
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'aircraft'
  # Released code, Dogs and Cars: x0.1 at 0-based epochs 61, 81, 101; unverified here.
  config.decay_epochs = (61, 81, 101)
  return config
