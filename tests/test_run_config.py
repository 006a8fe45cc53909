"""A workdir's saved config is its run's identity: what may change on resume, what may not."""

import json
import os
import pathlib

import pytest

from cnl_jax.errors import ConfigError
from cnl_jax.methods import resolved_config
from cnl_jax.training.checkpoints import has_checkpoint
from cnl_jax.training.run_config import (HISTORY_FILE, RESUMABLE_FIELDS, load_run_config,
                                         resume_changes, save_run_config)
from configs import demo, rmg_pmsi_demo


@pytest.fixture
def workdir(tmp_path):
  """A workdir with the demo's config and a finished checkpoint folder."""
  save_run_config(demo.get_config(), str(tmp_path))
  os.makedirs(tmp_path / 'checkpoints' / '63')
  os.makedirs(tmp_path / 'checkpoints' / '70.orbax-checkpoint-tmp-1')
  return str(tmp_path)


def test_the_same_config_resumes_unchanged(workdir):
  assert has_checkpoint(workdir)
  assert resume_changes(demo.get_config(), workdir, has_checkpoint=True) == {}


def test_resumable_fields_are_accepted_and_recorded_with_both_values(workdir):
  config = demo.get_config()
  config.num_epochs += 5
  config.eval_batch_size = 8
  changes = resume_changes(config, workdir, has_checkpoint=True)
  assert changes == {'num_epochs': (demo.get_config().num_epochs, config.num_epochs),
                     'eval_batch_size': (demo.get_config().eval_batch_size, 8)}
  assert set(changes) <= RESUMABLE_FIELDS
  save_run_config(config, workdir, changes)
  save_run_config(config, workdir, resume_changes(config, workdir, has_checkpoint=True))
  with open(os.path.join(workdir, HISTORY_FILE), encoding='utf-8') as file:
    history = [json.loads(line) for line in file]
  assert len(history) == 1  # the second start changed nothing
  assert history[0]['changes']['num_epochs'] == {'saved': demo.get_config().num_epochs,
                                                 'new': config.num_epochs}
  assert load_run_config(workdir).num_epochs == config.num_epochs


@pytest.mark.parametrize('field, value', [('batch_size', 16), ('model', 'resnet18_2nl'),
                                          ('seed', 3), ('dtype', 'bfloat16'),
                                          ('image_size', 48), ('decay_epochs', (5, 9)),
                                          ('data.name', 'cub'), ('data.crop_min_area', 0.2)])
def test_a_field_that_changes_the_run_is_refused_naming_both_values(workdir, field, value):
  config = demo.get_config()
  saved_value = config[field] if '.' not in field else config.data[field.split('.')[1]]
  if '.' in field:
    config.data[field.split('.')[1]] = value
  else:
    config[field] = value
  saved_file = pathlib.Path(workdir, 'config.json').read_text()
  with pytest.raises(ConfigError) as error:
    resume_changes(config, workdir, has_checkpoint=True)
  message = str(error.value)
  assert '\n' not in message and 'new --workdir' in message
  as_json = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
  assert f'{field} {as_json(saved_value)!r} (saved) vs {as_json(value)!r}' in message
  assert pathlib.Path(workdir, 'config.json').read_text() == saved_file


def test_a_workdir_without_a_checkpoint_takes_any_config(tmp_path):
  save_run_config(demo.get_config(), str(tmp_path))
  config = demo.get_config()
  config.batch_size = 16
  assert not has_checkpoint(str(tmp_path))
  assert resume_changes(config, str(tmp_path), has_checkpoint(str(tmp_path))) == {}


def test_a_run_records_every_method_option_so_a_later_default_cannot_change_it(tmp_path):
  """The saved config holds the options in effect, defaults included: the same options set
  explicitly resume, another value is refused, and the tools read them back."""
  workdir = str(tmp_path)
  save_run_config(resolved_config(rmg_pmsi_demo.get_config()), workdir)
  config = rmg_pmsi_demo.get_config()
  assert 'mosaic_mode' not in config.method
  config.method.mosaic_mode = 'released'  # its default, now set explicitly
  assert resume_changes(resolved_config(config), workdir, has_checkpoint=True) == {}
  config.method.mosaic_mode = 'per_sample'
  with pytest.raises(ConfigError, match="method.mosaic_mode 'released' \\(saved\\) vs "
                     "'per_sample'"):
    resume_changes(resolved_config(config), workdir, has_checkpoint=True)
  assert load_run_config(workdir).method.mosaic_mode == 'released'
