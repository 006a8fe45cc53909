"""Writes notebooks/cnl_jax_colab.ipynb from the cells below (edit here, then rerun).

python tools/make_notebook.py
"""

import inspect
import pathlib
import tomllib

import nbformat
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[1]


def install_plan(project: dict, installed: dict[str, str]) -> list[str]:
  """The requirements to pip-install so that this runtime has what the notebook needs.

  The notebook needs cnl_jax's `full` extra. A runtime's own accelerator JAX (marked by its
  CUDA plugin or libtpu) and its own TensorFlow are kept: a CPU `jax` or `tensorflow-cpu`
  installed over them drops the accelerator or breaks TensorFlow. Below the needed range they
  are upgraded within their own build (`jax[cuda12]`, Colab's `tensorflow`). When anything is
  installed, the kept JAX and TensorFlow are pinned, so that pip cannot swap them meanwhile.
  The notebook's install cell runs before cnl_jax is installed, so it carries this source.

  Args:
    project: pyproject.toml's [project] table.
    installed: distribution name -> version, of everything the runtime has.

  Returns:
    pip requirement strings; empty when the runtime has everything.
  """
  from packaging.requirements import Requirement  # pylint: disable=import-outside-toplevel
  from packaging.utils import canonicalize_name  # pylint: disable=import-outside-toplevel

  installed = {canonicalize_name(name): version for name, version in installed.items()}
  accelerator = next((extra for plugin, extra in (('jax-cuda12-plugin', 'cuda12'),
                                                  ('jax-cuda13-plugin', 'cuda13'),
                                                  ('libtpu', 'tpu')) if plugin in installed),
                     None)
  tensorflow = next((name for name in ('tensorflow', 'tensorflow-tpu', 'tensorflow-cpu')
                     if name in installed), 'tensorflow-cpu')

  def expand(requirements):
    """The requirements, with cnl_jax's own extras (`cnl_jax[full]`) replaced by theirs."""
    for text in requirements:
      requirement = Requirement(text)
      if canonicalize_name(requirement.name) != canonicalize_name(project['name']):
        yield requirement
        continue
      for extra in sorted(requirement.extras):
        yield from expand(project['optional-dependencies'][extra])

  plan, pins = [], []
  for requirement in expand([*project['dependencies'], f"{project['name']}[full]"]):
    name = canonicalize_name(requirement.name)
    if name == 'jax' and accelerator:
      requirement.extras = {accelerator}
    elif name == 'tensorflow-cpu':
      requirement.name = name = tensorflow
    version = installed.get(name)
    if version is None or version not in requirement.specifier:
      plan.append(str(requirement))
    elif name in ('jax', tensorflow):
      pins.append(f'{name}=={version}')
  return plan + pins if plan else []


INTRO = '''# cnl_jax in a notebook

Train a Cross-layer Non-Local (CNL) network on the embedded synthetic fine-grained dataset
(no download), plot its training curve, look at where CNL attends, and classify an image.
On a CPU this takes a few minutes.

**In Colab:** clone the repository and `%cd` into it first (`!git clone <repo url> cnl_jax`,
then `%cd cnl_jax`); the next cell installs only what the runtime lacks of cnl_jax's `data`
extra (pyproject.toml). It needs `{jax}`, `{flax}`,
TensorFlow `{tensorflow}` and `{tfds}`. Colab's own JAX (its CPU, CUDA or
TPU build) and TensorFlow are kept when their versions fit, and upgraded within the same build
when older; a CPU `jax` or `tensorflow-cpu` is never installed over them, so GPU and TPU
runtimes need no extra step.

**CUB-200-2011 instead of the demo:** put `CUB_200_2011.tgz` on the machine (e.g. mount
Google Drive), then in the parameters cell set `CONFIG = 'cub'` and
`MANUAL_DIR = '/content/drive/MyDrive/cub'`. The CUB config is the paper's recipe (ResNet-50
+ 5 CNL at 448 px, 110 epochs, ImageNet weights): use a GPU or TPU runtime, and a `WORKDIR` on
Drive, since a run resumes from its last checkpoint when you run the training cell again.'''

INSTALL = f'''import importlib.metadata
import os
import subprocess
import sys
import tomllib


{inspect.getsource(install_plan)}

with open('pyproject.toml', 'rb') as file:
  project = tomllib.load(file)['project']
installed = {{dist.metadata['Name']: dist.version
             for dist in importlib.metadata.distributions() if dist.metadata['Name']}}
requirements = install_plan(project, installed)
if not requirements:
  print('This runtime has all that cnl_jax needs.')
elif 'COLAB_RELEASE_TAG' in os.environ:
  print('pip install', *requirements)
  subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', *requirements], check=True)
else:  # outside Colab, install as the README says
  print('Missing or outside the needed versions:', *requirements)'''

CELLS = [
    ('code', '''# Parameters
CONFIG = 'demo'         # 'demo', 'cub', 'dogs' or 'cars' (configs/<name>.py)
NUM_EPOCHS = None       # None: the config's own number of epochs
WORKDIR = 'runs/notebook_demo'
MANUAL_DIR = None       # the dataset's original files, for 'cub', 'dogs', 'cars\''''),
    ('code', '''import importlib
import json

from IPython.display import Image, display

from cnl_jax import training

config = importlib.import_module(f'configs.{CONFIG}').get_config()
if NUM_EPOCHS is not None:
  config.num_epochs = NUM_EPOCHS
  config.warmup_epochs = min(config.warmup_epochs, NUM_EPOCHS)
if MANUAL_DIR is not None:
  config.data.manual_dir = MANUAL_DIR
result = training.train_and_evaluate(config, WORKDIR)
print(json.dumps(result, indent=1))'''),
    ('markdown', '## The training curve'),
    ('code', '''import matplotlib.pyplot as plt

from cnl_jax.training.metrics import read_metrics

records = read_metrics(WORKDIR)
train = [r for r in records if r['split'] == 'train']
evals = [r for r in records if r['split'] == 'eval']
figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
loss_axis.plot([r['step'] for r in train], [r['loss'] for r in train], label='train')
loss_axis.plot([r['step'] for r in evals], [r['loss'] for r in evals], label='test')
loss_axis.set(xlabel='step', ylabel='loss')
loss_axis.legend()
accuracy_axis.plot([r['epoch'] for r in evals], [r['top1'] for r in evals], marker='o')
accuracy_axis.set(xlabel='epoch', ylabel='test top-1')
plt.show()'''),
    ('markdown', '''## Where CNL looks

A test-like image of one class; for a few query positions (ringed), each column shows one
response layer's attention map over the image.'''),
    ('code', '''import numpy as np
from PIL import Image as PILImage

from cnl_jax.cli import visualize
from cnl_jax.data import synthetic
from cnl_jax.trained_run import load_run

run = load_run(WORKDIR)
image_path = os.path.join(WORKDIR, 'example.jpg')
if config.data.name == 'synthetic':
  spec = synthetic.class_specs(config.data.synthetic_classes, config.data.synthetic_seed)[0]
  pixels = synthetic.render(spec, synthetic.sample_nuisance(np.random.default_rng(7)),
                            config.data.synthetic_image_size)
  PILImage.fromarray(pixels.astype(np.uint8)).save(image_path)
  print('true class:', spec.name)
else:
  print(f'Copy one of your own images to {image_path} first.')
paths = visualize.visualize(run, image_path, visualize.default_queries(config.image_size),
                            os.path.join(WORKDIR, 'attention'))
display(Image(paths[-1]))'''),
    ('markdown', '## Classify an image'),
    ('code', '''from cnl_jax.lite import predict_files

predictions, errors = predict_files(run, [image_path], top_k_count=3)
for entry in predictions[0]['top_k']:
  print(f"{entry['probability']:7.2%}  {entry['class']}")
assert not errors, errors'''),
]


def cells(project: dict) -> list[tuple[str, str]]:
  """The notebook's cells as (kind, source), with the versions it names read from `project`."""
  requirements = {Requirement(text).name: text
                  for text in [*project['dependencies'], *project['optional-dependencies']['full']]}
  intro = INTRO.format(jax=requirements['jax'], flax=requirements['flax'],
                       tensorflow=requirements['tensorflow-cpu'].removeprefix('tensorflow-cpu'),
                       tfds=requirements['tensorflow-datasets'])
  return [('markdown', intro), ('code', INSTALL), *CELLS]


def main() -> None:
  with open(ROOT / 'pyproject.toml', 'rb') as file:
    project = tomllib.load(file)['project']
  notebook = nbformat.v4.new_notebook()
  notebook.cells = [nbformat.v4.new_markdown_cell(text) if kind == 'markdown' else
                    nbformat.v4.new_code_cell(text) for kind, text in cells(project)]
  notebook.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3',
                                     'language': 'python'}
  path = ROOT / 'notebooks' / 'cnl_jax_colab.ipynb'
  nbformat.write(notebook, str(path))
  print(path)


if __name__ == '__main__':
  main()
