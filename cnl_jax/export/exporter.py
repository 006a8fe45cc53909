"""One export on disk: the model file of a format and quantization, and its metadata JSON."""

from __future__ import annotations

import os

import numpy as np

from cnl_jax import lite
from cnl_jax.export import FORMATS, graph, metadata, onnx, tflite
from cnl_jax.export.source import ExportSource


def file_stem(source: ExportSource, quantize: str, batch_size: int) -> str:
  """'resnet50_5cnl_float32', 'mobilenet_v2_int8_b8': preset, numbers, batch size if not 1."""
  stem = f'{source.model}_{"float32" if quantize == "none" else quantize}'
  return stem if batch_size == 1 else f'{stem}_b{batch_size}'


def model_bytes(source: ExportSource, file_format: str, quantize: str = 'none',
                batch_size: int = 1, calibration: np.ndarray | None = None) -> bytes:
  """The model file's contents (see `export` for the arguments)."""
  if file_format not in FORMATS:
    raise ValueError(f'format must be one of {FORMATS}, got {file_format!r}.')
  size = source.preprocessing.image_size
  input_shape = (batch_size, size, size, 3)
  function = graph.inference_function(source.predict_fn, source.variables, input_shape)
  # ONNX's float16 converts the float32 graph; its int8 keeps LiteRT's calibrated ranges.
  tflite_quantize = 'none' if file_format == 'onnx' and quantize == 'float16' else quantize
  model = tflite.to_tflite(function, input_shape, tflite_quantize, calibration)
  if file_format == 'onnx':
    model = onnx.to_onnx(model, quantize)
  return model


def export(source: ExportSource, output_dir: str, file_format: str = 'tflite',
           quantize: str = 'none', batch_size: int = 1,
           calibration: np.ndarray | None = None) -> tuple[str, str]:
  """Writes `<output_dir>/<stem>.<format>` and its metadata `<stem>.<format>.json`; returns
  both paths.

  file_format: 'tflite' or 'onnx'. quantize: 'none', 'float16' or 'int8' (then
  `calibration` [count, size, size, 3] eval-transformed images). batch_size: the model's
  fixed batch dimension.
  """
  if batch_size < 1:
    raise ValueError(f'batch_size must be at least 1, got {batch_size}.')
  model = model_bytes(source, file_format, quantize, batch_size, calibration)
  os.makedirs(output_dir, exist_ok=True)
  stem = os.path.join(output_dir, file_stem(source, quantize, batch_size))
  model_path = f'{stem}.{file_format}'
  with open(model_path, 'wb') as file:
    file.write(model)
  json_path = lite.metadata_path(model_path)
  metadata.write_metadata(json_path, metadata.metadata(
      source, os.path.basename(model_path), file_format, quantize, batch_size))
  return model_path, json_path
