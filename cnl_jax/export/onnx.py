"""LiteRT -> ONNX: tf2onnx translates the .tflite (float32 or int8, whose quantized tensors
become QuantizeLinear / DequantizeLinear pairs); float16 is onnxruntime's float16 converter on
the float32 model.

jax2onnx would translate the JAX function directly, but every current release pins
orbax-checkpoint below the version this project trains with; the LiteRT file is already the
traced, checked graph.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import onnx
import tf2onnx
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel

from cnl_jax.export.tflite import ConversionError, converter_reason

# Supported by every onnxruntime since 1.12 (and by current mobile and web runtimes).
OPSET = 17


def _selects_as_where(graph: Any, ops: list[Any]) -> list[Any]:
  """A tf2onnx rewriter: every select stays an ONNX Where. tf2onnx otherwise writes a float
  select as c·x + (1 - c)·y, which is NaN wherever the branch not taken is infinite: exact
  GELU's erfc takes both branches of its expansion, and one overflows near 0."""
  del graph
  for op in ops:
    if op.type in ('Select', 'SelectV2'):
      op.set_attr('handles_nan', True)
  return ops


def to_onnx(tflite_model: bytes, quantize: str = 'none') -> bytes:
  """The ONNX model of `tflite_model`, which must be the float32 export for 'none' and
  'float16' and the int8 export for 'int8'. Input and output stay float32."""
  with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, 'model.tflite')
    with open(path, 'wb') as file:
      file.write(tflite_model)
    try:
      model, _ = tf2onnx.convert.from_tflite(path, opset=OPSET,
                                             custom_rewriter=[_selects_as_where])
    except Exception as error:  # tf2onnx raises bare exceptions per unsupported op
      raise ConversionError(f'tf2onnx failed: {converter_reason(error)}') from error
  if quantize == 'float16':
    model = convert_float_to_float16(model, keep_io_types=True)
    OnnxModel.graph_topological_sort(model.graph)  # the converter appends the input casts
  onnx.checker.check_model(model)
  return model.SerializeToString()
