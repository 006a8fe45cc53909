"""The summary CLI: paper-convention MACs, JSON output and the Table 2 comparison."""

import json

import jax
import jax.numpy as jnp
import pytest

from cnl_jax import create_model, summary
from cnl_jax.cli.harness import run_command


def paper_macs(name):
  """(paper-convention MACs, attention MACs) of preset `name` at 200 classes and 448 px."""
  model = create_model(name, 200)
  images = jax.ShapeDtypeStruct((1, 448, 448, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
  return summary.count_macs(model, variables, images)


@pytest.mark.parametrize('name', sorted(summary.PAPER_TABLE_2))
def test_our_macs_give_the_papers_printed_flops_column(name):
  """Our conv + fc MACs round to Table 2's printed "Flops (x10^9)" and lie within a tenth of
  a percent of the count `--compare-paper` quotes as reconstructed from the released code
  (the parameter counts: tests/test_param_counts.py)."""
  row = summary.PAPER_TABLE_2[name]
  macs, _ = paper_macs(name)
  # The printed column is conv + fc MACs / 1e10 plus up to 0.03 (BN, counted unevenly).
  assert 0 <= row.printed_flops - macs / 1e10 < 0.035
  assert abs(macs / row.macs - 1) < 1e-3


def test_cnl_attention_products_are_counted_apart():
  _, attention = paper_macs('resnet50_5cnl')
  # Query 14x14 against responses of 56x56 (twice) and 28x28 (three times), d = 256,
  # two products each (scores and weighted values).
  assert attention == 2 * 196 * 256 * (2 * 56 * 56 + 3 * 28 * 28)
  assert paper_macs('resnet50')[1] == 0


def test_transfg_counts_its_attention_and_the_selection_row_chain():
  """At 448 px with overlapping patches (1,370 tokens): 11 blocks' attention over every
  token, the part layer's over the class token and 12 parts, and the selection's class-token
  row through 10 of the 11 maps, not the released full products (TACJu/TransFG @ 9336fba,
  models/modeling.py:239-243: 10 x 12 x 1370^3, about 309 GMACs)."""
  tokens = 37 * 37 + 1
  _, attention = paper_macs('transfg_vit_base_patch16')
  assert attention == (11 * 2 * tokens ** 2 * 768 + 2 * 13 ** 2 * 768
                       + 10 * 12 * tokens ** 2)


def test_json_output(capsys):
  run_command('summary', ['--model', 'resnet18', '--num-classes', '10', '--image-size', '64',
                          '--json'])
  result = json.loads(capsys.readouterr().out)
  assert result['params'] == 11_181_642
  # XLA counts 2 FLOPs a MAC but skips the zero padding; it must be of the same order.
  assert result['macs_paper'] < result['xla_flops'] < 2 * result['macs_paper']
  assert result['image_size'] == [64, 64]


def test_compare_paper_tells_printed_from_reconstructed(capsys):
  run_command('summary', ['--model', 'resnet50_5cnl', '--compare-paper'])
  out = capsys.readouterr().out
  printed, reconstructed = out.split('reconstructed from the released code')
  assert 'as printed' in printed and '2.71' in printed and '2.03' in printed
  assert '27,084,040' in reconstructed and 'ours +0' in reconstructed


def test_unknown_model_is_a_usage_error(capsys):
  assert run_command('summary', ['--model', 'resnet51']) == 2
  error = capsys.readouterr().err
  assert error.startswith('error: ') and 'resnet51' in error and error.count('\n') == 1


def test_overrides_reach_the_model_and_the_train_graph_is_counted(capsys):
  run_command('summary', ['--model', 'resnet18', '--num-classes', '10', '--image-size', '64',
                          '--json', '--override', 'width=32', '--graph', 'train'])
  result = json.loads(capsys.readouterr().out)
  narrow = summary.summarize('resnet18', 10, (64, 64), 'test', {'width': 32})
  assert result['overrides'] == {'width': 32} and result['graph'] == 'train'
  assert result['params'] == narrow.params < 11_181_642
  # A ResNet has no training-only branch: both graphs make the same convs.
  assert result['macs_paper'] == narrow.macs_paper


def test_train_graph_of_a_model_with_batch_norm_1d():
  """RMG-PMSI's classifiers normalise [batch, features]: the training pass is counted per
  image all the same, and its convs are the test pass's."""
  overrides = {'width_multiplier': 0.35, 'smooth_inner_features': 16, 'features': 32,
               'classifier_features': 16}
  train = summary.summarize('rmg_pmsi_mobilenetv2', 10, (64, 64), 'train', overrides)
  test = summary.summarize('rmg_pmsi_mobilenetv2', 10, (64, 64), 'test', overrides)
  assert train.macs_paper == test.macs_paper > 0


def test_malformed_override_is_a_usage_error(capsys):
  assert run_command('summary', ['--model', 'resnet18', '--override', 'width']) == 2
  assert 'attribute=value' in capsys.readouterr().err
