"""The Colab notebook runs top to bottom on the demo settings from an empty folder, cloning the
repository itself; it is what its generator writes; its setup cell keeps a runtime's own JAX
and TensorFlow and says when an upgrade needs a restart."""

import os
import shutil
import subprocess
import tomllib

import nbclient
import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import make_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'notebooks', 'cnl_jax_colab.ipynb')
with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as _file:
  PROJECT = tomllib.load(_file)['project']


def _repository_copy(path) -> str:
  """A git repository of this checkout's files as they are now (committed or not), as the
  URL the notebook clones in place of the public repository."""
  files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
  for name in filter(None, files):
    if os.path.isfile(os.path.join(ROOT, name)):  # a file deleted but not yet committed is not
      os.makedirs(path / os.path.dirname(name), exist_ok=True)
      shutil.copy2(os.path.join(ROOT, name), path / name)
  for command in (['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'copy']):
    subprocess.run(['git', '-c', 'user.name=test', '-c', 'user.email=test@example.com',
                    *command], cwd=path, check=True)
  return path.as_uri()


def test_notebook_runs_from_an_empty_folder_on_the_demo(tmp_path, monkeypatch):
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  [setup] = [cell for cell in notebook.cells if cell.source.startswith('REPOSITORY_URL = ')]
  url_line = setup.source.split('\n', 1)[0]
  setup.source = setup.source.replace(
      url_line, f'REPOSITORY_URL = {_repository_copy(tmp_path / "repository")!r}', 1)
  parameters = [cell for cell in notebook.cells if cell.source.startswith('# Parameters')]
  assert len(parameters) == 1
  workdir = tmp_path / 'run'
  parameters[0].source = (f"CONFIG = 'demo'\nNUM_EPOCHS = 1\nWORKDIR = {str(workdir)!r}\n"
                          'MANUAL_DIR = None')
  # A probe after the last cell: which cnl_jax the notebook ran.
  notebook.cells.append(nbformat.v4.new_code_cell('import cnl_jax\nprint(cnl_jax.__file__)'))
  fresh = tmp_path / 'fresh'
  fresh.mkdir()
  monkeypatch.setenv('HOME', str(tmp_path))  # the synthetic set's cache, under ~/.cache
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
  monkeypatch.delenv('PYTHONPATH', raising=False)
  nbclient.NotebookClient(notebook, timeout=600, kernel_name='python3',
                          resources={'metadata': {'path': str(fresh)}}).execute()

  outputs = [output for cell in notebook.cells if cell.cell_type == 'code'
             for output in cell.get('outputs', [])]
  assert not [output for output in outputs if output.output_type == 'error']
  images = [output for output in outputs if 'image/png' in output.get('data', {})]
  assert len(images) == 2  # the training curve and the attention grid
  assert (workdir / 'attention' / 'grid.png').exists()
  text = ''.join(output.get('text', '') for output in outputs)
  assert 'true class:' in text and '%' in text
  clone = fresh / 'cnl_jax'
  assert f'Working in {clone}' in text
  assert str(clone / 'cnl_jax' / '__init__.py') in text
  # The test environment is installed from requirements-test.txt: the setup cell finds it
  # complete, so it would install nothing in Colab either when a runtime has the same.
  assert 'This runtime has all that cnl_jax needs.' in text


def test_readme_badge_opens_the_notebook_from_the_repository_it_clones():
  repository = PROJECT['urls']['Repository'].removeprefix('https://github.com/')
  badge = (f'https://colab.research.google.com/github/{repository}/blob/main/'
           'notebooks/cnl_jax_colab.ipynb')
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as file:
    assert f']({badge})' in file.read()


def test_notebook_is_what_its_generator_writes():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  assert [(cell.cell_type, cell.source) for cell in notebook.cells] == \
      make_notebook.cells(PROJECT), 'rerun python tools/make_notebook.py'


def _needed() -> dict[str, Requirement]:
  """What the notebook needs: the core dependencies and the full extra's."""
  texts = [*PROJECT['dependencies'], *PROJECT['optional-dependencies']['full']]
  requirements = [Requirement(text) for text in texts]
  return {r.name: r for r in requirements if r.name != PROJECT['name']}


def _fitting(name: str) -> str:
  """The lowest version the notebook accepts of `name` (each needed range has a lower bound)."""
  [lower] = [spec.version for spec in _needed()[name].specifier if spec.operator == '>=']
  return lower


def _runtime(tensorflow_as: str = 'tensorflow', **versions: str | None) -> dict[str, str]:
  """A simulated runtime: every needed distribution at a fitting version, TensorFlow as the
  distribution `tensorflow_as` (Colab's is `tensorflow`), then `versions` (name -> version,
  None removes it)."""
  installed = {canonicalize_name(name): _fitting(name) for name in _needed()}
  installed[canonicalize_name(tensorflow_as)] = installed.pop('tensorflow-cpu')
  installed.update({canonicalize_name(name): version for name, version in versions.items()})
  return {name: version for name, version in installed.items() if version is not None}


def _as_needed(name: str, *, rename: str | None = None, extras: tuple[str, ...] = ()) -> str:
  requirement = _needed()[name]
  requirement.name = rename or requirement.name
  requirement.extras = set(extras)
  return str(requirement)


def _plan(installed: dict[str, str]) -> set[str]:
  return {str(Requirement(text)) for text in make_notebook.install_plan(PROJECT, installed)}


COLAB_GPU = dict(jaxlib=_fitting('jax'), jax_cuda12_plugin=_fitting('jax'),
                 jax_cuda12_pjrt=_fitting('jax'))
COLAB_TPU = dict(jaxlib=_fitting('jax'), libtpu='0.0.42.1')


# Ids other than `gpu`: conftest skips a test whose keywords hold `gpu` where there is none.
@pytest.mark.parametrize('accelerator', [COLAB_GPU, COLAB_TPU, {}],
                         ids=['colab_gpu', 'colab_tpu', 'cpu'])
def test_a_runtime_with_everything_installs_nothing(accelerator):
  assert make_notebook.install_plan(PROJECT, _runtime(**accelerator)) == []


def test_colab_gpu_keeps_its_jax_and_tensorflow_while_the_rest_is_installed():
  installed = _runtime(**COLAB_GPU, flax='0.10.0', tensorflow_datasets='4.9.9',
                       ml_collections=None, tensorboardX=None)
  assert _plan(installed) == {
      _as_needed('flax'), _as_needed('tensorflow-datasets'), _as_needed('ml_collections'),
      _as_needed('tensorboardX'),
      # Pinned to what the runtime has, so that pip cannot swap in a CPU build meanwhile.
      f"jax=={installed['jax']}", f"tensorflow=={installed['tensorflow']}"}


@pytest.mark.parametrize('accelerator, extra', [(COLAB_GPU, 'cuda12'), (COLAB_TPU, 'tpu')],
                         ids=['colab_gpu', 'colab_tpu'])
def test_a_jax_below_the_range_is_upgraded_within_its_accelerator_build(accelerator, extra):
  installed = _runtime(**accelerator, jax='0.4.33')
  assert _plan(installed) == {_as_needed('jax', extras=(extra,)),
                              f"tensorflow=={installed['tensorflow']}"}


def test_a_runtime_without_jax_or_tensorflow_gets_everything_with_the_cpu_builds():
  # Plain `jax` and `tensorflow-cpu`, as pyproject.toml names them.
  assert _plan({}) == {str(requirement) for requirement in _needed().values()}


@pytest.mark.parametrize('tensorflow', ['tensorflow', 'tensorflow-cpu'])
def test_an_older_tensorflow_is_upgraded_under_its_own_name(tensorflow):
  installed = _runtime(tensorflow, **COLAB_GPU, **{tensorflow: '2.19.0'})
  assert _plan(installed) == {_as_needed('tensorflow-cpu', rename=tensorflow),
                              f"jax=={installed['jax']}"}


def test_an_upgrade_of_an_imported_library_asks_for_a_restart():
  before = {'jax': '0.4.33', 'numpy': '2.0.0', 'flax': '0.10.0'}
  after = {**before, 'jax': '0.10.2', 'flax': '0.12.8', 'optax': '0.2.8'}
  assert make_notebook.restart_needed(before, after, loaded={'jax', 'numpy'}) == \
      ['jax 0.4.33 -> 0.10.2']


def test_installing_what_was_missing_needs_no_restart():
  before = {'jax': '0.10.2'}
  assert make_notebook.restart_needed(before, {**before, 'optax': '0.2.8'},
                                      loaded={'jax', 'optax'}) == []
