"""Writes notebooks/cnl_jax_colab.ipynb from the cells below (edit here, then rerun).

python tools/make_notebook.py
"""

import pathlib

import nbformat

CELLS = [
    ('markdown', '''# cnl_jax in a notebook

Train a Cross-layer Non-Local (CNL) network on the embedded synthetic fine-grained dataset
(no download), plot its training curve, look at where CNL attends, and classify an image.
On a CPU this takes a few minutes.

**In Colab:** clone the repository and `%cd` into it first (`!git clone <repo url> cnl_jax`,
then `%cd cnl_jax`); the next cell installs the requirements. For a GPU runtime also run
`%pip install -U "jax[cuda12]"`; on a TPU runtime `%pip install -U "jax[tpu]"`.

**CUB-200-2011 instead of the demo:** put `CUB_200_2011.tgz` on the machine (e.g. mount
Google Drive), then in the parameters cell set `CONFIG = 'cub'` and
`MANUAL_DIR = '/content/drive/MyDrive/cub'`. The CUB config is the paper's recipe (ResNet-50
+ 5 CNL at 448 px, 110 epochs, ImageNet weights): use a GPU or TPU runtime, and a `WORKDIR` on
Drive, since a run resumes from its last checkpoint when you run the training cell again.'''),
    ('code', '''import os
import subprocess
import sys

if 'COLAB_RELEASE_TAG' in os.environ:  # only in Colab; locally install as the README says
  subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '-r', 'requirements.txt'],
                 check=True)'''),
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

from cnl_jax import visualize
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
    ('code', '''from cnl_jax import predict

predictions, errors = predict.predict_files(run, [image_path], top_k=3)
for entry in predictions[0]['top_k']:
  print(f"{entry['probability']:7.2%}  {entry['class']}")
assert not errors, errors'''),
]


def main() -> None:
  notebook = nbformat.v4.new_notebook()
  notebook.cells = [nbformat.v4.new_markdown_cell(text) if kind == 'markdown' else
                    nbformat.v4.new_code_cell(text) for kind, text in CELLS]
  notebook.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3',
                                     'language': 'python'}
  path = pathlib.Path(__file__).resolve().parents[1] / 'notebooks' / 'cnl_jax_colab.ipynb'
  nbformat.write(notebook, str(path))
  print(path)


if __name__ == '__main__':
  main()
