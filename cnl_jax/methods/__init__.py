"""Training methods: CNL/NL/ResNet classification, TASN, RMG-PMSI and PMG, each in its own
module or folder, behind one registry (`METHODS`, `PRESETS`)."""

from cnl_jax.methods.base import Method, Metrics, Panel, ParameterGroup
from cnl_jax.methods.classification import Classification
from cnl_jax.methods.registry import (METHODS, PRESET_METHODS, PRESETS, build_method,
                                      create_model, method_config)
