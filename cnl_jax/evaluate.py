"""`python -m cnl_jax.evaluate`: the same as `cnl-jax eval` (cnl_jax/cli/evaluate.py)."""

from cnl_jax.cli import harness

if __name__ == '__main__':
  harness.main('eval')
