"""`python -m cnl_jax.cli COMMAND ...`: the same as `cnl-jax COMMAND ...`."""

from cnl_jax.cli import harness

if __name__ == '__main__':
  harness.main()
