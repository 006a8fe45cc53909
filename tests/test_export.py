"""Export to LiteRT and ONNX: the files compute the run's logits, int8 keeps its top-1, the
JAX-free predictor agrees with cnl_jax.predict, and bad requests are one line."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnl_jax import create_model, data, export as export_package, lite, training
from cnl_jax.cli.harness import run_command
from cnl_jax.data.sources import prepared_builder
from cnl_jax.export import exporter, onnx, source, tflite
from conftest import randomize
from configs import demo
from helpers.runs import small_config

# Randomly initialised presets at small size: (model, overrides, image size).
PRESETS = {
    'resnet18_2cnl': (dict(width=16, cnl_inner_features=32), 32),
    'resnet50_5nl': (dict(width=8), 32),
    'mobilenet_v2': (dict(width_multiplier=0.25), 32),
    'rmg_pmsi_mobilenetv2': (dict(width_multiplier=0.25, smooth_inner_features=16,
                                  features=32, classifier_features=16), 32),
    'pmg_resnet50': (dict(depth=18, width=8, feature_size=16), 64),
    'tasn_resnet50': (dict(sample_size=32, attention_width=4, part_depth=18, part_width=4), 40),
    'vit_base_patch16_cnl': (dict(width=32, depth=2, num_heads=2, patch_size=8,
                                  cnl_responses=('block0',), cnl_inner_features=8), 32),
    'swin_tiny_patch4_window7': (dict(width=8, depths=(2, 2), num_heads=(1, 2), window=4,
                                      patch_size=2), 32),
    # 3 x 3 overlapping patches at 40 px; the part selection exports as max and gathers.
    'transfg_vit_base_patch16': (dict(width=32, depth=3, num_heads=2), 40),
}
NUM_CLASSES = 5
FLOAT32_TOLERANCE = 1e-4  # max |export - JAX| / max |JAX|
FLOAT16_TOLERANCE = 1e-2
INT8_TOP1_AGREEMENT = 0.97
INT8_SIZE_RATIO = 3.5  # float32 file size / int8 file size, at least


def relative_error(logits, reference):
  return float(np.abs(logits - reference).max() / np.abs(reference).max())


def run_file(model_bytes, extension, tmp_path, metadata):
  """Writes an export with its metadata and opens it with the JAX-free predictor."""
  path = tmp_path / f'model.{extension}'
  path.write_bytes(model_bytes)
  (tmp_path / f'model.{extension}.json').write_text(json.dumps(metadata))
  return lite.ExportedModel(str(path), threads=2)


def preset_source(name):
  overrides, size = PRESETS[name]
  config = demo.get_config()
  config.model, config.image_size, config.eval_resize = name, size, size + size // 8
  config.model_overrides = overrides
  model = create_model(name, NUM_CLASSES, **overrides)
  # Shapes only (nothing compiled), then every parameter and BN statistic drawn at random.
  variables = randomize(jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)), train=False)))
  return source.source_from_config(config, [f'class {i}' for i in range(NUM_CLASSES)],
                                   variables)


@pytest.fixture(scope='module', params=sorted(PRESETS))
def preset(request):
  """(source, float32 LiteRT bytes, test images, JAX logits) of one random preset."""
  export_source = preset_source(request.param)
  size = export_source.preprocessing.image_size
  images = np.random.RandomState(0).normal(size=(3, size, size, 3)).astype(np.float32)
  # Eager (op by op): compiling the whole model would take longer than running it.
  reference = np.asarray(export_source.predict_fn(export_source.variables, images))
  model = exporter.model_bytes(export_source, 'tflite', batch_size=3)
  return export_source, model, images, reference


def metadata_of(export_source, batch_size):
  from cnl_jax.export import metadata  # pylint: disable=import-outside-toplevel
  return metadata.metadata(export_source, 'model', 'tflite', 'none', batch_size)


def test_float_exports_compute_the_jax_logits(preset, tmp_path):
  export_source, float32, images, reference = preset
  fields = metadata_of(export_source, len(images))
  exports = {
      ('tflite', 'none'): float32,
      ('tflite', 'float16'): exporter.model_bytes(export_source, 'tflite', 'float16',
                                                  len(images)),
      ('onnx', 'none'): onnx.to_onnx(float32),
      ('onnx', 'float16'): onnx.to_onnx(float32, 'float16'),
  }
  for (file_format, quantize), model in exports.items():
    folder = tmp_path / f'{file_format}_{quantize}'
    folder.mkdir()
    logits = run_file(model, file_format, folder, fields).logits(images)
    tolerance = FLOAT32_TOLERANCE if quantize == 'none' else FLOAT16_TOLERANCE
    assert relative_error(logits, reference) < tolerance, (file_format, quantize)


def test_mobilenet_depthwise_convs_export_as_depthwise_kernels():
  # The CPU trace writes them as shifted multiply-adds, which LiteRT runs 6x slower.
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  interpreter = Interpreter(model_content=exporter.model_bytes(preset_source('mobilenet_v2'),
                                                               'tflite'))
  ops = [op['op_name'] for op in interpreter._get_ops_details()]  # pylint: disable=protected-access
  assert ops.count('DEPTHWISE_CONV_2D') == 17
  assert 'SLICE' not in ops


def test_an_op_without_a_lowering_is_named_in_one_line():
  # TFLite has no sort: the sampler writes its sorts and searches as comparisons instead.
  with pytest.raises(tflite.ConversionError, match='the TFLite converter failed: .*sort'):
    tflite.to_tflite(lambda x: jnp.sort(x, axis=-1), (1, 8))


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A workdir trained for two epochs of the small demo config, with 100 test images."""
  root = tmp_path_factory.mktemp('export')
  config = small_config(root / 'cache', num_epochs=2, learning_rate=0.01,
                        warmup_start_lr=0.01)
  config.data.synthetic_test_per_class = 25
  training.train_and_evaluate(config, str(root / 'run'))
  return root / 'run'


@pytest.fixture(scope='module')
def test_split(run_dir):
  """(images, JAX logits) of the demo run's whole test split."""
  run = source.source_from_run(str(run_dir))
  config = run.config
  batches = list(data.eval_batches(config.data, batch_size=50, image_size=config.image_size,
                                   eval_resize=config.eval_resize))
  images = np.concatenate([batch['image'][batch['mask']] for batch in batches])
  return images, np.asarray(jax.jit(run.predict_fn)(run.variables, images))


def export(run_dir, capfd, *flags):
  """`cnl-jax export` on the demo run; the model path it prints. The converters' notices and
  warnings go to the log beside the model, not to the terminal."""
  capfd.readouterr()  # what came before (a runtime's notices) is not the export's
  assert run_command('export', ['--workdir', str(run_dir), *flags]) == 0
  out, err = capfd.readouterr()
  model, json_path, log = (line.split()[0] for line in out.splitlines())
  assert json_path == f'{model}.json' and log == f'{model}.log' and os.path.getsize(log) > 0
  for chatter in ('UserWarning', 'fully_quantize', 'deprecated', 'XNNPACK',
                  'did not fully read'):
    assert chatter not in err, err
  return model


def test_demo_run_exports_every_format(run_dir, test_split, capfd):
  images, reference = test_split
  sizes = {}
  for file_format in export_package.FORMATS:
    for quantize in export_package.QUANTIZATIONS:
      path = export(run_dir, capfd, '--format', file_format, '--quantize', quantize,
                    '--calibration-count', '64')
      assert path == os.path.join(run_dir, 'export', exporter.file_stem(
          source.source_from_run(str(run_dir)), quantize, 1) + f'.{file_format}')
      sizes[file_format, quantize] = os.path.getsize(path)
      logits = lite.ExportedModel(path, threads=2).logits(images)
      if quantize == 'int8':
        agreement = np.mean(logits.argmax(-1) == reference.argmax(-1))
        assert agreement >= INT8_TOP1_AGREEMENT, (file_format, agreement)
      else:
        tolerance = FLOAT32_TOLERANCE if quantize == 'none' else FLOAT16_TOLERANCE
        assert relative_error(logits, reference) < tolerance, (file_format, quantize)
  assert sizes['tflite', 'none'] / sizes['tflite', 'int8'] >= INT8_SIZE_RATIO


def test_metadata_makes_the_file_self_sufficient(run_dir, capfd):
  path = export(run_dir, capfd, '--batch-size', '4')
  fields = lite.load_metadata(path)
  run = source.source_from_run(str(run_dir))
  assert path.endswith('_float32_b4.tflite') and fields['model_file'] == os.path.basename(path)
  assert fields['class_names'] == list(run.class_names)
  assert fields['input']['shape'] == [4, 32, 32, 3] and fields['head'] == 'logits'
  assert fields['preprocessing'] == {
      'image_size': 32, 'eval_resize': 36, 'resize_mode': 'short_side',
      'mean_rgb': list(data.config.IMAGENET_MEAN_RGB),
      'std_rgb': list(data.config.IMAGENET_STD_RGB),
      'pixels': fields['preprocessing']['pixels']}


@pytest.fixture(scope='module')
def image_files(run_dir, tmp_path_factory):
  """The first test images as the files they were stored as, and one unreadable file."""
  folder = tmp_path_factory.mktemp('images')
  config = source.source_from_run(str(run_dir)).config
  examples = prepared_builder(config.data).as_dataset(
      split=config.data.eval_split, decoders={'image': tfds.decode.SkipDecoding()},
      shuffle_files=False)
  for index, example in enumerate(examples.take(6)):
    (folder / f'{index}.jpg').write_bytes(example['image'].numpy())
  (folder / 'broken.jpg').write_text('not an image')
  return folder


def test_lite_predictor_gives_the_top_5_of_cnl_jax_predict(run_dir, image_files, capfd):
  for file_format in export_package.FORMATS:
    model = export(run_dir, capfd, '--format', file_format)
    assert lite.main(['predict', model, str(image_files), '--json']) == 0
    exported = json.loads(capfd.readouterr().out)
    assert run_command('predict', ['--workdir', str(run_dir), str(image_files), '--json']) == 0
    expected = json.loads(capfd.readouterr().out)
    assert [[entry['class'] for entry in prediction['top_k']]
            for prediction in exported['predictions']] == [
                [entry['class'] for entry in prediction['top_k']]
                for prediction in expected['predictions']]
    assert [error['file'] for error in exported['errors']] == [str(image_files / 'broken.jpg')]


def assert_one_line_error(capsys, status, expected):
  error = capsys.readouterr().err
  assert status != 0 and error.count('\n') == 1 and expected in error, error


def test_bad_requests_are_one_line(run_dir, tmp_path, capsys):
  status = run_command('export', ['--workdir', str(run_dir), '--format', 'coreml'])
  assert_one_line_error(capsys, status, "invalid choice: 'coreml'")
  assert status == 2

  untrained = tmp_path / 'untrained'
  untrained.mkdir()
  shutil.copy(run_dir / 'config.json', untrained / 'config.json')
  status = run_command('export', ['--workdir', str(untrained)])
  assert_one_line_error(capsys, status, 'holds no checkpoint')

  empty = tmp_path / 'no_images'
  empty.mkdir()
  status = run_command('export', ['--workdir', str(run_dir), '--quantize', 'int8',
                                  '--calibration-images', str(empty)])
  assert_one_line_error(capsys, status, 'int8 needs at least 1 calibration')
