"""Training: train state, optimizer and schedule, sharded steps, checkpoints, loops. Generic:
what differs between methods comes from `cnl_jax.methods`."""

from cnl_jax.errors import ConfigError
from cnl_jax.training.config_checks import check_config
from cnl_jax.training.loop import (Evaluation, NonFiniteLossError, evaluate, evaluate_checkpoint,
                                   train_and_evaluate)
from cnl_jax.training.schedule import create_learning_rate_fn
