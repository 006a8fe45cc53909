"""`python -m cnl_jax.visualize`: the same as `cnl-jax visualize` (cnl_jax/cli/visualize.py)."""

from cnl_jax.cli import harness

if __name__ == '__main__':
  harness.main('visualize')
