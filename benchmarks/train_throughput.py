"""Training and eval images/s, compile time, memory and FLOP utilisation of the models.

Times the project's own jitted `make_train_step` and `make_eval_step` on synthetic batches
that already sit on the devices, so the model is timed alone; `--input-pipeline` instead
feeds the train step from the real input pipeline on the synthetic dataset. With
`--torch-reference`, torchvision's ResNet-50 is timed on the same machine in the same run
(channels-last, SGD; AMP on CUDA, float32 on CPU).

  PYTHONPATH=. python benchmarks/train_throughput.py --update BENCHMARKS.md

`--grad-accum-steps 1 2 4` times each setting with the global batch split into that many
micro-batches (`config.grad_accum_steps`); the results go to a section of their own, whose
memory columns show what the accumulation saves.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import pathlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from benchmarks.input_pipeline import command_line, machine, update_section
from cnl_jax.methods import Method, build_method, create_model, list_models
from cnl_jax.summary import count_macs
from cnl_jax.training import steps
from cnl_jax.training.optimizer import create_optimizer
from configs.default import data_config

# Dense bf16 tensor-core peaks, FLOP/s per device, by `jax.Device.device_kind`.
DEVICE_PEAK_FLOPS = {
    'NVIDIA H100 80GB HBM3': 989e12,  # H100 SXM
    'NVIDIA H200': 989e12,
    'NVIDIA A100-SXM4-80GB': 312e12,
    'NVIDIA A100-SXM4-40GB': 312e12,
}


@dataclasses.dataclass(frozen=True)
class Result:
  """Timings of one (model, dtype, batch size); rates are images/s of single timed steps."""
  model: str
  dtype: str
  batch_size: int
  image_size: int
  train_rates: list[float]
  eval_rates: list[float]
  compile_seconds: tuple[float, float] | None  # (train, eval) lower + compile; None if eager
  step_bytes: int | None  # XLA's memory analysis of the train step: arguments + temporaries
  peak_bytes: int | None  # the device allocator's peak so far in this process
  train_flops_per_image: float | None  # 3 x forward MACs x 2
  devices: int = 1  # that the batch is split over
  grad_accum_steps: int = 1  # micro-batches the train step splits the batch into


def preset_method(name: str, num_classes: int, dtype: str = 'float32', **overrides) -> Method:
  """Preset `name` in its method with its default options, built as training builds it
  (with the lowerings that run fastest on this backend)."""
  return build_method(ml_collections.ConfigDict({
      'model': name, 'method': {}, 'model_overrides': overrides, 'dtype': dtype}), num_classes)


def _optimizer() -> optax.GradientTransformation:
  """The recipe's SGD (momentum 0.9, weight decay 1e-4) at a constant learning rate."""
  config = ml_collections.ConfigDict({'optimizer': 'sgd', 'momentum': 0.9, 'nesterov': False,
                                      'weight_decay': 1e-4, 'grad_clip_norm': 0.0})
  return create_optimizer(config, lambda step: 0.01, 1)


def timed_calls(step: Callable[[], object], warmup: int, count: int) -> list[float]:
  """Seconds of `count` single calls of `step` after `warmup` calls, each waited for."""
  for _ in range(warmup):
    jax.block_until_ready(step())
  seconds = []
  for _ in range(count):
    start = time.perf_counter()
    jax.block_until_ready(step())
    seconds.append(time.perf_counter() - start)
  return seconds


def _peak_bytes(device: jax.Device) -> int | None:
  stats = device.memory_stats()
  return stats.get('peak_bytes_in_use') if stats else None


def benchmark_model(name: str, *, num_classes: int, image_size: int, batch_size: int,
                    dtype: str, warmup: int, steps_timed: int,
                    batches: Iterator[dict[str, np.ndarray]] | None = None,
                    grad_accum_steps: int = 1, **overrides) -> Result:
  """Times the train and eval steps of one model preset, trained by its own method, the
  train step over `grad_accum_steps` micro-batches.

  Without `batches`, one random batch [batch_size, image_size, image_size, 3] is placed on
  the devices and reused; with them, each train step takes the next host batch through
  `steps.to_global`, so the input pipeline and the transfer are timed too.
  """
  method = preset_method(name, num_classes, dtype, **overrides)
  model = method.model
  mesh = steps.create_mesh()
  shape = (batch_size, image_size, image_size, 3)
  state = steps.create_train_state(method, _optimizer(), 0, (1, *shape[1:]), mesh)
  forward_macs = sum(count_macs(model, state.variables,
                                jax.ShapeDtypeStruct((1, *shape[1:]), jnp.float32)))

  rng = np.random.default_rng(0)
  host_batch = {'image': rng.normal(size=shape).astype(np.float32),
                'label': rng.integers(0, num_classes, batch_size).astype(np.int32)}
  batch = steps.to_global(host_batch, mesh)
  eval_batch = steps.to_global({**host_batch, 'mask': np.ones(batch_size, bool)}, mesh)

  start = time.perf_counter()
  train_step = steps.make_train_step(method, mesh, grad_accum_steps).lower(
      state, batch).compile()
  train_compile = time.perf_counter() - start
  start = time.perf_counter()
  eval_step = steps.make_eval_step(method, mesh).lower(state.variables, eval_batch).compile()
  eval_compile = time.perf_counter() - start
  memory = train_step.memory_analysis()
  step_bytes = (memory.argument_size_in_bytes + memory.temp_size_in_bytes
                if memory is not None else None)

  def train():
    nonlocal state
    inputs = batch if batches is None else steps.to_global(next(batches), mesh)
    state, metrics = train_step(state, inputs)
    return state, metrics

  warmup = warmup if steps_timed else 0  # compile only: no step is run
  train_seconds = timed_calls(train, warmup, steps_timed)
  eval_seconds = timed_calls(lambda: eval_step(state.variables, eval_batch), warmup,
                             steps_timed)
  return Result(name, dtype, batch_size, image_size,
                [batch_size / s for s in train_seconds], [batch_size / s for s in eval_seconds],
                (train_compile, eval_compile), step_bytes, _peak_bytes(jax.devices()[0]),
                3 * 2 * forward_macs, mesh.size, grad_accum_steps)


def synthetic_train_batches(workdir: str, *, batch_size: int, image_size: int
                            ) -> Iterator[dict[str, np.ndarray]]:
  """The real train pipeline on the embedded synthetic dataset, generated in `workdir`."""
  from cnl_jax import data  # TensorFlow, only for this mode
  config = data_config()
  config.cache_dir = config.data_dir = workdir
  return data.train_batches(config, batch_size=batch_size, image_size=image_size, seed=0)


def benchmark_torch_resnet50(*, num_classes: int, image_size: int, batch_size: int,
                             dtype: str, warmup: int, steps_timed: int) -> Result:
  """torchvision's ResNet-50: channels-last SGD steps, bf16 autocast on CUDA for bfloat16."""
  import torch
  import torchvision
  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  torch.backends.cudnn.benchmark = True
  model = torchvision.models.resnet50(num_classes=num_classes).to(
      device, memory_format=torch.channels_last)
  optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
  images = torch.randn(batch_size, 3, image_size, image_size, device=device).to(
      memory_format=torch.channels_last)
  labels = torch.randint(0, num_classes, (batch_size,), device=device)
  autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                            enabled=dtype == 'bfloat16')
  synchronize = torch.cuda.synchronize if device.type == 'cuda' else lambda: None
  if device.type == 'cuda':
    torch.cuda.reset_peak_memory_stats()

  def timed(step):
    for _ in range(warmup):
      step()
    synchronize()
    seconds = []
    for _ in range(steps_timed):
      start = time.perf_counter()
      step()
      synchronize()
      seconds.append(time.perf_counter() - start)
    return seconds

  def train():
    optimizer.zero_grad(set_to_none=True)
    with autocast:
      loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()

  def evaluate():
    with torch.inference_mode(), autocast:
      model(images)

  model.train()
  train_seconds = timed(train)
  model.eval()
  eval_seconds = timed(evaluate)
  peak = torch.cuda.max_memory_allocated() if device.type == 'cuda' else None
  # The same network as cnl_jax's resnet50, so the same count of multiply-accumulates.
  ours = create_model('resnet50', num_classes)
  images_shape = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: ours.init(jax.random.key(0), x), images_shape)
  forward_macs = sum(count_macs(ours, variables, images_shape))
  return Result(f'torchvision resnet50 ({torch.__version__})', dtype, batch_size, image_size,
                [batch_size / s for s in train_seconds], [batch_size / s for s in eval_seconds],
                None, None, peak, 3 * 2 * forward_macs)


def _cell(values: Sequence[float], digits: int = 1) -> str:
  if not values:
    return 'not run'
  return (f'{np.median(values):.{digits}f} ({min(values):.{digits}f}-'
          f'{max(values):.{digits}f})')


def _gib(value: int | None) -> str:
  return 'n/a' if value is None else f'{value / 2 ** 30:.2f}'


def table(results: Sequence[Result], peak_flops: float | None) -> str:
  """A Markdown table: medians (range) of images/s, compile seconds, memory, utilisation.

  `peak_flops` is one device's dense bf16 peak (FLOP/s), or None where unknown.
  """
  lines = ['| model | dtype | batch | size | micro-batches | train images/s | eval images/s | '
           'compile s (train / eval) | train step memory GiB (XLA) | peak device memory GiB | '
           'train TFLOP/s | utilisation of bf16 peak |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|']
  for result in results:
    compile_cell = ('eager' if result.compile_seconds is None
                    else '{:.1f} / {:.1f}'.format(*result.compile_seconds))
    if result.train_flops_per_image is None or not result.train_rates:
      flops_cell = utilisation = 'n/a'
    else:
      flops = float(np.median(result.train_rates)) * result.train_flops_per_image
      flops_cell = f'{flops / 1e12:.3f}'
      utilisation = ('n/a' if peak_flops is None
                     else f'{100 * flops / (peak_flops * result.devices):.1f}%')
    lines.append(
        f'| {result.model} | {result.dtype} | {result.batch_size} | {result.image_size} | '
        f'{result.grad_accum_steps} | {_cell(result.train_rates)} | {_cell(result.eval_rates)} | {compile_cell} | '
        f'{_gib(result.step_bytes)} | {_gib(result.peak_bytes)} | {flops_cell} | '
        f'{utilisation} |')
  return '\n'.join(lines) + '\n'


def _device_peak(flag: float | None) -> float | None:
  """FLOP/s of one device: `--peak-tflops`, else the table's figure for its kind."""
  if flag is not None:
    return flag * 1e12
  return DEVICE_PEAK_FLOPS.get(jax.devices()[0].device_kind)


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--models', nargs='+',
                      default=['resnet50', 'resnet50_5nl', 'resnet50_5cnl'],
                      choices=list_models(),
                      metavar='MODEL',
                      help='presets of the classification method, e.g. resnet101_5cnl')
  parser.add_argument('--image-size', type=int, default=448)
  parser.add_argument('--batch-size', type=int, nargs='+', default=[32],
                      help='global batch sizes (split over all devices)')
  parser.add_argument('--dtypes', nargs='+', default=['float32', 'bfloat16'],
                      choices=['float32', 'bfloat16'])
  parser.add_argument('--grad-accum-steps', type=int, nargs='+', default=[1],
                      help='micro-batches per batch (config.grad_accum_steps); other than 1 '
                      'writes the section "Training throughput, gradient accumulation"')
  parser.add_argument('--remat-blocks', nargs='+', default=['off'], choices=['off', 'on'],
                      help='ResNet blocks kept (off) or recomputed in the backward pass (on)')
  parser.add_argument('--num-classes', type=int, default=200)
  parser.add_argument('--warmup', type=int, default=2, help='untimed steps after compiling')
  parser.add_argument('--steps', type=int, default=10,
                      help='timed steps per measurement; 0 compiles only (memory, compile s)')
  parser.add_argument('--peak-tflops', type=float,
                      help='dense bf16 peak per device; known GPUs are looked up')
  parser.add_argument('--input-pipeline', action='store_true',
                      help='feed the train step from the input pipeline on synthetic data')
  parser.add_argument('--torch-reference', action='store_true',
                      help="also time torchvision's ResNet-50 (needs torch, torchvision)")
  parser.add_argument('--update', type=pathlib.Path, help='Markdown file to write results to')
  args = parser.parse_args(argv)
  machine_description = machine()
  device = jax.devices()[0]
  peak_flops = _device_peak(args.peak_tflops)

  results = []
  with tempfile.TemporaryDirectory() as workdir:
    for name, dtype, batch_size, remat, grad_accum_steps in itertools.product(
        args.models, args.dtypes, args.batch_size, args.remat_blocks, args.grad_accum_steps):
      batches = (synthetic_train_batches(workdir, batch_size=batch_size,
                                         image_size=args.image_size)
                 if args.input_pipeline else None)
      result = benchmark_model(
          name, num_classes=args.num_classes, image_size=args.image_size,
          batch_size=batch_size, dtype=dtype, warmup=args.warmup, steps_timed=args.steps,
          batches=batches, grad_accum_steps=grad_accum_steps,
          **({'remat_blocks': True} if remat == 'on' else {}))
      if remat == 'on':
        result = dataclasses.replace(result, model=f'{name}, remat blocks')
      print(table([result], peak_flops).splitlines()[-1], flush=True)
      results.append(result)
  if args.torch_reference:
    import torch
    cuda = torch.cuda.is_available()
    for dtype in args.dtypes if cuda else ['float32']:
      for batch_size in args.batch_size:
        result = benchmark_torch_resnet50(
            num_classes=args.num_classes, image_size=args.image_size, batch_size=batch_size,
            dtype=dtype, warmup=args.warmup, steps_timed=args.steps)
        print(table([result], peak_flops).splitlines()[-1], flush=True)
        results.append(result)

  command = command_line()
  feed = ('the real input pipeline on the synthetic dataset (train); a fixed on-device batch '
          '(eval)' if args.input_pipeline else 'one synthetic batch already on the devices')
  accumulating = args.grad_accum_steps != [1]
  section = (
      '## Training throughput' + (', gradient accumulation' if accumulating else '') + '\n\n'
      f'`{command}`\n\n'
      f'Machine: {machine_description}; jax {jax.__version__}, {jax.device_count()} x '
      f'{device.device_kind} ({device.platform}). Inputs: {feed}; {args.num_classes} classes. '
      + (f'Images/s: median (range) of {args.steps} single steps, each waited for, after '
         f'{args.warmup} warm-up steps; compilation (lower + compile) is timed apart. '
         if args.steps else 'Compiled only (`--steps 0`): no step was run, so no images/s. ')
      + 'Train '
      'FLOPs per image = 3 x forward multiply-accumulates (conv, fc and attention, '
      '`cnl_jax.summary`) x 2. Peak device memory is the running peak of the process '
      '(n/a where the device reports none).\n\n'
      + ('Micro-batches: the train step splits the batch into that many micro-batches and '
         'sums their gradients one after another (`config.grad_accum_steps`), so the XLA '
         "memory column (the compiled step's arguments + temporaries, "
         '`memory_analysis()`) shows what accumulation saves: the activations of one '
         'micro-batch instead of the whole batch.\n\n' if accumulating else '')
      + ('These are CPU figures at settings small enough for a few minutes on this machine: '
         'they compare the models and the torchvision reference with each other, not what a '
         'GPU does (GPU figures are pending a GPU run).\n\n'
         if device.platform == 'cpu' and args.steps else '')
      + ("The memory column is XLA:CPU's buffer plan; a GPU's compiler makes its own, so the "
         'ratios between rows are what carries over.\n\n'
         if device.platform == 'cpu' and not args.steps else '')
      + table(results, peak_flops))
  print(section)
  if args.update:
    update_section(args.update, section)


if __name__ == '__main__':
  main()
