"""`python -m cnl_jax.predict`: the same as `cnl-jax predict` (cnl_jax/cli/predict.py)."""

from cnl_jax.cli import harness

if __name__ == '__main__':
  harness.main('predict')
