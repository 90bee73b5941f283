#!/usr/bin/python3
"""Reference numbers for test/nn.test.ts, computed with PyTorch.

Run with Debian's python3-torch (the pyenv python3 on PATH has no torch):

    /usr/bin/python3 test/golden/gen_models.py

It defines the CIFAR classifiers the TypeScript code builds (ResNet-18/34/50, VGG-16/19,
DenseNet-121, each with a `width` multiplier) and writes test/golden/models.json with:

  models.<name>:   at width 8, the ordered parameter and buffer names with shapes, the
                   parameter count, and the logits (eval and train mode) for a fixed input
                   with every state-dict tensor filled by golden_fill() below;
  counts64.<name>: the parameter count at the standard width 64;
  optim.<case>:    a Linear(5, 3) model's parameters after each of 3 optimizer steps;
  schedules.<case>: learning rates per epoch from torch.optim.lr_scheduler.

Weights are not stored: golden_fill() derives every value from an integer hash of the
tensor's name and the element index, which the TypeScript test reproduces bit for bit.
"""
import json
import math
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
warnings.filterwarnings('ignore', message='The epoch parameter')  # SequentialLR's own deprecated call
M32 = 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Deterministic values shared with the TypeScript test (see goldenUniform there).

def fnv1a(name):
    h = 0x811C9DC5
    for c in name.encode('ascii'):
        h ^= c
        h = (h * 0x01000193) & M32
    return h


def uniform(n, key):
    """n numbers in [0, 1): a murmur3-style finaliser of (index, key), divided by 2^32."""
    j = np.arange(n, dtype=np.uint64)
    x = (j * np.uint64(0x9E3779B1) + np.uint64((key * 0x85EBCA77) & M32) + np.uint64(0x165667B1)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 4294967296.0


def golden_values(name, shape):
    """float32 values for one state-dict entry (None: leave it as it is)."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(n, fnv1a(name))
    s = 2.0 * u - 1.0
    if name.endswith('num_batches_tracked'):
        return None
    if name.endswith('running_var'):
        v = 0.5 + u
    elif name.endswith('running_mean'):
        v = 0.1 * s
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = s * math.sqrt(6.0 / fan_in)
    elif name.endswith('weight'):
        v = 1.0 + 0.2 * s
    else:
        v = 0.1 * s
    return v.astype(np.float32).reshape(shape)


def golden_fill(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            v = golden_values(name, list(t.shape))
            if v is not None:
                t.copy_(torch.from_numpy(v))


def golden_input(name, shape):
    n = int(np.prod(shape))
    return torch.from_numpy((2.0 * uniform(n, fnv1a(name)) - 1.0).astype(np.float32).reshape(shape))


# ---------------------------------------------------------------------------
# The architectures (CIFAR variants; `width` 64 is the standard network).

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class BottleneckBlock(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != out:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, block, counts, width, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        for i, n in enumerate(counts):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width * 2 ** i, 2 if (j == 0 and i > 0) else 1))
                cin = width * 2 ** i * block.expansion
            setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        for i in range(4):
            y = getattr(self, f'layer{i + 1}')(y)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


VGG_STAGES = {'vgg16': [2, 2, 3, 3, 3], 'vgg19': [2, 2, 4, 4, 4]}


class VGG(nn.Module):
    def __init__(self, name, width, classes=10):
        super().__init__()
        layers = []
        cin = 3
        for stage, convs in enumerate(VGG_STAGES[name]):
            cout = width * 2 ** min(stage, 3)
            for _ in range(convs):
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        y = self.features(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        y = self.conv2(F.relu(self.bn2(y)))
        return torch.cat([y, x], 1)


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(nn.Module):
    def __init__(self, counts, width, classes=10):
        super().__init__()
        growth = max(1, math.floor(width / 2 + 0.5))  # as Math.round in the TS code
        c = 2 * growth
        self.conv1 = nn.Conv2d(3, c, 3, padding=1, bias=False)
        for i, n in enumerate(counts):
            layers = []
            for _ in range(n):
                layers.append(DenseLayer(c, growth))
                c += growth
            setattr(self, f'dense{i + 1}', nn.Sequential(*layers))
            if i < len(counts) - 1:
                out = c // 2
                setattr(self, f'trans{i + 1}', Transition(c, out))
                c = out
        self.bn = nn.BatchNorm2d(c)
        self.linear = nn.Linear(c, classes)

    def forward(self, x):
        y = self.conv1(x)
        y = self.trans1(self.dense1(y))
        y = self.trans2(self.dense2(y))
        y = self.trans3(self.dense3(y))
        y = self.dense4(y)
        y = F.adaptive_avg_pool2d(F.relu(self.bn(y)), 1)
        return self.linear(torch.flatten(y, 1))


def build(name, width):
    if name == 'resnet18':
        return ResNet(BasicBlock, [2, 2, 2, 2], width)
    if name == 'resnet34':
        return ResNet(BasicBlock, [3, 4, 6, 3], width)
    if name == 'resnet50':
        return ResNet(BottleneckBlock, [3, 4, 6, 3], width)
    if name in VGG_STAGES:
        return VGG(name, width)
    if name == 'densenet121':
        return DenseNet([6, 12, 24, 16], width)
    raise ValueError(name)


NAMES = ['resnet18', 'resnet34', 'resnet50', 'vgg16', 'vgg19', 'densenet121']
WIDTH = 8


def rounded(t):
    return [float(f'{v:.7g}') for v in t.detach().flatten().tolist()]


def model_case(name):
    m = build(name, WIDTH)
    golden_fill(m)
    x = golden_input('input', [2, 3, 32, 32])
    m.eval()
    with torch.no_grad():
        eval_logits = m(x)
    m.train()
    with torch.no_grad():
        train_logits = m(x)
    return {
        'width': WIDTH,
        'params': [[n, list(p.shape)] for n, p in m.named_parameters()],
        'buffers': [[n, list(b.shape)] for n, b in m.named_buffers()],
        'paramCount': sum(p.numel() for p in m.parameters()),
        'evalLogits': rounded(eval_logits),
        'trainLogits': rounded(train_logits),
    }


# ---------------------------------------------------------------------------
# Optimizers: Linear(5, 3) trained 3 steps on a fixed batch.

OPTIM_CASES = {
    'sgd': lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
    'adam': lambda p: torch.optim.Adam(p, lr=0.01),
    'adam_l2': lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
    'adamw': lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
    'adamw_betas': lambda p: torch.optim.AdamW(p, lr=0.03, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.2),
}


def optim_case(make):
    lin = nn.Linear(5, 3)
    golden_fill(lin)
    x = golden_input('optim.x', [4, 5])
    y = torch.tensor([0, 2, 1, 2])
    opt = make(list(lin.parameters()))
    steps = []
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(lin(x), y).backward()
        opt.step()
        steps.append({'weight': rounded(lin.weight), 'bias': rounded(lin.bias)})
    return steps


# ---------------------------------------------------------------------------
# Schedules (per-epoch lrs as PyTorch's schedulers report them).

def lrs(make_sched, lr0, epochs):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr0)
    sched = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return out


def schedule_cases():
    S = torch.optim.lr_scheduler
    return {
        'cosine': {'spec': {'kind': 'cosine', 'lr': 0.1, 'total': 10},
                   'lrs': lrs(lambda o: S.CosineAnnealingLR(o, T_max=10), 0.1, 11)},
        'cosine_min': {'spec': {'kind': 'cosine', 'lr': 0.05, 'total': 7, 'min': 0.001},
                       'lrs': lrs(lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001), 0.05, 8)},
        'multistep': {'spec': {'kind': 'multistep', 'lr': 0.1, 'milestones': [3, 6], 'gamma': 0.1},
                      'lrs': lrs(lambda o: S.MultiStepLR(o, milestones=[3, 6], gamma=0.1), 0.1, 9)},
        'warmup_cosine': {
            'spec': {'kind': 'cosine', 'lr': 0.1, 'total': 10, 'warmup': 3},
            'lrs': lrs(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 3, end_factor=1.0, total_iters=2),
                                                   S.CosineAnnealingLR(o, T_max=7)], milestones=[3]), 0.1, 11)},
    }


def main():
    out = {
        'torch': torch.__version__,
        'models': {n: model_case(n) for n in NAMES},
        'counts64': {n: sum(p.numel() for p in build(n, 64).parameters()) for n in NAMES},
        'optim': {k: optim_case(make) for k, make in OPTIM_CASES.items()},
        'schedules': schedule_cases(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models.json')
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {path} ({os.path.getsize(path)} bytes)')
    for n in NAMES:
        print(f"{n}: width {WIDTH} params {out['models'][n]['paramCount']}, width 64 params {out['counts64'][n]}")


if __name__ == '__main__':
    main()
