"""Trains or evaluates a cnl_jax model: the same as `cnl-jax train` (cnl_jax/cli/train.py).

  python main.py --config configs/cub.py --workdir runs/cub
  python main.py --config configs/cub.py --workdir runs/cub --mode eval
  python main.py --config configs/demo.py --workdir runs/demo --config.batch_size=16
  python main.py --config configs/rmg_pmsi_demo.py --workdir runs/rmg_demo \
      --config.method.mosaic_mode=per_sample
"""

from cnl_jax.cli import harness

if __name__ == '__main__':
  harness.main('train')
