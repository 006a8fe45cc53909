"""An exported TransFG (part selection included: a max, comparisons and gathers) gives the
JAX logits in LiteRT and in onnxruntime, on the released code's fixture weights."""

import os

import jax
import numpy as np
import pytest

from cnl_jax.export.graph import inference_function
from cnl_jax.export.onnx import to_onnx
from cnl_jax.export.tflite import to_tflite
from cnl_jax.lite import RUNTIMES
from test_transfg_released import reference, released_model, released_params  # noqa: F401


@pytest.fixture(scope='module')
def exported(reference, tmp_path_factory):  # pylint: disable=redefined-outer-name
  config, state, _, images, _ = reference
  model = released_model(config)
  variables = {'params': released_params(model, state, images)}
  expected = np.asarray(jax.jit(model.apply)(variables, images)[0])
  function = inference_function(lambda v, x: model.apply(v, x)[0], variables, images.shape)
  directory = tmp_path_factory.mktemp('transfg_export')
  tflite = to_tflite(function, images.shape)
  files = {'.tflite': tflite, '.onnx': to_onnx(tflite)}
  for extension, contents in files.items():
    with open(directory / f'model{extension}', 'wb') as file:
      file.write(contents)
  return directory, images, expected


@pytest.mark.parametrize('extension', ['.tflite', '.onnx'])
def test_exported_logits_equal_jax(exported, extension):
  directory, images, expected = exported
  run = RUNTIMES[extension](os.fspath(directory / f'model{extension}'), 1)
  np.testing.assert_allclose(run(images), expected, atol=1e-4 * np.abs(expected).max())
