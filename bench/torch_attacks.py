#!/usr/bin/python3
"""PyTorch side of `npm run bench -- attacks`: one L_inf PGD step on a frozen, eval-mode
CIFAR ResNet-18 (bench/torch_models.py) - forward, input gradient, signed step, projection -
timed over --steps steps after one warm-up step. Prints one JSON line:
{"seconds": [...], "img_s": ..., "torch": ..., "threads": ...}.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import resnet18  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = resnet18(num_classes=10, width=args.width).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,), dtype=torch.int64)
    eps, step = 8 / 255, 2 / 255
    delta = torch.zeros_like(x)

    def pgd_step(d: torch.Tensor) -> torch.Tensor:
        d = d.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x + d), y)
        (g,) = torch.autograd.grad(loss, d)
        with torch.no_grad():
            nd = (d + step * g.sign()).clamp(-eps, eps)
            return (x + nd).clamp(0, 1) - x

    delta = pgd_step(delta)
    secs = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        delta = pgd_step(delta)
        secs.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": secs, "img_s": args.batch * len(secs) / sum(secs), "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
