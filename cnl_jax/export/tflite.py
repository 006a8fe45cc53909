"""JAX -> LiteRT (.tflite): jax2tf to a TensorFlow function, then TensorFlow's TFLite
converter, with its float16 and full-integer (int8) post-training quantization."""

from __future__ import annotations

import re
from collections.abc import Callable

import jax
import numpy as np
import tensorflow as tf
from jax.experimental import jax2tf

from cnl_jax.export import QUANTIZATIONS

INPUT_NAME = 'images'


class ConversionError(RuntimeError):
  """A converter could not translate an op of the model; the message names it."""


def converter_reason(error: Exception) -> str:
  """The first 'error:' line of a converter's (MLIR) message: where and which op."""
  for line in str(error).splitlines():
    if 'error:' in line:
      return re.sub(r'^loc\(.*?\):\s*', '', line.strip())[-300:]
  return str(error).strip().splitlines()[-1][-300:]


def to_tflite(function: Callable[[jax.Array], jax.Array], input_shape: tuple[int, ...],
              quantize: str = 'none', calibration: np.ndarray | None = None) -> bytes:
  """The flatbuffer of `function` (images -> logits) at the fixed `input_shape`.

  quantize: 'none' (float32), 'float16' (weights in half precision, computed in float32),
  'int8' (weights and activations int8, ranges from `calibration` [count, ...] images, in
  batches of the input's batch size; input and output stay float32).
  """
  if quantize not in QUANTIZATIONS:
    raise ValueError(f'quantize must be one of {QUANTIZATIONS}, got {quantize!r}.')
  tf_function = tf.function(jax2tf.convert(function, with_gradient=False), autograph=False,
                            input_signature=[tf.TensorSpec(input_shape, tf.float32,
                                                           name=INPUT_NAME)])
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [tf_function.get_concrete_function()], tf_function)
  if quantize == 'float16':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif quantize == 'int8':
    batch_size = input_shape[0]
    if calibration is None or len(calibration) < batch_size:
      raise ValueError(f'int8 needs at least one batch ({batch_size}) of calibration images.')
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [calibration[start:start + batch_size].astype(np.float32)]
        for start in range(0, len(calibration) - batch_size + 1, batch_size))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  try:
    return converter.convert()
  except Exception as error:  # the converter raises ConverterError and a few others
    raise ConversionError(f'the TFLite converter failed: {converter_reason(error)}') from error
