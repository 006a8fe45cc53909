"""Input pipelines: the paper's datasets, any image folder, and a synthetic fine-grained set.

This is the only package that imports TensorFlow; it hides every GPU from TensorFlow first,
so that tf.data never takes accelerator memory from JAX.
"""

import tensorflow as tf

tf.config.set_visible_devices([], 'GPU')

from cnl_jax.data.config import Augmentation, augmentation  # noqa: E402
from cnl_jax.data.info import DatasetError, DatasetInfo, steps_per_epoch  # noqa: E402
from cnl_jax.data.pipeline import eval_batches, load_info, train_batches  # noqa: E402
from cnl_jax.data.samples import write_samples  # noqa: E402

__all__ = ['Augmentation', 'DatasetError', 'DatasetInfo', 'augmentation',
           'eval_batches', 'load_info', 'steps_per_epoch', 'train_batches', 'write_samples']
