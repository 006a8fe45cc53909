"""The inference latency benchmark's core runs on a tiny model, so the script cannot rot."""

import pathlib

from benchmarks import inference_latency
from benchmarks.input_pipeline import update_section


def test_measures_one_image_and_writes_its_section(tmp_path: pathlib.Path):
  result = inference_latency.measure('tiny', 'mobilenet_v2', {'width_multiplier': 0.35},
                                     num_classes=4, image_size=32, warmup=1, count=3)
  assert len(result.seconds) == 3 and min(result.seconds) > 0
  assert result.params > 0 and result.macs > 0 and result.compile_seconds > 0
  report = tmp_path / 'BENCHMARKS.md'
  report.write_text('# Benchmarks\n\n## Input pipeline\n\nkept\n')
  update_section(report, '## Inference latency, one image\n\n' +
                 inference_latency.table([result]))
  assert '| tiny |' in report.read_text() and '## Input pipeline\n\nkept' in report.read_text()
