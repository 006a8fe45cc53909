"""The training benchmark's core runs on a tiny model (over 2 micro-batches), so the script
cannot rot unnoticed."""

import pathlib

import pytest

from benchmarks import train_throughput


def test_benchmark_times_the_train_and_eval_steps_of_a_tiny_model(tmp_path: pathlib.Path):
  result = train_throughput.benchmark_model(
      'resnet18_2cnl', num_classes=4, image_size=32, batch_size=4, dtype='bfloat16', warmup=1,
      steps_timed=2, grad_accum_steps=2, width=8, cnl_inner_features=16)
  assert len(result.train_rates) == len(result.eval_rates) == 2
  assert min(result.train_rates + result.eval_rates) > 0
  assert min(result.compile_seconds) > 0 and result.step_bytes > 0
  assert result.train_flops_per_image > 0

  report = tmp_path / 'BENCHMARKS.md'
  report.write_text('# Benchmarks\n\n## Input pipeline\n\nkept\n\n## Later\n\nkept too\n')
  for _ in range(2):  # the second run replaces the section instead of appending another
    train_throughput.update_section(
        report, '## Training throughput\n\n' + train_throughput.table([result], 1e12))
  text = report.read_text()
  assert text.count('## Training throughput') == 1 and '## Input pipeline\n\nkept' in text
  train_throughput.update_section(report, '## Input pipeline\n\nnew\n')
  assert '## Input pipeline\n\nnew\n\n## Later\n\nkept too\n' in report.read_text()
  assert '| resnet18_2cnl | bfloat16 | 4 | 32 | 2 |' in text


def test_torch_reference_runs():
  pytest.importorskip('torchvision')
  result = train_throughput.benchmark_torch_resnet50(
      num_classes=4, image_size=32, batch_size=2, dtype='float32', warmup=1, steps_timed=1)
  assert result.compile_seconds is None and min(result.train_rates) > 0


def test_compile_only_reports_the_memory_that_accumulation_saves():
  def compiled(grad_accum_steps):
    return train_throughput.benchmark_model(
        'resnet18_2cnl', num_classes=4, image_size=64, batch_size=8, dtype='float32',
        warmup=1, steps_timed=0, grad_accum_steps=grad_accum_steps, width=8,
        cnl_inner_features=16)
  whole, accumulated = compiled(1), compiled(4)
  assert whole.train_rates == whole.eval_rates == []
  # One micro-batch's activations are live at a time, not the whole batch's.
  assert accumulated.step_bytes < 0.8 * whole.step_bytes
  row = train_throughput.table([whole], None).splitlines()[-1]
  assert '| not run | not run |' in row and '| n/a | n/a |' in row
