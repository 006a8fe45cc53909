"""`python -m cnl_jax.export`: the same as `cnl-jax export` (cnl_jax/cli/export.py)."""

from cnl_jax.cli import harness

if __name__ == '__main__':
  harness.main('export')
