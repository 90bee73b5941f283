#!/usr/bin/python3
"""Reference numbers for test/attack-machinery.test.ts: one PGD step, computed with PyTorch.

Run with Debian's python3-torch (the pyenv python3 on PATH has no torch):

    /usr/bin/python3 test/golden/gen_attack_pgd.py

A tiny fixed classifier (conv 3->4 3x3 pad 1, ReLU, global mean, linear 4->5) and a batch of
4 images 3x6x6 in [0,1] (some pixels exactly 0 or 1, so the [0,1] clamp is exercised), a
starting delta, and the delta after one step of each case:
  linf: delta + s*sign(g) (ascent) or - (descent), clamped to [-eps, eps]
  l2:   delta +- s*g/||g|| per sample, scaled into the eps ball per sample
then x + delta clamped to [0,1]; g = d mean-CE(model(x + delta), y) / d delta.
All tensors are float32, written as the shortest decimals that read back exactly.
Writes test/golden/attack_pgd.json.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
g = torch.Generator().manual_seed(9)
N, C, H, W, K = 4, 3, 6, 6, 5

x = torch.rand(N, C, H, W, generator=g)
x[0, 0, 0, :] = 0.0
x[1, 1, 2, :] = 1.0
y = torch.tensor([0, 3, 1, 4])
conv_w = torch.randn(4, C, 3, 3, generator=g) * 0.5
conv_b = torch.randn(4, generator=g) * 0.1
lin_w = torch.randn(K, 4, generator=g)
lin_b = torch.randn(K, generator=g) * 0.1


def model(inp):
    h = F.relu(F.conv2d(inp, conv_w, conv_b, padding=1))
    return F.linear(h.mean(dim=(2, 3)), lin_w, lin_b)


def one_step(delta0, norm, eps, step, direction):
    d = delta0.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x + d), y)
    (grad,) = torch.autograd.grad(loss, d)
    sgn = 1.0 if direction == 'ascent' else -1.0
    with torch.no_grad():
        if norm == 'linf':
            nd = (d + sgn * step * grad.sign()).clamp(-eps, eps)
        else:
            gn = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            nd = d + sgn * step * grad / gn
            dn = nd.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            nd = nd * torch.clamp(eps / dn, max=1.0)
        nd = (x + nd).clamp(0, 1) - x
    return nd, loss.item()


def enc(t):
    # the shortest decimal that reads back as the same float32 keeps the file small
    vals = t.detach().flatten().numpy().astype(np.float32)
    return {'shape': list(t.shape), 'values': [float(repr(v)) for v in vals]}


cases = {}
for norm, eps, step in (('linf', 8 / 255, 2 / 255), ('l2', 0.5, 0.2)):
    if norm == 'linf':
        d0 = (torch.rand(N, C, H, W, generator=g) * 2 - 1) * eps
    else:
        d0 = torch.randn(N, C, H, W, generator=g)
        d0 = d0 / d0.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * (0.8 * eps)
    d0 = (x + d0).clamp(0, 1) - x
    for direction in ('ascent', 'descent'):
        nd, loss = one_step(d0, norm, eps, step, direction)
        cases[f'{norm}_{direction}'] = {
            'norm': norm, 'eps': eps, 'step': step, 'direction': direction,
            'delta0': enc(d0), 'delta1': enc(nd), 'loss0': loss,
        }

out = {
    'torch': torch.__version__,
    'x': enc(x), 'y': y.tolist(),
    'conv_w': enc(conv_w), 'conv_b': enc(conv_b), 'lin_w': enc(lin_w), 'lin_b': enc(lin_b),
    'cases': cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'attack_pgd.json')
with open(path, 'w') as f:
    json.dump(out, f, separators=(',', ':'))
    f.write('\n')
print(f'wrote {path}')
