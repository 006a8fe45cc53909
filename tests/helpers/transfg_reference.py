"""NumPy transcriptions of the released TransFG code (TACJu/TransFG @ 9336fba), a block
with the interface TransFG asks of one, and a jaxpr walker, for the TransFG tests."""

import flax.linen as nn
import jax
import numpy as np
from scipy import ndimage


def released_part_selection(weights, hidden_states):
  """NumPy transcription of TACJu/TransFG @ 9336fba, models/modeling.py:235-276:
  `Part_Attention.forward` and the gather in `Encoder.forward`."""
  last_map = weights[0]
  for i in range(1, len(weights)):
    last_map = np.matmul(weights[i], last_map)
  last_map = last_map[:, :, 0, 1:]
  max_inx = np.argmax(last_map, axis=2)
  part_inx = max_inx + 1
  parts = np.stack([hidden_states[i, part_inx[i, :]] for i in range(part_inx.shape[0])])
  concat = np.concatenate([hidden_states[:, 0:1], parts], axis=1)
  return last_map, part_inx, concat


def released_con_loss(features, labels):
  """models/modeling.py:364-375, in NumPy."""
  B, _ = features.shape
  features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
  cos_matrix = features @ features.T
  pos_label_matrix = np.stack([labels == labels[i] for i in range(B)]).astype(np.float64)
  neg_label_matrix = 1 - pos_label_matrix
  pos_cos_matrix = 1 - cos_matrix
  neg_cos_matrix = cos_matrix - 0.4
  neg_cos_matrix[neg_cos_matrix < 0] = 0
  loss = (pos_cos_matrix * pos_label_matrix).sum() + (neg_cos_matrix * neg_label_matrix).sum()
  loss /= (B * B)
  return loss


def released_label_smoothing(x, target, smoothing):
  """models/modeling.py:45-65 (`LabelSmoothing.forward`), in NumPy."""
  confidence = 1.0 - smoothing
  logprobs = x - x.max(-1, keepdims=True)
  logprobs = logprobs - np.log(np.exp(logprobs).sum(-1, keepdims=True))
  nll_loss = -np.take_along_axis(logprobs, target[:, None], axis=-1)[:, 0]
  smooth_loss = -logprobs.mean(axis=-1)
  loss = confidence * nll_loss + smoothing * smooth_loss
  return loss.mean()


def released_zoom(posemb, ntok_new):
  """`load_from`'s resize (models/modeling.py:329-346), in NumPy and scipy."""
  posemb_tok, posemb_grid = posemb[:, :1], posemb[0, 1:]
  gs_old = int(np.sqrt(len(posemb_grid)))
  gs_new = int(np.sqrt(ntok_new))
  posemb_grid = posemb_grid.reshape(gs_old, gs_old, -1)
  zoom = (gs_new / gs_old, gs_new / gs_old, 1)
  posemb_grid = ndimage.zoom(posemb_grid, zoom, order=1)
  posemb_grid = posemb_grid.reshape(1, gs_new * gs_new, -1)
  return np.concatenate([posemb_tok, posemb_grid], axis=1)


class ReferenceAttention(nn.Module):
  """Multi-head self-attention with fused `qkv` (rows [3, heads, head_dim]) and `proj`, as
  the ViT names them; returns (output, post-softmax maps [batch, heads, tokens, tokens])."""
  num_heads: int

  @nn.compact
  def __call__(self, x):
    batch, tokens, width = x.shape
    qkv = nn.Dense(3 * width, name='qkv')(x)
    query, key, value = qkv.reshape(batch, tokens, 3, self.num_heads, -1).transpose(
        2, 0, 3, 1, 4)
    weights = jax.nn.softmax(query @ key.swapaxes(-1, -2) / np.sqrt(query.shape[-1]), -1)
    attended = (weights @ value).transpose(0, 2, 1, 3).reshape(batch, tokens, width)
    return nn.Dense(width, name='proj')(attended), weights


class ReferenceMlp(nn.Module):
  """fc1 -> exact GELU -> dropout -> fc2 -> dropout (the released `Mlp`)."""
  hidden: int
  dropout_rate: float

  @nn.compact
  def __call__(self, x, *, train):
    width = x.shape[-1]
    x = nn.gelu(nn.Dense(self.hidden, name='fc1')(x), approximate=False)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
    return nn.Dropout(self.dropout_rate)(nn.Dense(width, name='fc2')(x),
                                         deterministic=not train)


class ReferenceBlock(nn.Module):
  """A pre-norm ViT block returning its attention maps: the interface TransFG asks of a
  block. The released `Block` (models/modeling.py:177-196) with q, k, v fused and the ViT's
  parameter names (norm1, attn/qkv, attn/proj, norm2, mlp/fc1, mlp/fc2); the maps are also
  sown into 'intermediates' so a test can read them."""
  num_heads: int
  mlp_ratio: float = 4.0
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, x, *, train):
    attended, weights = ReferenceAttention(self.num_heads, name='attn')(
        nn.LayerNorm(1e-6, name='norm1')(x))
    x = x + attended
    x = x + ReferenceMlp(int(x.shape[-1] * self.mlp_ratio), self.dropout_rate, name='mlp')(
        nn.LayerNorm(1e-6, name='norm2')(x), train=train)
    self.sow('intermediates', 'attention', weights)
    return x, weights


def primitive_names(jaxpr):
  """Every primitive a jaxpr applies, those of nested jaxprs (jit, custom rules) included."""
  names = set()
  for equation in jaxpr.eqns:
    names.add(equation.primitive.name)
    for param in equation.params.values():
      for inner in param if isinstance(param, (tuple, list)) else (param,):
        inner = getattr(inner, 'jaxpr', inner)
        if hasattr(inner, 'eqns'):
          names |= primitive_names(inner)
  return names


def flax_params(timm_state):
  """timm-named tensors in PyTorch layout -> the Flax params of a TransFG built on
  `ReferenceBlock` (what the ViT's timm converter does for its own blocks)."""
  params = {}
  for name, value in timm_state.items():
    path = name.replace('patch_embed.proj', 'patch_embed').split('.')
    if path[0] == 'blocks':
      path = [f'block{path[1]}', *path[2:]]
    if path[-1] == 'weight':
      path[-1] = 'kernel' if value.ndim > 1 else 'scale'
      value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
    node = params
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return params
