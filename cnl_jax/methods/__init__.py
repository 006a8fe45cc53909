"""Training methods: CNL/NL/ResNet classification, TASN, RMG-PMSI, PMG and TransFG, each in
its own module or folder, and one registry of model presets (`registry.py`)."""

from cnl_jax.methods.base import Method, Metrics, Panel, ParameterGroup
from cnl_jax.methods.classification import Classification
from cnl_jax.methods.registry import (build_method, create_model, get_preset, list_models,
                                      method_options, resolved_config)
