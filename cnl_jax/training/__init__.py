"""Training: train state, optimizer and schedule, sharded steps, checkpoints, loops."""

from cnl_jax.training.config_checks import ConfigError, check_config
from cnl_jax.training.loop import NonFiniteLossError, evaluate, train_and_evaluate
from cnl_jax.training.methods import Classification, Method
from cnl_jax.training.schedule import create_learning_rate_fn
