"""Plain NumPy versions of the NL and CNL equations, written NCHW like the PyTorch code."""

import numpy as np

EPS = 1e-5


def conv1x1(x, kernel):
  """x [b, c, h, w], Flax kernel [1, 1, c, out] -> [b, out, h, w]."""
  return np.einsum('bchw,co->bohw', x, kernel[0, 0])


def batch_norm(x, bn, stats, train):
  """BN over [b, c, h, w] with Flax's params {'scale', 'bias'} and stats {'mean', 'var'}."""
  if train:
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
  else:
    mean, var = stats['mean'], stats['var']
  shape = (1, -1, 1, 1)
  return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS)
          * bn['scale'].reshape(shape) + bn['bias'].reshape(shape))


def softmax(x):
  e = np.exp(x - x.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def positions_first(x):
  """[b, c, h, w] -> [b, h*w, c]."""
  return x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)


def attend(query_map, key_map, value_map):
  """softmax(q k^T / sqrt(d)) v on [b, d, h, w] maps -> [b, h_q*w_q, d]."""
  q, k, v = (positions_first(t) for t in (query_map, key_map, value_map))
  weights = softmax(q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1]))
  return weights @ v


def to_map(y, height, width, reshape):
  """[b, h*w, d] -> [b, d, h, w]: transposed (paper) or a raw row-major view (released)."""
  batch, _, inner = y.shape
  if reshape == 'released':
    return y.reshape(batch, inner, height, width)
  return y.transpose(0, 2, 1).reshape(batch, inner, height, width)


def cnl(query, responses, params, stats, train, reshape):
  """The CNL equation; query [b, c, h, w], responses [b, c_i, h_i, w_i]."""
  _, _, height, width = query.shape
  theta = conv1x1(query, params['theta']['kernel'])
  out = query
  for i, response in enumerate(responses):
    y = attend(theta, conv1x1(response, params[f'phi_{i}']['kernel']),
               conv1x1(response, params[f'g_{i}']['kernel']))
    z = conv1x1(to_map(y, height, width, reshape), params['z']['kernel'])
    out = out + batch_norm(z, params[f'bn_{i}'], stats.get(f'bn_{i}'), train)
  return out


def nonlocal_block(x, params, stats, train):
  """The NL equation on x [b, c, h, w]."""
  _, _, height, width = x.shape
  y = attend(*(conv1x1(x, params[name]['kernel']) for name in ('theta', 'phi', 'g')))
  z = conv1x1(to_map(y, height, width, 'paper'), params['z']['kernel'])
  return x + batch_norm(z, params['bn'], stats.get('bn'), train)
