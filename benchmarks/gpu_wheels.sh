#!/usr/bin/env bash
# Downloads into .whl/ the wheels the GPU machine's image lacks for benchmarks/gpu_check.py.
# Its image has jax (CUDA), flax, optax, orbax-checkpoint, absl-py, tqdm, numpy, protobuf,
# PyYAML and torch/torchvision, but not these two runtime dependencies of cnl_jax; both are
# pure Python and their own dependencies are in the image. About 0.2 MB in all.
#   bash benchmarks/gpu_wheels.sh   # then carry .whl (BENCHMARKS.md, "GPU check")
set -euo pipefail
cd "$(dirname "$0")/.."
exclude="$(git rev-parse --git-common-dir)/info/exclude"  # carry takes ignored paths only
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo /.whl/ >> "$exclude"
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 -d .whl \
  ml_collections==1.1.0 tensorboardX==2.6.5
du -sh .whl
