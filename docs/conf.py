"""Sphinx configuration of the cnl_jax documentation: Markdown pages (MyST) and an API
reference generated from the docstrings (autodoc, autosummary, napoleon), as flax, optax and
orbax build theirs.

Build (the same command the tests run, warnings as errors):
  sphinx-build -W --keep-going -n -b html docs docs/_build/html
"""

import pathlib
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the checkout's cnl_jax, not an installed copy
# autosummary writes a page per module here on every build; one left from a module since
# moved or removed would fail the build, so each build starts without them.
GENERATED = '_generated'
shutil.rmtree(DOCS / GENERATED, ignore_errors=True)

project = 'cnl_jax'
author = 'cnl_jax authors'
copyright = '2026, cnl_jax authors'  # pylint: disable=redefined-builtin

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.autosummary',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
]

source_suffix = {'.md': 'markdown', '.rst': 'restructuredtext'}
exclude_patterns = ['_build']
templates_path = ['_templates']

# Markdown: `(label)=` targets, $...$ maths, ::: fences, and anchors for headings so that
# `page.md#a-heading` links are checked.
myst_enable_extensions = ['colon_fence', 'dollarmath', 'deflist']
myst_heading_anchors = 3

# The API reference: one page per module, generated on every build from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_typehints_description_target = 'documented_params'
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# A class's `Attributes:` section is a list like `Args:` (the docstrings name several fields
# on one line, `depth, width: ...`); autodoc describes each field itself.
napoleon_custom_sections = [('Attributes', 'params_style')]
# Docstrings write `name` for code, as Markdown does.
default_role = 'code'

# Types from other libraries: the build is offline (no intersphinx inventories), so references
# to them cannot resolve; references to cnl_jax's own names still must.
nitpick_ignore_regex = [
    ('py:class', r'(jax|jaxlib|numpy|flax|optax|orbax|ml_collections|tensorflow|'
                 r'tensorflow_datasets|PIL|matplotlib|tqdm|pathlib|collections\.abc)\..*'),
]

html_theme = 'sphinx_book_theme'
html_title = 'cnl_jax'
html_theme_options = {
    'repository_url': 'https://github.com/cnl-jax/cnl_jax',
    'use_repository_button': True,
    'show_toc_level': 2,
}
