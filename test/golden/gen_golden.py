#!/usr/bin/env python3
"""Regenerate test/golden/ops.json, the PyTorch reference values for the engine tests.

Run with Debian's python3-torch (1.13): /usr/bin/python3 test/golden/gen_golden.py

Everything is seeded, so the output is reproducible. The JSON holds:
  ops     one entry per case: op name + args (the TS test has the same op table), the
          inputs, the outputs, the fixed random weights gw, and the gradients of
          sum_i sum(out_i * gw_i) with respect to the inputs listed in `diff`.
  layers  small nn modules (Conv2d, Linear, BatchNorm2d, GroupNorm, Sequential): state
          dicts, inputs, outputs and gradients.
  resnet  the CIFAR ResNet-18 at width 8: state dict (quantised to k * scale so the file
          stays small and the values are exact in float32), an input batch, logits in eval
          and train mode, and gradients of the cross-entropy loss.
  sgd     torch.optim.SGD trajectories on a tiny linear model.

Tensor encoding: {"dtype", "shape", "data"} with data flat row-major; float32 numbers are
written as the shortest decimal that rounds back to the same float32. Quantised tensors use
{"dtype", "shape", "scale", "q"} with value = q * scale.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)
GEN = torch.Generator().manual_seed(20240607)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'ops.json')

DTYPES = {
    torch.float32: 'float32',
    torch.float64: 'float64',
    torch.int64: 'int64',
    torch.bool: 'bool',
    torch.uint8: 'uint8',
    torch.int32: 'int32',
}
TORCH_DTYPE = {'float32': torch.float32, 'float64': torch.float64}


def enc(t):
    t = t.detach().contiguous()
    dt = DTYPES[t.dtype]
    flat = t.reshape(-1)
    if dt == 'float32':
        data = [float(repr(v)) for v in flat.numpy()]
    elif dt == 'float64':
        data = flat.tolist()
    elif dt == 'bool':
        data = [1 if v else 0 for v in flat.tolist()]
    else:
        data = flat.tolist()
    for v in data:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError('non-finite value in golden tensor')
    return {'dtype': dt, 'shape': list(t.shape), 'data': data}


def quant(t, bits=7):
    """Round t to k * 2^-e with |k| <= 2^bits - 1; returns (quantised tensor, encoding)."""
    t = t.detach().to(torch.float64)
    m = float(t.abs().max())
    e = math.floor(math.log2((2 ** bits - 1) / m)) if m > 0 else 0
    scale = 2.0 ** -e
    q = torch.round(t / scale)
    return (q * scale).to(torch.float32), {
        'dtype': 'float32', 'shape': list(t.shape), 'scale': scale, 'q': [int(v) for v in q.reshape(-1).tolist()]}


# ---------------------------------------------------------------------------
# Input makers (all from GEN, in float64 then cast)

def normal(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def uniform(lo, hi, *shape):
    return lo + (hi - lo) * torch.rand(*shape, generator=GEN, dtype=torch.float64)


def positive(*shape):
    return uniform(0.5, 2.0, *shape)


def ints(hi, *shape):
    return torch.randint(0, hi, shape, generator=GEN, dtype=torch.int64)


def mask(*shape):
    return torch.rand(*shape, generator=GEN) < 0.5


def small_ints(*shape):
    return torch.randint(-2, 3, shape, generator=GEN).to(torch.float64)


# ---------------------------------------------------------------------------
# The op table. Each entry takes (inputs dict, args dict). The TS test has the same table.

def scal_or(t, key, a, akey='s'):
    return t[key] if key in t else a[akey]


def _clamp(t, a):
    x = t['x']
    lo = t['lo'] if 'lo' in t else a.get('min')
    hi = t['hi'] if 'hi' in t else a.get('max')
    if torch.is_tensor(lo) or torch.is_tensor(hi):
        # reference semantics of clamp with tensor bounds: min(max(x, lo), hi)
        if lo is not None and not torch.is_tensor(lo):
            lo = torch.tensor(lo, dtype=x.dtype)
        if hi is not None and not torch.is_tensor(hi):
            hi = torch.tensor(hi, dtype=x.dtype)
        return torch.clamp(x, min=lo, max=hi)
    return torch.clamp(x, min=lo, max=hi)


def _where(t, a):
    x = t['a'] if 'a' in t else torch.tensor(a['a'], dtype=t['b'].dtype)
    y = t['b'] if 'b' in t else torch.tensor(a['b'], dtype=t['a'].dtype)
    return torch.where(t['cond'], x, y)


def _reduce(name):
    def f(t, a):
        x = t['x']
        d = a.get('dim')
        k = a.get('keepdim', False)
        if name == 'sum':
            return x.sum() if d is None else x.sum(dim=d, keepdim=k)
        if name == 'mean':
            return x.mean() if d is None else x.mean(dim=d, keepdim=k)
        if name == 'amax':
            return x.amax(dim=() if d is None else d, keepdim=k)
        if name == 'var':
            return x.var(unbiased=a['unbiased']) if d is None else x.var(dim=d, unbiased=a['unbiased'], keepdim=k)
        if name == 'std':
            return x.std(unbiased=a['unbiased']) if d is None else x.std(dim=d, unbiased=a['unbiased'], keepdim=k)
        if name == 'norm':
            return x.norm(p=a['p']) if d is None else x.norm(p=a['p'], dim=d, keepdim=k)
        if name == 'logsumexp':
            return x.logsumexp(dim=d, keepdim=k)
        raise KeyError(name)
    return f


def _slice(t, a):
    x = t['x']
    idx = [slice(None)] * x.dim()
    idx[a['dim']] = slice(a['start'], a['end'], a.get('step', 1))
    return x[tuple(idx)]


def _batch_norm(t, a):
    return F.batch_norm(t['x'], t.get('rm'), t.get('rv'), t.get('w'), t.get('b'), a['training'], a['momentum'], a['eps'])


OPS = {
    'add': lambda t, a: t['x'] + scal_or(t, 'y', a),
    'sub': lambda t, a: t['x'] - scal_or(t, 'y', a),
    'mul': lambda t, a: t['x'] * scal_or(t, 'y', a),
    'div': lambda t, a: t['x'] / scal_or(t, 'y', a),
    'pow': lambda t, a: torch.pow(t['x'], scal_or(t, 'y', a)),
    'maximum': lambda t, a: torch.maximum(t['x'], t['y']),
    'minimum': lambda t, a: torch.minimum(t['x'], t['y']),
    'neg': lambda t, a: -t['x'],
    'exp': lambda t, a: t['x'].exp(),
    'log': lambda t, a: t['x'].log(),
    'sqrt': lambda t, a: t['x'].sqrt(),
    'rsqrt': lambda t, a: t['x'].rsqrt(),
    'abs': lambda t, a: t['x'].abs(),
    'sin': lambda t, a: t['x'].sin(),
    'cos': lambda t, a: t['x'].cos(),
    'tanh': lambda t, a: t['x'].tanh(),
    'sigmoid': lambda t, a: t['x'].sigmoid(),
    'relu': lambda t, a: t['x'].relu(),
    'silu': lambda t, a: F.silu(t['x']),
    'gelu': lambda t, a: F.gelu(t['x']),
    'leakyRelu': lambda t, a: F.leaky_relu(t['x'], a['slope']),
    'softplus': lambda t, a: F.softplus(t['x'], a['beta'], a['threshold']),
    'square': lambda t, a: t['x'].square(),
    'log1p': lambda t, a: t['x'].log1p(),
    'expm1': lambda t, a: t['x'].expm1(),
    'reciprocal': lambda t, a: t['x'].reciprocal(),
    'sign': lambda t, a: t['x'].sign(),
    'floor': lambda t, a: t['x'].floor(),
    'ceil': lambda t, a: t['x'].ceil(),
    'round': lambda t, a: t['x'].round(),
    'clamp': _clamp,
    'where': _where,
    'lerp': lambda t, a: torch.lerp(t['x'], t['end'], a['w']),
    'matmul': lambda t, a: torch.matmul(t['x'], t['y']),
    'bmm': lambda t, a: torch.bmm(t['x'], t['y']),
    'linear': lambda t, a: F.linear(t['x'], t['w'], t.get('b')),
    'sum': _reduce('sum'),
    'mean': _reduce('mean'),
    'amax': _reduce('amax'),
    'var': _reduce('var'),
    'std': _reduce('std'),
    'norm': _reduce('norm'),
    'logsumexp': _reduce('logsumexp'),
    'cumsum': lambda t, a: t['x'].cumsum(a['dim']),
    'reshape': lambda t, a: t['x'].reshape(a['shape']),
    'permute': lambda t, a: t['x'].permute(a['order']),
    'transpose': lambda t, a: t['x'].transpose(a['a'], a['b']),
    'flatten': lambda t, a: t['x'].flatten(a['start'], a['end']),
    'unsqueeze': lambda t, a: t['x'].unsqueeze(a['dim']),
    'squeeze': lambda t, a: t['x'].squeeze(a['dim']),
    'narrow': lambda t, a: t['x'].narrow(a['dim'], a['start'], a['length']),
    'slice': _slice,
    'select': lambda t, a: t['x'].select(a['dim'], a['index']),
    'indexSelect': lambda t, a: t['x'].index_select(a['dim'], t['idx']),
    'gather': lambda t, a: t['x'].gather(a['dim'], t['idx']),
    'expand': lambda t, a: t['x'].expand(a['shape']),
    'repeat': lambda t, a: t['x'].repeat(a['times']),
    'flip': lambda t, a: t['x'].flip(a['dims']),
    'roll': lambda t, a: t['x'].roll(a['shifts'], a['dims']),
    'cat': lambda t, a: torch.cat([t['x'], t['y']], a['dim']),
    'stack': lambda t, a: torch.stack([t['x'], t['y']], a['dim']),
    'split': lambda t, a: list(t['x'].split(a['size'], a['dim'])),
    'chunk': lambda t, a: list(t['x'].chunk(a['chunks'], a['dim'])),
    'maskedFill': lambda t, a: t['x'].masked_fill(t['mask'], a['value']),
    'argmax': lambda t, a: t['x'].argmax(a['dim'], a['keepdim']),
    'argmin': lambda t, a: t['x'].argmin(a['dim'], a['keepdim']),
    'eq': lambda t, a: t['x'].eq(scal_or(t, 'y', a)),
    'ne': lambda t, a: t['x'].ne(scal_or(t, 'y', a)),
    'gt': lambda t, a: t['x'].gt(scal_or(t, 'y', a)),
    'ge': lambda t, a: t['x'].ge(scal_or(t, 'y', a)),
    'lt': lambda t, a: t['x'].lt(scal_or(t, 'y', a)),
    'le': lambda t, a: t['x'].le(scal_or(t, 'y', a)),
    'conv2d': lambda t, a: F.conv2d(t['x'], t['w'], t.get('b'), a['stride'], a['padding'], a.get('dilation', 1), a['groups']),
    'maxPool2d': lambda t, a: F.max_pool2d(t['x'], a['kernel'], a['stride'], a['padding'], 1, a['ceil']),
    'avgPool2d': lambda t, a: F.avg_pool2d(t['x'], a['kernel'], a['stride'], a['padding'], a['ceil'], a['countIncludePad']),
    'adaptiveAvgPool2d': lambda t, a: F.adaptive_avg_pool2d(t['x'], a['size']),
    'batchNorm': _batch_norm,
    'groupNorm': lambda t, a: F.group_norm(t['x'], a['groups'], t.get('w'), t.get('b'), a['eps']),
    'layerNorm': lambda t, a: F.layer_norm(t['x'], a['shape'], t.get('w'), t.get('b'), a['eps']),
    'softmax': lambda t, a: F.softmax(t['x'], a['dim']),
    'logSoftmax': lambda t, a: F.log_softmax(t['x'], a['dim']),
    'crossEntropy': lambda t, a: F.cross_entropy(t['x'], t['target'], reduction=a['reduction'], label_smoothing=a['smoothing']),
    'nllLoss': lambda t, a: F.nll_loss(t['x'], t['target'], reduction=a['reduction']),
    'mseLoss': lambda t, a: F.mse_loss(t['x'], t['y'], reduction=a['reduction']),
    'interpolate': lambda t, a: (F.interpolate(t['x'], size=a['size'], mode='nearest') if a['mode'] == 'nearest'
                                 else F.interpolate(t['x'], size=a['size'], mode='bilinear', align_corners=a['alignCorners'])),
    'pad': lambda t, a: F.pad(t['x'], a['pads'], a['mode'], a['value']) if a['mode'] == 'constant' else F.pad(t['x'], a['pads'], a['mode']),
    'oneHot': lambda t, a: F.one_hot(t['x'], a['classes']),
}

CASES = {}


def case(name, op, inputs, diff=(), args=None, f64=False, mutated=()):
    """inputs: name -> float64/int/bool tensor (floats are cast to the case dtype)."""
    args = args or {}
    for dt in (['float32', 'float64'] if f64 else ['float32']):
        cname = name if dt == 'float32' else name + '_f64'
        tdt = TORCH_DTYPE[dt]
        t = {}
        for k, v in inputs.items():
            v = v.clone()
            if v.is_floating_point():
                v = v.to(tdt)
            if k in diff:
                v.requires_grad_(True)
            t[k] = v
        enc_inputs = {k: enc(v) for k, v in t.items()}
        out = OPS[op](t, args)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        entry = {'op': op, 'args': args, 'dtype': dt, 'inputs': enc_inputs, 'out': [enc(o) for o in outs]}
        if mutated:
            entry['mutated'] = {k: enc(t[k]) for k in mutated}
        if diff:
            gw = [torch.randn(o.shape, generator=GEN, dtype=torch.float64).to(o.dtype) for o in outs]
            grads = torch.autograd.grad(outs, [t[k] for k in diff], gw)
            entry['diff'] = list(diff)
            entry['gw'] = [enc(g) for g in gw]
            entry['grads'] = {k: enc(g) for k, g in zip(diff, grads)}
        CASES[cname] = entry


def build_op_cases():
    X = ('x',)
    XY = ('x', 'y')
    # ---- binary arithmetic: tensor/tensor, broadcasting, scalars (integral and fractional)
    case('add_tt', 'add', {'x': normal(3, 4), 'y': normal(3, 4)}, XY)
    case('add_bcast', 'add', {'x': normal(2, 3, 4), 'y': normal(3, 1)}, XY, f64=True)
    case('add_scalar', 'add', {'x': normal(3, 4)}, X, {'s': 2.5})
    case('add_int_scalar', 'add', {'x': normal(3, 4)}, X, {'s': 3})
    case('sub_tt', 'sub', {'x': normal(3, 4), 'y': normal(3, 4)}, XY)
    case('sub_bcast', 'sub', {'x': normal(3, 4), 'y': normal(4)}, XY)
    case('sub_scalar', 'sub', {'x': normal(3, 4)}, X, {'s': -1.25})
    case('mul_tt', 'mul', {'x': normal(3, 4), 'y': normal(3, 4)}, XY)
    case('mul_bcast', 'mul', {'x': normal(2, 1, 4), 'y': normal(3, 1)}, XY, f64=True)
    case('mul_scalar', 'mul', {'x': normal(3, 4)}, X, {'s': 0.3})
    case('div_tt', 'div', {'x': normal(3, 4), 'y': positive(3, 4)}, XY, f64=True)
    case('div_bcast', 'div', {'x': normal(2, 3, 4), 'y': -positive(4)}, XY)
    case('div_scalar', 'div', {'x': normal(3, 4)}, X, {'s': 3})
    case('pow_scalar', 'pow', {'x': positive(3, 4)}, X, {'s': 2.5})
    case('pow_int', 'pow', {'x': normal(3, 4)}, X, {'s': 3})
    case('pow_neg', 'pow', {'x': positive(3, 4)}, X, {'s': -0.5})
    case('pow_tt', 'pow', {'x': positive(3, 4), 'y': uniform(-1, 2, 3, 4)}, XY, f64=True)
    case('pow_bcast', 'pow', {'x': positive(2, 3), 'y': uniform(-1, 2, 3)}, XY)
    case('maximum', 'maximum', {'x': normal(3, 4), 'y': normal(3, 4)}, XY)
    case('maximum_bcast', 'maximum', {'x': normal(3, 4), 'y': normal(4)}, XY)
    case('minimum', 'minimum', {'x': normal(3, 4), 'y': normal(3, 4)}, XY)
    case('minimum_bcast', 'minimum', {'x': normal(3, 1), 'y': normal(2, 1, 4)}, XY)

    # ---- unary
    for op, make in [('neg', normal), ('exp', normal), ('log', positive), ('sqrt', positive), ('rsqrt', positive),
                     ('abs', normal), ('sin', normal), ('cos', normal), ('tanh', normal), ('sigmoid', normal),
                     ('relu', normal), ('silu', normal), ('gelu', normal), ('square', normal),
                     ('log1p', lambda *s: uniform(-0.5, 3, *s)), ('expm1', normal), ('reciprocal', positive)]:
        case(op, op, {'x': make(3, 5)}, X, f64=op in ('exp', 'log', 'tanh', 'sigmoid', 'gelu', 'silu'))
    case('leakyRelu', 'leakyRelu', {'x': normal(3, 5)}, X, {'slope': 0.1})
    case('leakyRelu_default', 'leakyRelu', {'x': normal(3, 5)}, X, {'slope': 0.01})
    case('softplus', 'softplus', {'x': normal(3, 5) * 3}, X, {'beta': 1, 'threshold': 20}, f64=True)
    case('softplus_beta', 'softplus', {'x': normal(3, 5) * 3}, X, {'beta': 2, 'threshold': 3})

    # ---- clamp, where, lerp
    case('clamp_num', 'clamp', {'x': normal(3, 5)}, X, {'min': -0.5, 'max': 0.5})
    case('clamp_min', 'clamp', {'x': normal(3, 5)}, X, {'min': -0.2, 'max': None})
    case('clamp_max', 'clamp', {'x': normal(3, 5)}, X, {'min': None, 'max': 0.3})
    case('clamp_int_bounds', 'clamp', {'x': normal(3, 5) * 2}, X, {'min': -1, 'max': 1})
    lo = uniform(-1, -0.1, 3, 5)
    case('clamp_tensor', 'clamp', {'x': normal(3, 5), 'lo': lo, 'hi': uniform(0.1, 1, 5)}, ('x', 'lo', 'hi'))
    case('clamp_tensor_min', 'clamp', {'x': normal(3, 5), 'lo': uniform(-1, 0.5, 3, 5)}, ('x', 'lo'), {'max': None})
    case('clamp_tensor_max', 'clamp', {'x': normal(3, 5), 'hi': uniform(-0.5, 1, 5)}, ('x', 'hi'), {'min': None})
    case('clamp_tensor_num', 'clamp', {'x': normal(3, 5), 'lo': uniform(-1, 0, 3, 5)}, ('x', 'lo'), {'max': 0.4})
    case('clamp_num_tensor', 'clamp', {'x': normal(3, 5), 'hi': uniform(0, 1, 3, 5)}, ('x', 'hi'), {'min': -0.4})
    case('where_tt', 'where', {'cond': mask(3, 4), 'a': normal(3, 4), 'b': normal(3, 4)}, ('a', 'b'))
    case('where_bcast', 'where', {'cond': mask(3, 4), 'a': normal(3, 4), 'b': normal(4)}, ('a', 'b'))
    case('where_scalar_b', 'where', {'cond': mask(3, 4), 'a': normal(3, 4)}, ('a',), {'b': -1.5})
    case('where_scalar_a', 'where', {'cond': mask(3, 4), 'b': normal(3, 4)}, ('b',), {'a': 2})
    case('lerp', 'lerp', {'x': normal(3, 4), 'end': normal(3, 4)}, ('x', 'end'), {'w': 0.3}, f64=True)

    # ---- linear algebra
    case('matmul_2d', 'matmul', {'x': normal(3, 4), 'y': normal(4, 5)}, XY, f64=True)
    case('matmul_batched', 'matmul', {'x': normal(2, 3, 4), 'y': normal(4, 5)}, XY)
    case('matmul_vec', 'matmul', {'x': normal(4), 'y': normal(4, 3)}, XY)
    case('bmm', 'bmm', {'x': normal(2, 3, 4), 'y': normal(2, 4, 5)}, XY, f64=True)
    case('linear', 'linear', {'x': normal(3, 4), 'w': normal(5, 4), 'b': normal(5)}, ('x', 'w', 'b'), f64=True)
    case('linear_nobias', 'linear', {'x': normal(2, 3, 4), 'w': normal(5, 4)}, ('x', 'w'))

    # ---- reductions
    for op, variants in [
        ('sum', [{}, {'dim': [1]}, {'dim': [0, 2], 'keepdim': True}, {'dim': [-1]}]),
        ('mean', [{}, {'dim': [1], 'keepdim': True}, {'dim': [0, 2]}]),
        ('amax', [{}, {'dim': [1]}, {'dim': [2], 'keepdim': True}, {'dim': [0, 2]}]),
        ('var', [{'unbiased': True}, {'dim': [1], 'unbiased': True}, {'dim': [1], 'unbiased': False, 'keepdim': True},
                 {'dim': [0, 2], 'unbiased': True}]),
        ('std', [{'unbiased': True}, {'dim': [2], 'unbiased': True}, {'dim': [0, 2], 'unbiased': False, 'keepdim': True}]),
        ('norm', [{'p': 2}, {'p': 1, 'dim': [1]}, {'p': 3, 'dim': [2], 'keepdim': True}, {'p': 2, 'dim': [0, 1]}]),
        ('logsumexp', [{'dim': [1]}, {'dim': [0, 2], 'keepdim': True}, {'dim': [-1]}]),
    ]:
        for i, a in enumerate(variants):
            case(f'{op}_{i}', op, {'x': normal(3, 4, 5)}, X, a, f64=(i == 1 and op in ('var', 'std', 'norm', 'logsumexp')))
    case('cumsum', 'cumsum', {'x': normal(3, 4)}, X, {'dim': 1})
    case('cumsum_0', 'cumsum', {'x': normal(3, 4)}, X, {'dim': 0})

    # ---- shapes and indexing
    case('reshape', 'reshape', {'x': normal(2, 3, 4)}, X, {'shape': [4, 6]})
    case('reshape_infer', 'reshape', {'x': normal(2, 3, 4)}, X, {'shape': [-1, 2]})
    case('permute', 'permute', {'x': normal(2, 3, 4)}, X, {'order': [2, 0, 1]})
    case('transpose', 'transpose', {'x': normal(2, 3, 4)}, X, {'a': 0, 'b': 2})
    case('flatten', 'flatten', {'x': normal(2, 3, 4)}, X, {'start': 1, 'end': -1})
    case('unsqueeze', 'unsqueeze', {'x': normal(2, 3)}, X, {'dim': 1})
    case('squeeze', 'squeeze', {'x': normal(2, 1, 3)}, X, {'dim': 1})
    case('narrow', 'narrow', {'x': normal(2, 3, 4)}, X, {'dim': 1, 'start': 1, 'length': 2})
    case('slice_step', 'slice', {'x': normal(2, 3, 5)}, X, {'dim': 2, 'start': 0, 'end': 5, 'step': 2})
    case('slice', 'slice', {'x': normal(2, 4, 3)}, X, {'dim': 1, 'start': 1, 'end': 3})
    case('select', 'select', {'x': normal(2, 3, 4)}, X, {'dim': 1, 'index': 2})
    case('select_neg', 'select', {'x': normal(2, 3, 4)}, X, {'dim': -1, 'index': 0})
    case('indexSelect', 'indexSelect', {'x': normal(2, 3, 4), 'idx': torch.tensor([2, 0, 2])}, X, {'dim': 1})
    case('gather', 'gather', {'x': normal(2, 3, 4), 'idx': ints(4, 2, 3, 2)}, X, {'dim': 2})
    case('gather_0', 'gather', {'x': normal(3, 4), 'idx': ints(3, 2, 4)}, X, {'dim': 0})
    case('expand', 'expand', {'x': normal(3, 1)}, X, {'shape': [2, 3, 4]})
    case('repeat', 'repeat', {'x': normal(2, 3)}, X, {'times': [2, 1, 2]})
    case('flip', 'flip', {'x': normal(2, 3, 4)}, X, {'dims': [0, 2]})
    case('roll', 'roll', {'x': normal(2, 3, 4)}, X, {'shifts': [1], 'dims': [2]})
    case('roll_2', 'roll', {'x': normal(2, 3, 4)}, X, {'shifts': [1, -1], 'dims': [0, 2]})
    case('cat_1', 'cat', {'x': normal(2, 3), 'y': normal(2, 5)}, XY, {'dim': 1})
    case('cat_0', 'cat', {'x': normal(2, 3), 'y': normal(1, 3)}, XY, {'dim': 0})
    case('stack_0', 'stack', {'x': normal(2, 3), 'y': normal(2, 3)}, XY, {'dim': 0})
    case('stack_2', 'stack', {'x': normal(2, 3), 'y': normal(2, 3)}, XY, {'dim': 2})
    case('split', 'split', {'x': normal(5, 3)}, X, {'size': 2, 'dim': 0})
    case('chunk', 'chunk', {'x': normal(2, 6)}, X, {'chunks': 3, 'dim': 1})
    case('maskedFill', 'maskedFill', {'x': normal(3, 4), 'mask': mask(3, 4)}, X, {'value': -1.5})
    case('maskedFill_bcast', 'maskedFill', {'x': normal(3, 4), 'mask': mask(4)}, X, {'value': 2})

    # ---- non-differentiable
    case('sign', 'sign', {'x': torch.cat([normal(7), torch.zeros(1)])})
    case('floor', 'floor', {'x': normal(8) * 3})
    case('ceil', 'ceil', {'x': normal(8) * 3})
    case('round', 'round', {'x': torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51, 3.7, -3.2])})
    for op in ('eq', 'ne', 'gt', 'ge', 'lt', 'le'):
        case(f'{op}_tt', op, {'x': small_ints(3, 4), 'y': small_ints(3, 4)})
        case(f'{op}_bcast', op, {'x': small_ints(3, 4), 'y': small_ints(4)})
        case(f'{op}_scalar', op, {'x': small_ints(3, 4)}, args={'s': 1})
    case('gt_scalar_frac', 'gt', {'x': normal(3, 4)}, args={'s': 0.25})
    case('argmax_1', 'argmax', {'x': normal(3, 5)}, args={'dim': 1, 'keepdim': False})
    case('argmax_0_keep', 'argmax', {'x': normal(3, 5)}, args={'dim': 0, 'keepdim': True})
    case('argmin_1', 'argmin', {'x': normal(3, 5)}, args={'dim': 1, 'keepdim': False})
    case('oneHot', 'oneHot', {'x': torch.tensor([0, 3, 1, 1, 2])}, args={'classes': 4})

    # ---- convolution and pooling
    case('conv2d', 'conv2d', {'x': normal(2, 3, 6, 6), 'w': normal(4, 3, 3, 3), 'b': normal(4)}, ('x', 'w', 'b'),
         {'stride': [1, 1], 'padding': [1, 1], 'groups': 1}, f64=True)
    case('conv2d_stride_nobias', 'conv2d', {'x': normal(2, 3, 7, 7), 'w': normal(4, 3, 3, 3)}, ('x', 'w'),
         {'stride': [2, 2], 'padding': [0, 0], 'groups': 1})
    case('conv2d_groups', 'conv2d', {'x': normal(1, 4, 5, 5), 'w': normal(6, 2, 3, 3), 'b': normal(6)}, ('x', 'w', 'b'),
         {'stride': [2, 1], 'padding': [1, 2], 'groups': 2})
    case('conv2d_depthwise', 'conv2d', {'x': normal(1, 3, 5, 5), 'w': normal(3, 1, 3, 3)}, ('x', 'w'),
         {'stride': [1, 1], 'padding': [1, 1], 'groups': 3})
    case('conv2d_1x1_dilation', 'conv2d', {'x': normal(2, 2, 6, 6), 'w': normal(3, 2, 3, 3), 'b': normal(3)}, ('x', 'w', 'b'),
         {'stride': [1, 1], 'padding': [2, 2], 'groups': 1, 'dilation': [2, 2]})
    case('maxPool2d', 'maxPool2d', {'x': normal(2, 3, 6, 6)}, X, {'kernel': 2, 'stride': 2, 'padding': 0, 'ceil': False}, f64=True)
    case('maxPool2d_pad', 'maxPool2d', {'x': normal(1, 2, 7, 7)}, X, {'kernel': 3, 'stride': 2, 'padding': 1, 'ceil': False})
    case('maxPool2d_ceil', 'maxPool2d', {'x': normal(1, 2, 5, 5)}, X, {'kernel': 2, 'stride': 2, 'padding': 0, 'ceil': True})
    case('avgPool2d', 'avgPool2d', {'x': normal(2, 3, 6, 6)}, X,
         {'kernel': 2, 'stride': 2, 'padding': 0, 'ceil': False, 'countIncludePad': True}, f64=True)
    case('avgPool2d_pad', 'avgPool2d', {'x': normal(1, 2, 7, 7)}, X,
         {'kernel': 3, 'stride': 2, 'padding': 1, 'ceil': False, 'countIncludePad': True})
    case('avgPool2d_pad_excl', 'avgPool2d', {'x': normal(1, 2, 7, 7)}, X,
         {'kernel': 3, 'stride': 2, 'padding': 1, 'ceil': True, 'countIncludePad': False})
    case('adaptiveAvgPool2d_1', 'adaptiveAvgPool2d', {'x': normal(2, 3, 4, 4)}, X, {'size': [1, 1]}, f64=True)
    case('adaptiveAvgPool2d_uneven', 'adaptiveAvgPool2d', {'x': normal(1, 2, 5, 7)}, X, {'size': [2, 3]})

    # ---- normalisation
    bn = {'training': True, 'momentum': 0.1, 'eps': 1e-5}
    case('batchNorm_train', 'batchNorm',
         {'x': normal(4, 3, 3, 3) * 2 + 1, 'w': uniform(0.5, 1.5, 3), 'b': normal(3), 'rm': normal(3) * 0.1, 'rv': uniform(0.5, 2, 3)},
         ('x', 'w', 'b'), bn, f64=True, mutated=('rm', 'rv'))
    case('batchNorm_train_momentum', 'batchNorm',
         {'x': normal(5, 2, 2, 3), 'w': uniform(0.5, 1.5, 2), 'b': normal(2), 'rm': normal(2) * 0.1, 'rv': uniform(0.5, 2, 2)},
         ('x', 'w', 'b'), {'training': True, 'momentum': 0.3, 'eps': 1e-3}, mutated=('rm', 'rv'))
    case('batchNorm_train_noaffine', 'batchNorm', {'x': normal(4, 3, 2, 2), 'rm': normal(3) * 0.1, 'rv': uniform(0.5, 2, 3)},
         X, bn, mutated=('rm', 'rv'))
    case('batchNorm_train_nostats', 'batchNorm', {'x': normal(3, 2, 4), 'w': uniform(0.5, 1.5, 2), 'b': normal(2)},
         ('x', 'w', 'b'), bn)
    case('batchNorm_eval', 'batchNorm',
         {'x': normal(4, 3, 3, 3), 'w': uniform(0.5, 1.5, 3), 'b': normal(3), 'rm': normal(3) * 0.5, 'rv': uniform(0.5, 2, 3)},
         ('x', 'w', 'b'), {'training': False, 'momentum': 0.1, 'eps': 1e-5}, f64=True)
    case('groupNorm', 'groupNorm', {'x': normal(2, 6, 3, 3), 'w': uniform(0.5, 1.5, 6), 'b': normal(6)}, ('x', 'w', 'b'),
         {'groups': 3, 'eps': 1e-5}, f64=True)
    case('groupNorm_noaffine', 'groupNorm', {'x': normal(2, 4, 2, 3)}, X, {'groups': 2, 'eps': 1e-5})
    case('layerNorm', 'layerNorm', {'x': normal(2, 3, 4), 'w': uniform(0.5, 1.5, 4), 'b': normal(4)}, ('x', 'w', 'b'),
         {'shape': [4], 'eps': 1e-5}, f64=True)
    case('layerNorm_2d', 'layerNorm', {'x': normal(2, 3, 4), 'w': uniform(0.5, 1.5, 3, 4), 'b': normal(3, 4)}, ('x', 'w', 'b'),
         {'shape': [3, 4], 'eps': 1e-5})

    # ---- softmax and losses
    case('softmax_1', 'softmax', {'x': normal(3, 5)}, X, {'dim': 1}, f64=True)
    case('softmax_0', 'softmax', {'x': normal(2, 3, 4)}, X, {'dim': 0})
    case('logSoftmax_1', 'logSoftmax', {'x': normal(3, 5)}, X, {'dim': 1}, f64=True)
    case('logSoftmax_neg', 'logSoftmax', {'x': normal(2, 3, 4)}, X, {'dim': -1})
    for red in ('mean', 'sum', 'none'):
        case(f'crossEntropy_{red}', 'crossEntropy', {'x': normal(5, 4) * 2, 'target': ints(4, 5)}, X,
             {'reduction': red, 'smoothing': 0.0}, f64=(red == 'mean'))
        case(f'crossEntropy_ls_{red}', 'crossEntropy', {'x': normal(5, 4) * 2, 'target': ints(4, 5)}, X,
             {'reduction': red, 'smoothing': 0.1})
        case(f'nllLoss_{red}', 'nllLoss', {'x': normal(5, 4), 'target': ints(4, 5)}, X, {'reduction': red})
        case(f'mseLoss_{red}', 'mseLoss', {'x': normal(3, 4), 'y': normal(3, 4)}, XY, {'reduction': red})

    # ---- resampling and padding
    case('interpolate_nearest_2x', 'interpolate', {'x': normal(1, 2, 3, 3)}, X, {'size': [6, 6], 'mode': 'nearest'})
    case('interpolate_nearest_odd', 'interpolate', {'x': normal(1, 2, 4, 3)}, X, {'size': [6, 7], 'mode': 'nearest'})
    case('interpolate_bilinear', 'interpolate', {'x': normal(1, 2, 3, 4)}, X,
         {'size': [5, 7], 'mode': 'bilinear', 'alignCorners': False}, f64=True)
    case('interpolate_bilinear_ac', 'interpolate', {'x': normal(1, 2, 3, 4)}, X,
         {'size': [6, 5], 'mode': 'bilinear', 'alignCorners': True})
    case('interpolate_bilinear_down', 'interpolate', {'x': normal(1, 1, 6, 6)}, X,
         {'size': [3, 4], 'mode': 'bilinear', 'alignCorners': False})
    case('pad_constant', 'pad', {'x': normal(1, 2, 3, 3)}, X, {'pads': [1, 2, 0, 1], 'mode': 'constant', 'value': 0.5})
    case('pad_constant_1d', 'pad', {'x': normal(2, 3)}, X, {'pads': [2, 1], 'mode': 'constant', 'value': 0})
    case('pad_reflect', 'pad', {'x': normal(1, 2, 4, 4)}, X, {'pads': [1, 1, 2, 1], 'mode': 'reflect', 'value': 0}, f64=True)
    case('pad_replicate', 'pad', {'x': normal(1, 2, 3, 4)}, X, {'pads': [2, 1, 1, 0], 'mode': 'replicate', 'value': 0})

    # ---- clamp exactly at its bounds (as after a projection step of an attack): PyTorch passes
    # the whole gradient to x there. No finite-difference check (these are kinks).
    ties = torch.tensor([[0.0, 1.0, 2.0, -1.0, 3.0], [2.0, 0.0, 0.5, 2.0, 0.0]])
    case('clamp_num_ties', 'clamp', {'x': ties}, X, {'min': 0, 'max': 2})
    case('clamp_tensor_ties', 'clamp', {'x': ties, 'lo': torch.zeros(2, 5), 'hi': torch.full((2, 5), 2.0)}, ('x', 'lo', 'hi'))


# ---------------------------------------------------------------------------
# Layers

def state(m):
    return {k: enc(v) for k, v in m.state_dict().items()}


def randomise_(m):
    """Give every float parameter/buffer random values (BN variances stay positive)."""
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if not v.is_floating_point():
                continue
            if k.endswith('running_var'):
                v.copy_(uniform(0.5, 2, *v.shape))
            elif k.endswith('running_mean'):
                v.copy_(normal(*v.shape) * 0.2)
            elif v.dim() == 1 and k.endswith('weight'):
                v.copy_(uniform(0.5, 1.5, *v.shape))  # norm-layer scales
            elif v.dim() == 1:
                v.copy_(normal(*v.shape) * 0.5)  # biases
            else:
                v.copy_(normal(*v.shape) / math.sqrt(v[0].numel()))  # conv/linear weights, fan-in scaled


def module_case(m, xs, train=True, grad_names=()):
    """Run m on each input in xs (in order); grads of sum(out*gw) for the first input."""
    m.train(train)
    entry = {'state': state(m), 'inputs': [], 'out': []}
    for i, x in enumerate(xs):
        x = x.to(torch.float32).requires_grad_(i == 0)
        y = m(x)
        entry['inputs'].append(enc(x))
        entry['out'].append(enc(y))
        if i == 0:
            gw = torch.randn(y.shape, generator=GEN, dtype=torch.float64).float()
            params = dict(m.named_parameters())
            targets = [x] + [params[n] for n in grad_names]
            gs = torch.autograd.grad(y, targets, gw)
            entry['gw'] = enc(gw)
            entry['grads'] = {'input': enc(gs[0]), **{n: enc(g) for n, g in zip(grad_names, gs[1:])}}
    entry['stateAfter'] = state(m)
    return entry


def build_layers():
    layers = {}
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    randomise_(conv)
    layers['conv2d'] = module_case(conv, [normal(2, 3, 7, 7)], grad_names=('weight', 'bias'))
    layers['conv2d'].update({'config': {'in': 3, 'out': 4, 'kernel': 3, 'stride': 2, 'padding': 1, 'groups': 1, 'bias': True}})
    convg = nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False)
    randomise_(convg)
    layers['conv2d_groups'] = module_case(convg, [normal(1, 4, 5, 5)], grad_names=('weight',))
    layers['conv2d_groups'].update({'config': {'in': 4, 'out': 6, 'kernel': 3, 'stride': 1, 'padding': 1, 'groups': 2, 'bias': False}})
    lin = nn.Linear(5, 3)
    randomise_(lin)
    layers['linear'] = module_case(lin, [normal(4, 5)], grad_names=('weight', 'bias'))
    bn = nn.BatchNorm2d(3, momentum=0.1)
    randomise_(bn)
    bn.num_batches_tracked.fill_(5)
    layers['batchNorm2d_train'] = module_case(bn, [normal(4, 3, 3, 3) * 2 + 1, normal(4, 3, 3, 3) - 0.5], True, ('weight', 'bias'))
    layers['batchNorm2d_eval'] = module_case(bn, [normal(2, 3, 3, 3)], False, ('weight', 'bias'))
    gn = nn.GroupNorm(2, 4)
    randomise_(gn)
    layers['groupNorm'] = module_case(gn, [normal(2, 4, 3, 3)], grad_names=('weight', 'bias'))
    seq = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 5))
    randomise_(seq)
    layers['sequential_train'] = module_case(seq, [normal(3, 3, 5, 5)], True, ('0.weight', '1.weight', '5.weight'))
    layers['sequential_eval'] = module_case(seq, [normal(3, 3, 5, 5)], False, ('0.weight', '1.bias', '5.bias'))
    return layers


# ---------------------------------------------------------------------------
# CIFAR ResNet-18 (kuangliu layout, adaptive average pool)

class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, counts, width=64, num_classes=10):
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make(width, counts[0], 1)
        self.layer2 = self._make(width * 2, counts[1], 2)
        self.layer3 = self._make(width * 4, counts[2], 2)
        self.layer4 = self._make(width * 8, counts[3], 2)
        self.linear = nn.Linear(width * 8, num_classes)

    def _make(self, planes, n, stride):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


RESNET_GRAD_PARAMS = ['conv1.weight', 'bn1.weight', 'layer1.1.conv2.weight', 'layer2.0.shortcut.0.weight', 'layer3.1.bn2.bias',
                      'layer4.0.bn1.weight', 'linear.weight', 'linear.bias']


def build_resnet():
    torch.manual_seed(7)
    model = ResNet([2, 2, 2, 2], width=8)
    sd_enc = {}
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if not v.is_floating_point():
                v.fill_(3)
                sd_enc[k] = enc(v)
                continue
            if k.endswith('running_var'):
                v.copy_(uniform(0.5, 2, *v.shape))
            elif k.endswith('running_mean'):
                v.copy_(normal(*v.shape) * 0.2)
            elif 'bn' in k or 'shortcut.1' in k:
                v.copy_(uniform(0.5, 1.5, *v.shape) if k.endswith('weight') else normal(*v.shape) * 0.1)
            # conv/linear weights keep PyTorch's default init
            qv, e = quant(v)
            v.copy_(qv)
            sd_enc[k] = e
    x_q = torch.randint(-64, 65, (4, 3, 32, 32), generator=GEN).to(torch.float64)
    x = (x_q / 32).to(torch.float32)
    target = torch.tensor([3, 0, 9, 5])
    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
    model.train()
    xg = x.clone().requires_grad_(True)
    logits_train = model(xg)
    loss = F.cross_entropy(logits_train, target)
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, [params[n] for n in RESNET_GRAD_PARAMS] + [xg])
    after = model.state_dict()
    return {
        'width': 8,
        'paramNames': [n for n, _ in model.named_parameters()],
        'bufferNames': [n for n, _ in model.named_buffers()],
        'stateKeys': list(model.state_dict().keys()),
        'shapes': {k: list(v.shape) for k, v in model.state_dict().items()},
        'state': sd_enc,
        'input': {'dtype': 'float32', 'shape': [4, 3, 32, 32], 'scale': 1 / 32, 'q': [int(v) for v in x_q.reshape(-1).tolist()]},
        'target': enc(target),
        'logitsEval': enc(logits_eval),
        'logitsTrain': enc(logits_train),
        'loss': float(loss),
        'grads': {n: enc(g) for n, g in zip(RESNET_GRAD_PARAMS, grads[:-1])},
        'inputGrad': enc(grads[-1][:2]),  # images 0 and 1 only, to keep the file small
        'statsAfterTrain': {k: enc(after[k]) for k in ['bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
                                                      'layer4.1.bn2.running_var', 'layer3.0.shortcut.1.running_mean']},
    }


# ---------------------------------------------------------------------------
# SGD

SGD_CONFIGS = [
    {'lr': 0.1},
    {'lr': 0.1, 'momentum': 0.9},
    {'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 5e-4},
    {'lr': 0.1, 'momentum': 0.5, 'weightDecay': 1e-2},
    {'lr': 0.2, 'weightDecay': 0.1},
]


def build_sgd():
    torch.manual_seed(3)
    lin = nn.Linear(4, 3)
    init = {k: v.clone() for k, v in lin.state_dict().items()}
    x = normal(8, 4).float()
    y = ints(3, 8)
    runs = []
    for cfg in SGD_CONFIGS:
        lin.load_state_dict(init)
        opt = torch.optim.SGD(lin.parameters(), lr=cfg['lr'], momentum=cfg.get('momentum', 0), nesterov=cfg.get('nesterov', False),
                              weight_decay=cfg.get('weightDecay', 0))
        steps = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(lin(x), y)
            loss.backward()
            opt.step()
            steps.append({'loss': float(loss), 'weight': enc(lin.weight), 'bias': enc(lin.bias)})
        runs.append({'config': cfg, 'steps': steps})
    return {'init': {k: enc(v) for k, v in init.items()}, 'x': enc(x), 'y': enc(y), 'runs': runs}


def main():
    build_op_cases()
    doc = {
        'meta': {'torch': torch.__version__, 'generator': 'test/golden/gen_golden.py'},
        'ops': CASES,
        'layers': build_layers(),
        'resnet': build_resnet(),
        'sgd': build_sgd(),
    }
    text = json.dumps(doc, separators=(',', ':'))
    with open(OUT, 'w') as f:
        f.write(text)
        f.write('\n')
    print(f'wrote {OUT}: {len(CASES)} op cases, {len(text) / 1e6:.2f} MB')


if __name__ == '__main__':
    main()
