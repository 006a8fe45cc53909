"""NumPy transcriptions of the released TransFG code (TACJu/TransFG @ 9336fba) and a jaxpr
walker, for the TransFG tests."""

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
