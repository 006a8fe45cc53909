"""The inspection commands (predict, eval, visualize) on one short demo run."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from cnl_jax import create_model, data, training
from cnl_jax.cli import evaluate, visualize
from cnl_jax.cli.harness import run_command
from cnl_jax.cli.parsers import UsageError
from cnl_jax.data.sources import prepared_builder
from cnl_jax.methods import resolved_config
from cnl_jax.trained_run import TrainedRun, load_run
from cnl_jax.training.run_config import load_run_config
from helpers.runs import small_config

NUM_FILES = 3
# One epoch of 8 steps, at a learning rate low enough that predictions are not all alike.
_RUN_CHANGES = {'num_epochs': 1, 'learning_rate': 0.002, 'warmup_start_lr': 0.002}


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A workdir trained for one epoch (8 steps) of the small demo config."""
  root = tmp_path_factory.mktemp('tools')
  config = small_config(root / 'cache', **_RUN_CHANGES)
  print(training.train_and_evaluate(config, str(root / 'run')))
  return root / 'run'


@pytest.fixture(scope='module')
def run(run_dir):
  return load_run(str(run_dir))


@pytest.fixture(scope='module')
def image_files(run, tmp_path_factory):
  """The first test images as files (encoded bytes as stored) and one unreadable file."""
  folder = tmp_path_factory.mktemp('images')
  examples = prepared_builder(run.config.data).as_dataset(
      split=run.config.data.eval_split, decoders={'image': tfds.decode.SkipDecoding()},
      shuffle_files=False)
  for index, example in enumerate(examples.take(NUM_FILES)):
    (folder / f'{index}.jpg').write_bytes(example['image'].numpy())
  (folder / 'broken.jpg').write_text('not an image')
  return folder


def test_workdir_keeps_its_config(run_dir):
  """The config trained, with every option of its method in effect."""
  config = load_run_config(str(run_dir))
  expected = resolved_config(small_config(run_dir.parent / 'cache', **_RUN_CHANGES))
  assert config.to_dict() == expected.to_dict() and 'label_smoothing' in config.method


@pytest.mark.parametrize('command, arguments', [('predict', ['x.jpg']), ('eval', []),
                                                ('visualize', ['--image', 'x.jpg'])])
def test_workdir_without_config_is_a_clear_error(command, arguments, tmp_path, capsys):
  assert run_command(command, ['--workdir', str(tmp_path), *arguments]) == 1
  error = capsys.readouterr().err
  assert error.startswith('error: ') and error.count('\n') == 1
  assert 'config.json does not exist' in error


def test_predict_agrees_with_the_eval_step(run, run_dir, image_files, capsys):
  num_classes = len(run.class_names)
  # The folder and one of its files again: each file is predicted once.
  status = run_command('predict', ['--workdir', str(run_dir), str(image_files),
                                   str(image_files / '0.jpg'), '--json',
                                   '--top-k', str(num_classes)])
  out = capsys.readouterr().out
  assert status == 0
  result = json.loads(out)
  assert [os.path.basename(p['file']) for p in result['predictions']] == [
      f'{index}.jpg' for index in range(NUM_FILES)]
  assert [os.path.basename(e['file']) for e in result['errors']] == ['broken.jpg']
  assert 'broken.jpg' in result['errors'][0]['error']

  config = run.config
  batch = next(data.eval_batches(config.data, batch_size=config.eval_batch_size,
                                 image_size=config.image_size,
                                 eval_resize=config.eval_resize))
  logits = run.logits(batch['image'][:NUM_FILES])
  expected = np.asarray(jax.nn.softmax(logits))
  for prediction, probabilities in zip(result['predictions'], expected):
    labels = [entry['label'] for entry in prediction['top_k']]
    assert labels[0] == int(np.argmax(probabilities))
    assert sorted(labels) == list(range(num_classes))
    assert [run.class_names[label] for label in labels] == [
        entry['class'] for entry in prediction['top_k']]
    np.testing.assert_allclose([entry['probability'] for entry in prediction['top_k']],
                               probabilities[labels], atol=1e-5)


def test_predict_reports_unreadable_files_and_fails_when_none_is_read(run_dir, image_files,
                                                                      capsys):
  status = run_command('predict', ['--workdir', str(run_dir), str(image_files / 'broken.jpg'),
                                   str(image_files / 'missing.jpg')])
  captured = capsys.readouterr()
  assert status == 1
  assert captured.out == ''
  assert 'broken.jpg' in captured.err and 'missing.jpg' in captured.err


def test_evaluate_reports_the_last_training_eval(run, run_dir, tmp_path, capsys):
  output = tmp_path / 'report'
  assert run_command('eval', ['--workdir', str(run_dir), '--output', str(output)]) == 0
  assert 'top-1' in capsys.readouterr().out
  metrics = json.loads((output / 'metrics.json').read_text())
  # The training loop evaluated the checkpoint it saved last, the one the command reads.
  with open(run_dir / 'metrics.jsonl', encoding='utf-8') as file:
    expected = [line for line in map(json.loads, file) if line['split'] == 'eval'][-1]
  assert metrics['count'] == expected['count']
  assert metrics['top1'] == pytest.approx(expected['top1'])
  assert metrics['top5'] == pytest.approx(expected['top5'])

  num_classes = len(run.class_names)
  rows = (output / 'per_class_accuracy.csv').read_text().splitlines()[1:]
  examples = [int(row.split(',')[-3]) for row in rows]
  correct = [int(row.split(',')[-2]) for row in rows]
  assert len(rows) == num_classes and sum(examples) == metrics['count']
  assert examples == [run.config.data.synthetic_test_per_class] * num_classes
  assert sum(correct) == round(metrics['top1'] * metrics['count'])
  pairs = (output / 'confused_pairs.csv').read_text().splitlines()[1:]
  assert sum(int(row.split(',')[-1]) for row in pairs) == metrics['count'] - sum(correct)
  with Image.open(output / 'confusion_matrix.png') as image:
    image.verify()
  axis, *_ = evaluate.confusion_matrix_figure(run.config, run.class_names,
                                              np.eye(num_classes, dtype=int), metrics).axes
  assert [label.get_text() for label in axis.get_yticklabels()] == list(run.class_names)
  assert (axis.get_xlabel(), axis.get_ylabel()) == ('predicted class', 'true class')
  assert axis.get_title() == (f'synthetic, test split: top-1 {metrics["top1"]:.1%} of '
                              f'{metrics["count"]} images')


def test_confused_pairs_are_the_off_diagonal_counts_largest_first():
  matrix = np.array([[1, 1, 0], [0, 1, 0], [2, 1, 0]])
  assert evaluate.confused_pairs(matrix) == [(2, 0, 2), (0, 1, 1), (2, 1, 1)]


def _assert_pngs(paths):
  """Valid PNGs, each a figure larger than its tiles (titled, labelled, with a colour bar)."""
  for path in paths:
    with Image.open(path) as image:
      image.verify()
    with Image.open(path) as image:
      assert image.format == 'PNG' and image.width > visualize.MIN_DISPLAY_SIZE


def test_visualize_cnl(run_dir, image_files, tmp_path, capsys):
  output = tmp_path / 'attention'
  assert run_command('visualize', ['--workdir', str(run_dir), '--image',
                                   str(image_files / '0.jpg'), '--query', '3,30', '--query',
                                   '16,16', '--output', str(output)]) == 0
  paths = capsys.readouterr().out.split()
  assert sorted(os.path.basename(path) for path in paths) == [
      'cam_classifier.png', 'cams.png', 'cnl_response_res3_1_q16_16.png',
      'cnl_response_res3_1_q3_30.png', 'cnl_response_res4_1_q16_16.png',
      'cnl_response_res4_1_q3_30.png', 'grid.png']
  _assert_pngs(paths)
  assert run_command('visualize', ['--workdir', str(run_dir), '--image',
                                   str(image_files / 'broken.jpg')]) == 1
  assert 'broken.jpg: not a readable image' in capsys.readouterr().err
  assert run_command('visualize', ['--workdir', str(run_dir), '--image',
                                   str(image_files / '0.jpg'), '--query', '99,0']) == 2
  assert 'outside the 32 x 32 px input' in capsys.readouterr().err


@pytest.fixture(scope='module')
def nl_run(run):
  """`run`'s config and classes with the NL model instead, at its initial variables."""
  config = run.config.copy_and_resolve_references()
  config.model = 'resnet18_2nl'
  model = create_model(config.model, len(run.class_names), **config.model_overrides)
  variables = jax.jit(lambda rng: model.init(
      rng, jnp.zeros((1, config.image_size, config.image_size, 3)), train=False))(
          jax.random.key(0))
  return TrainedRun(config, run.class_names, variables)


def test_visualize_nl_model(nl_run, image_files, tmp_path):
  """NL models show each block's self-attention; the default queries are used."""
  queries = visualize.default_queries(nl_run.config.image_size)
  paths = visualize.visualize(nl_run, str(image_files / '1.jpg'), queries, str(tmp_path))
  names = {os.path.basename(path).split('_q')[0] for path in paths[:-1]}
  assert names == {'nl_block_after_res3_1', 'nl_block_after_res4_1'}
  _assert_pngs(paths)


def test_visualize_plain_model_draws_its_grad_cam_alone(nl_run, image_files, tmp_path):
  """A model without CNL, NL or panels still has Grad-CAM to show; a query is a usage
  error."""
  config = nl_run.config.copy_and_resolve_references()
  config.model = 'resnet18'
  model = create_model(config.model, len(nl_run.class_names), **config.model_overrides)
  variables = model.init(jax.random.key(0), jnp.zeros((1, config.image_size,
                                                       config.image_size, 3)))
  plain = TrainedRun(config, nl_run.class_names, variables)
  image = str(image_files / '1.jpg')
  paths = visualize.write_figures(plain, image, None, str(tmp_path))
  assert [os.path.basename(path) for path in paths] == ['cam_classifier.png', 'cams.png']
  _assert_pngs(paths)
  with pytest.raises(UsageError, match='--query does not apply'):
    visualize.write_figures(plain, image, [(3, 3)], str(tmp_path))


def test_grids_head_their_columns_and_name_the_predicted_class(run, nl_run, image_files):
  """grid.png: the input, then each response layer (CNL) or NL block, a row per query,
  titled with the predicted class; each map's own file is headed with the same layer name,
  its query and the prediction, with the colour scale; cams.png: the input, then the
  classifier's Grad-CAM."""
  image = run.read_eval_image(str(image_files / '0.jpg'))
  predicted = run.class_names[int(np.argmax(run.logits(image[None])[0]))]
  grids = visualize.attention_figures(run, image, [(3, 30), (16, 16)])
  grid = grids['grid']
  assert grid.column_titles == ('input', 'CNL response res3_1', 'CNL response res4_1')
  assert [label for label, _ in grid.rows] == ['query (3, 30)', 'query (16, 16)']
  assert grid.title.startswith(f'predicted: {predicted} (') and grid.colour_bar
  one = grids['cnl_response_res4_1_q16_16']
  assert one.column_titles == ('CNL response res4_1',) and one.rows[0][0] == 'query (16, 16)'
  assert (one.title, one.colour_bar) == (grid.title, grid.colour_bar)
  nl_grid = visualize.attention_figures(nl_run, image, [(3, 30)])['grid']
  assert nl_grid.column_titles == ('input', 'NL block after res3_1', 'NL block after res4_1')
  grids = visualize.cam_figures(run, image)
  assert list(grids) == ['cam_classifier', 'cams']
  assert grids['cams'].column_titles[0] == 'input'
  assert grids['cams'].column_titles[1].startswith(f'classifier: {predicted} (')
  (_, (tile,)), = grids['cam_classifier'].rows
  assert tile.shape == (visualize.MIN_DISPLAY_SIZE,) * 2 + (3,)


def test_attention_rows_are_distributions(run, nl_run):
  images = np.random.RandomState(0).normal(
      size=(2, run.config.image_size, run.config.image_size, 3)).astype(np.float32)
  for attention_run in (run, nl_run):
    maps = attention_run.attention_maps(images)
    assert len(maps) == 2
    for weights in maps.values():
      assert weights.shape[0] == 2 and np.all(weights >= 0)
      np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-5)


def test_query_pixel_selects_its_grid_cell():
  """On a 2 x 2 query grid of a 32 px input, pixel (20, 5) is cell (1, 0), row 2."""
  weights = np.eye(4, dtype=np.float32)
  np.testing.assert_array_equal(visualize.attention_at(weights, (20, 5), 32, 'map'),
                                [[0, 0], [1, 0]])
  assert visualize.parse_query('31,0', 32) == (31, 0)


def test_evaluate_takes_the_test_time_augmentation_of_its_flag(run_dir, tmp_path, capsys):
  output = tmp_path / 'report'
  assert run_command('eval', ['--workdir', str(run_dir), '--output', str(output),
                              '--tta', 'five_crop_flip']) == 0
  metrics = json.loads((output / 'metrics.json').read_text())
  config = load_run_config(str(run_dir))
  config.eval_tta = 'five_crop_flip'
  expected = training.evaluate(config, str(run_dir))
  assert metrics['count'] == expected['count']
  assert metrics['top1'] == pytest.approx(expected['top1'])
  assert metrics['top5'] == pytest.approx(expected['top5'])
  capsys.readouterr()
  assert run_command('eval', ['--workdir', str(run_dir), '--tta', 'ten_crop']) == 2
  assert 'ten_crop' in capsys.readouterr().err
