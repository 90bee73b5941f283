#!/usr/bin/python3
"""Reference numbers for test/diffusion.test.ts, computed with PyTorch / numpy in float64.

Run with Debian's python3-torch (the python3 on PATH has no torch):

    /usr/bin/python3 test/golden/gen_diffusion.py

Writes test/golden/diffusion.json with:

  unets.<case>:  a tiny improved-DDPM U-Net written here independently of the TypeScript
                 one (same state-dict names): its config, every state-dict tensor (random,
                 7-bit quantised values, so both sides hold the same float32 numbers; the
                 zero-initialised layers are randomised too), a fixed input, float
                 timesteps and the output in eval mode;
  maths:         a 50-step cosine process: a few schedule constants, and for fixed x_0, t,
                 noise and a fixed network output [eps | v]: x_t, the posterior, the
                 learned-range p(x_{t-1}|x_t) (with and without clipping), the vb terms and
                 the hybrid loss terms, all in float64;
  counts:        parameter counts of the CIFAR network (128 channels, 3 blocks, attention
                 at 16 and 8, mult 1,2,2,2) and of a 32-channel, 2-block one;
  spacing:       kept steps for a few respacing specs (improved-DDPM's rule).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gen_golden import quant  # the same 7-bit quantisation as the op goldens

torch.set_num_threads(2)
GEN = torch.Generator().manual_seed(20240917)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'diffusion.json')


def enc(t):
    t = t.detach().contiguous()
    dt = {torch.float32: 'float32', torch.float64: 'float64', torch.int64: 'int64'}[t.dtype]
    flat = t.reshape(-1)
    data = [float(repr(v)) for v in flat.numpy()] if dt == 'float32' else flat.tolist()
    return {'dtype': dt, 'shape': list(t.shape), 'data': data}


# ---------------------------------------------------------------------------
# A small improved-DDPM U-Net (written for this test; the module tree reproduces the
# reference implementation's state-dict names).

def groups_for(channels, most):
    g = max(1, min(most, channels))
    while channels % g:
        g -= 1
    return g


def sinusoid(t, dim, max_period=10000):
    half = dim // 2
    # on t's device, so that bench/torch_diffusion.py can run this U-Net on cuda (same values)
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t.float()[:, None] * freqs[None, :]
    e = torch.cat([torch.cos(a), torch.sin(a)], dim=1)
    return F.pad(e, (0, 1)) if dim % 2 else e


class Res(nn.Module):
    def __init__(self, cin, emb, cout, film, groups):
        super().__init__()
        self.film = film
        self.in_layers = nn.Sequential(nn.GroupNorm(groups_for(cin, groups), cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, 2 * cout if film else cout))
        self.out_layers = nn.Sequential(nn.GroupNorm(groups_for(cout, groups), cout), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb):
        h = self.in_layers(x)
        e = self.emb_layers(emb)[:, :, None, None]
        if self.film:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (scale + 1) + shift
        else:
            h = self.out_layers[0](h + e)
        for layer in self.out_layers[1:]:
            h = layer(h)
        return self.skip_connection(x) + h


class Attn(nn.Module):
    def __init__(self, ch, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups_for(ch, groups), ch)
        self.qkv = nn.Conv1d(ch, 3 * ch, 1)
        self.proj_out = nn.Conv1d(ch, ch, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        flat = x.reshape(b, c, hh * ww)
        qkv = self.qkv(self.norm(flat)).reshape(b * self.heads, -1, hh * ww)
        d = qkv.shape[1] // 3
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        logits = torch.matmul(q.transpose(1, 2), k) / math.sqrt(d)
        w = torch.softmax(logits, dim=-1)
        a = torch.matmul(v, w.transpose(1, 2)).reshape(b, c, hh * ww)
        return (flat + self.proj_out(a)).reshape(b, c, hh, ww)


class Seq(nn.ModuleList):
    def forward(self, x, emb):
        for m in self:
            x = m(x, emb) if isinstance(m, Res) else m(x)
        return x


class Down(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Up(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class TinyUNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        mc, G, film, heads = c['modelChannels'], c['normGroups'], c['useScaleShiftNorm'], c['numHeads']
        emb = 4 * mc
        self.mc = mc
        att = lambda ds: (c['imageSize'] // ds) in c['attentionResolutions']
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        blocks = [Seq([nn.Conv2d(c['inChannels'], mc, 3, padding=1)])]
        widths = [mc]
        ch, ds = mc, 1
        mults = c['channelMult']
        for level, m in enumerate(mults):
            for _ in range(c['numResBlocks']):
                layers = [Res(ch, emb, m * mc, film, G)]
                ch = m * mc
                if att(ds):
                    layers.append(Attn(ch, heads, G))
                blocks.append(Seq(layers))
                widths.append(ch)
            if level + 1 < len(mults):
                blocks.append(Seq([Down(ch)]))
                widths.append(ch)
                ds *= 2
        self.input_blocks = nn.ModuleList(blocks)
        self.middle_block = Seq([Res(ch, emb, ch, film, G), Attn(ch, heads, G), Res(ch, emb, ch, film, G)])
        outs = []
        for level in reversed(range(len(mults))):
            for i in range(c['numResBlocks'] + 1):
                layers = [Res(ch + widths.pop(), emb, mc * mults[level], film, G)]
                ch = mc * mults[level]
                if att(ds):
                    layers.append(Attn(ch, heads, G))
                if level > 0 and i == c['numResBlocks']:
                    layers.append(Up(ch))
                    ds //= 2
                outs.append(Seq(layers))
        self.output_blocks = nn.ModuleList(outs)
        self.out = nn.Sequential(nn.GroupNorm(groups_for(ch, G), ch), nn.SiLU(), nn.Conv2d(ch, c['outChannels'], 3, padding=1))

    def forward(self, x, t):
        emb = self.time_embed(sinusoid(t, self.mc))
        skips = []
        h = x
        for b in self.input_blocks:
            h = b(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for b in self.output_blocks:
            h = b(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)


def unet_case(cfg):
    torch.manual_seed(0)
    m = TinyUNet(cfg).eval()
    state = {}
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith('weight') and v.dim() == 1:
                raw = 1 + 0.3 * torch.randn(v.shape, generator=GEN, dtype=torch.float64)  # norm scales
            elif v.dim() == 1:
                raw = 0.2 * torch.randn(v.shape, generator=GEN, dtype=torch.float64)
            else:
                raw = torch.randn(v.shape, generator=GEN, dtype=torch.float64) / math.sqrt(v[0].numel())
            qv, state[k] = quant(raw)
            v.copy_(qv)
    B = 2
    x, xe = quant(torch.randn(B, cfg['inChannels'], cfg['imageSize'], cfg['imageSize'], generator=GEN, dtype=torch.float64))
    t = torch.tensor([3.25, 912.5], dtype=torch.float32)
    with torch.no_grad():
        y = m(x, t)
    return {'config': cfg, 'paramCount': sum(p.numel() for p in m.parameters()),
            'names': list(m.state_dict().keys()), 'state': state, 'x': xe, 't': enc(t), 'out': enc(y)}


# ---------------------------------------------------------------------------
# Diffusion maths in float64 (numpy for the schedule, torch for the rest).

def cosine_betas(T, s=0.008, max_beta=0.999):
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)], dtype=np.float64)


def derived(betas):
    abar = np.cumprod(1.0 - betas)
    prev = np.append(1.0, abar[:-1])
    pvar = betas * (1 - prev) / (1 - abar)
    return {
        'betas': betas, 'abar': abar, 'prev': prev, 'pvar': pvar,
        'plogvar': np.log(np.append(pvar[1], pvar[1:])),
        'c1': betas * np.sqrt(prev) / (1 - abar),
        'c2': (1 - prev) * np.sqrt(1 - betas) / (1 - abar),
    }


def cdf_approx(x):
    return 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def disc_loglik(x, mean, log_scale):
    z = x - mean
    inv = torch.exp(-log_scale)
    up = cdf_approx(inv * (z + 1 / 255))
    lo = cdf_approx(inv * (z - 1 / 255))
    mid = torch.log(torch.clamp(up - lo, min=1e-12))
    left = torch.log(torch.clamp(up, min=1e-12))
    right = torch.log(torch.clamp(1 - lo, min=1e-12))
    return torch.where(x < -0.999, left, torch.where(x > 0.999, right, mid))


def kl(m1, lv1, m2, lv2):
    return 0.5 * (lv2 - lv1 - 1 + torch.exp(lv1 - lv2) + (m1 - m2) ** 2 * torch.exp(-lv2))


def maths_case():
    T = 50
    d = derived(cosine_betas(T))
    g = lambda name, t: torch.from_numpy(d[name])[t].reshape(-1, 1, 1, 1)
    B, C, H = 4, 3, 4
    x0 = torch.randint(0, 256, (B, C, H, H), generator=GEN).to(torch.float64) / 127.5 - 1
    x0[0, 0, 0, 0], x0[0, 0, 0, 1] = -1.0, 1.0  # both edge bins at t = 0
    t = torch.tensor([0, 1, 17, 49])
    noise = torch.randn(B, C, H, H, generator=GEN, dtype=torch.float64)
    out = torch.cat([torch.randn(B, C, H, H, generator=GEN, dtype=torch.float64),
                     2.4 * torch.rand(B, C, H, H, generator=GEN, dtype=torch.float64) - 1.2], dim=1)
    xt = g('abar', t).sqrt() * x0 + (1 - g('abar', t)).sqrt() * noise
    post_mean = g('c1', t) * x0 + g('c2', t) * xt
    post_logvar = g('plogvar', t).expand_as(xt)
    eps, v = out[:, :C], out[:, C:]

    def p(clip):
        x0_hat = (1 / g('abar', t)).sqrt() * xt - (1 / g('abar', t) - 1).sqrt() * eps
        if clip:
            x0_hat = x0_hat.clamp(-1, 1)
        frac = (v + 1) / 2
        logvar = frac * torch.log(g('betas', t)) + (1 - frac) * g('plogvar', t)
        return {'mean': g('c1', t) * x0_hat + g('c2', t) * xt, 'logVariance': logvar, 'predXStart': x0_hat}

    pc, pn = p(True), p(False)
    kl_bits = kl(post_mean, post_logvar, pn['mean'], pn['logVariance']).flatten(1).mean(1) / math.log(2)
    nll_bits = -disc_loglik(x0, pn['mean'], 0.5 * pn['logVariance']).flatten(1).mean(1) / math.log(2)
    vb_raw = torch.where(t == 0, nll_bits, kl_bits)
    mse = ((noise - eps) ** 2).flatten(1).mean(1)
    vb = vb_raw * (T / 1000)
    pick = [0, 1, 17, 24, 49]
    return {
        'T': T,
        'schedule': {'t': pick, **{k: [float(d[k][i]) for i in pick] for k in ('betas', 'abar', 'pvar', 'plogvar', 'c1', 'c2')}},
        'x0': enc(x0), 't': enc(t), 'noise': enc(noise), 'out': enc(out),
        'xt': enc(xt), 'postMean': enc(post_mean), 'postLogVar': enc(post_logvar),
        'pClip': {k: enc(val) for k, val in pc.items()}, 'pNoClip': {k: enc(val) for k, val in pn.items()},
        'vbRaw': enc(vb_raw), 'mse': enc(mse), 'vb': enc(vb), 'loss': enc(mse + vb),
    }


def spaced(T, spec):
    if spec.startswith('ddim'):
        n = int(spec[4:])
        for stride in range(1, T):
            if len(range(0, T, stride)) == n:
                return list(range(0, T, stride))
        raise ValueError(spec)
    counts = [int(c) for c in spec.split(',')]
    per, extra = divmod(T, len(counts))
    steps, start = [], 0
    for i, n in enumerate(counts):
        size = per + (1 if i < extra else 0)
        stride = 1 if n <= 1 else (size - 1) / (n - 1)
        steps += [start + round(k * stride) for k in range(n)]  # Python rounds halves to even
        start += size
    return steps


def main():
    tiny = dict(imageSize=8, inChannels=3, modelChannels=8, outChannels=6, numResBlocks=1, attentionResolutions=[4],
                dropout=0.0, channelMult=[1, 2], numHeads=2, numHeadsUpsample=2, useScaleShiftNorm=True, normGroups=4)
    plain = dict(tiny, useScaleShiftNorm=False, normGroups=32, numHeads=1, numHeadsUpsample=1, attentionResolutions=[8, 4])
    cifar = dict(tiny, imageSize=32, modelChannels=128, numResBlocks=3, attentionResolutions=[16, 8], channelMult=[1, 2, 2, 2],
                 numHeads=4, numHeadsUpsample=4, normGroups=32)
    small = dict(cifar, modelChannels=32, numResBlocks=2)
    doc = {
        'meta': {'torch': torch.__version__, 'generator': 'test/golden/gen_diffusion.py'},
        'unets': {'film': unet_case(tiny), 'plain': unet_case(plain)},
        'maths': maths_case(),
        'counts': {name: sum(p.numel() for p in TinyUNet(c).parameters()) for name, c in (('cifar', cifar), ('small', small))},
        'spacing': [{'T': T, 'spec': s, 'steps': spaced(T, s)} for T, s in
                    [(4000, 'ddim25'), (1000, 'ddim50'), (300, '10,15,20'), (4000, '25'), (100, '7'), (10, '3,3')]],
    }
    text = json.dumps(doc, separators=(',', ':'))
    with open(OUT, 'w') as f:
        f.write(text + '\n')
    print(f'wrote {OUT}: {len(text) / 1e6:.3f} MB; params {doc["counts"]}')


if __name__ == '__main__':
    main()
