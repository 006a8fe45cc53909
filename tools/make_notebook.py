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
  The notebook's setup cell runs before cnl_jax is installed, so it carries this source.

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


def restart_needed(before: dict[str, str], after: dict[str, str],
                   loaded: set[str]) -> list[str]:
  """The distributions whose version an install changed while this process has them imported.

  Their old version stays in memory until the runtime restarts, so the notebook must say so
  and stop. Installing what was missing needs no restart. The notebook's setup cell carries
  this source too.

  Args:
    before: distribution name -> version before the install.
    after: the same, after it.
    loaded: the distributions whose modules are imported.

  Returns:
    'name old -> new' for each such distribution, sorted; empty when none.
  """
  from packaging.utils import canonicalize_name  # pylint: disable=import-outside-toplevel

  before, after = ({canonicalize_name(name): version for name, version in versions.items()}
                   for versions in (before, after))
  loaded = {canonicalize_name(name) for name in loaded}
  return sorted(f'{name} {before[name]} -> {after[name]}' for name in before.keys() & loaded
                if after.get(name, before[name]) != before[name])


INTRO = """# cnl_jax in a notebook

Train a Cross-layer Non-Local (CNL) network on the embedded synthetic fine-grained dataset
(no download), plot its training curve, look at where CNL attends, and classify an image.
On a CPU this takes a few minutes. Run the cells in order (in Colab: Runtime > Run all).

**Setup (the first code cell).** Opened from GitHub in Colab, the notebook clones the
repository (`REPOSITORY_URL`) into `cnl_jax/` and works inside it; opened from a checkout, it
uses that. In Colab it then installs what the runtime lacks of cnl_jax's `data` extra
(pyproject.toml), and cnl_jax itself. It needs `{jax}`, `{flax}`, TensorFlow `{tensorflow}`
and `{tfds}`. Colab's own JAX (its CPU, CUDA or TPU build) and TensorFlow are kept when their
versions fit, and upgraded within the same build when older; a CPU `jax` or `tensorflow-cpu`
is never installed over them, so GPU and TPU runtimes need no extra step. The cell prints
every requirement it installs. When it has upgraded a library that the runtime had already
imported, it stops and says so: restart the runtime (Runtime > Restart session), then run
all cells again; the second time it finds everything installed.

**CUB-200-2011 instead of the demo:** put `CUB_200_2011.tgz` on the machine (e.g. mount
Google Drive), then in the parameters cell set `CONFIG = 'cub'` and
`MANUAL_DIR = '/content/drive/MyDrive/cub'`. The CUB config is the paper's recipe (ResNet-50
+ 5 CNL at 448 px, 110 epochs, ImageNet weights): use a GPU or TPU runtime, and a `WORKDIR` on
Drive, since a run resumes from its last checkpoint when you run the training cell again."""

SETUP = """REPOSITORY_URL = {repository!r}

import importlib.metadata
import os
import subprocess
import sys
import tomllib

# Work inside a checkout: this one, or a clone of the repository beside the notebook.
if not os.path.exists('pyproject.toml'):
  if not os.path.exists('cnl_jax/pyproject.toml'):
    subprocess.run(['git', 'clone', '--depth', '1', REPOSITORY_URL, 'cnl_jax'], check=True)
  os.chdir('cnl_jax')
if os.getcwd() not in sys.path:
  sys.path.insert(0, os.getcwd())  # configs/, and cnl_jax as checked out
print('Working in', os.getcwd())


{install_plan}


{restart_needed}


def distributions():  # distribution name -> version, of everything installed
  importlib.invalidate_caches()
  return {{dist.metadata['Name']: dist.version
          for dist in importlib.metadata.distributions() if dist.metadata['Name']}}


with open('pyproject.toml', 'rb') as file:
  project = tomllib.load(file)['project']
installed = distributions()
requirements = install_plan(project, installed)
in_colab = 'COLAB_RELEASE_TAG' in os.environ
if not requirements:
  print('This runtime has all that cnl_jax needs.')
elif in_colab:
  print('Installing:', *requirements, sep='\\n  ')
  subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', *requirements], check=True)
else:
  raise SystemExit('Missing or outside the needed versions: ' + ', '.join(requirements)
                   + '. Install the checkout first: pip install -r requirements.txt')
try:
  importlib.metadata.version(project['name'])
except importlib.metadata.PackageNotFoundError:
  if in_colab:
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '-e', '.'],
                   check=True)
    print('Installed cnl_jax from', os.getcwd())
modules = importlib.metadata.packages_distributions()
loaded = {{dist for module in list(sys.modules) for dist in modules.get(module, [])}}
stale = restart_needed(installed, distributions(), loaded)
if stale:
  raise SystemExit('Upgraded while imported: ' + '; '.join(stale) + '. Restart the runtime '
                   '(Runtime > Restart session), then run all cells again.')"""

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
  """The notebook's cells as (kind, source), with the versions it names and the repository
  it clones read from `project`."""
  requirements = {Requirement(text).name: text
                  for text in [*project['dependencies'], *project['optional-dependencies']['full']]}
  intro = INTRO.format(jax=requirements['jax'], flax=requirements['flax'],
                       tensorflow=requirements['tensorflow-cpu'].removeprefix('tensorflow-cpu'),
                       tfds=requirements['tensorflow-datasets'])
  setup = SETUP.format(repository=project['urls']['Repository'],
                       install_plan=inspect.getsource(install_plan).rstrip('\n'),
                       restart_needed=inspect.getsource(restart_needed).rstrip('\n'))
  return [('markdown', intro), ('code', setup), *CELLS]


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
