#!/usr/bin/env python3
"""Exact Bayes purification under a Gaussian image prior: what any purifier at t* can reach.

ECLIPSE noises a poisoned image to x_t* = sqrt(abar) x_p + sqrt(1 - abar) eps and runs the reverse
chain, which draws x_0 from p(x_0 | x_t*). Under a Gaussian prior N(mu, C) fitted to all 50,000
CIFAR-10 training images both the MMSE estimate E[x_0 | x_t*] and an exact posterior sample have
closed forms in C's eigenbasis, so this script measures, per attack, the PSNR against the clean
originals of: the poisoned images, the noised ones, the MMSE estimate, a posterior sample, and
the share of the perturbation the MMSE map keeps. It is the reference behind docs/results.md,
"Why the purified images are not closer to clean in PSNR". Debian's python3 (numpy, torch).

  /usr/bin/python3 scripts/gaussian-purification-bound.py \
      --clean data/cifar10-mini/train.safetensors \
      --poisoned urp=data/cifar10-mini/poison-urp-s0.safetensors,lsp=...,ar=... [--n 500]
"""
import argparse
import math
import os
import sys
import tarfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench'))
from train_reference import read_safetensors  # noqa: E402  (the project's safetensors reader)


def load_images(path):
    """The uint8 [N,3,32,32] `images` tensor of an eclipse dataset (safetensors)."""
    images = read_safetensors(path)[0].get('images')
    if images is None or images.dtype != np.uint8:
        raise SystemExit(f'{path}: expected a uint8 `images` tensor (an eclipse dataset file)')
    return images


def cifar_train(tar_path):
    """All training images of the official CIFAR-10 binary release, as [N, 3072] uint8 (CHW)."""
    rows = []
    with tarfile.open(tar_path) as tf:
        for m in sorted(tf.getmembers(), key=lambda m: m.name):
            if 'data_batch' in m.name:
                rows.append(np.frombuffer(tf.extractfile(m).read(), np.uint8).reshape(-1, 3073)[:, 1:])
    if not rows:
        raise SystemExit(f'{tar_path}: no data_batch_*.bin inside (the official binary release?)')
    return np.concatenate(rows)


def alpha_bar(t, steps):
    """Improved-DDPM cosine schedule, abar after t forward steps (betas below the 0.999 clip here)."""
    f = lambda u: math.cos((u / steps + 0.008) / 1.008 * math.pi / 2) ** 2
    return f(t) / f(0)


def psnr(ref_u8, x_u8):
    mse = (((ref_u8.astype(np.float64) - x_u8) / 255.0) ** 2).mean(axis=1)
    return float(np.mean(10 * np.log10(1 / np.maximum(mse, 1e-12))))


def to_u8(x):
    return np.clip(np.round((x + 1) * 127.5), 0, 255)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cifar', default=os.environ.get('ECLIPSE_CIFAR10', '../shared/datasets/cifar-10-binary.tar.gz'))
    ap.add_argument('--clean', required=True)
    ap.add_argument('--poisoned', required=True, help='attack=file,attack=file,...')
    ap.add_argument('--n', type=int, default=500)
    ap.add_argument('--t-star', type=int, default=100)
    ap.add_argument('--steps', type=int, default=4000)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()

    # The prior: mean and covariance of every CIFAR-10 training image in [-1, 1].
    X = cifar_train(args.cifar).astype(np.float64) / 127.5 - 1
    mu = X.mean(axis=0)
    Xc = X - mu
    C = (Xc.T @ Xc) / (len(X) - 1)
    del X, Xc
    lam, U = np.linalg.eigh(C)
    lam = np.clip(lam, 0, None)

    # Posterior of x_0 given x_t = a x_0 + b eps, per eigendirection of C.
    ab = alpha_bar(args.t_star, args.steps)
    a, b = math.sqrt(ab), math.sqrt(1 - ab)
    gain = a * lam / (a * a * lam + b * b)  # E[z_0 | z_t] = mu_z + gain (z_t - a mu_z)
    post_var = lam * b * b / (a * a * lam + b * b)
    print(f'prior: {len(lam)} dims from CIFAR-10 train; t* = {args.t_star} of T = {args.steps}: '
          f'abar = {ab:.5f}, noise sigma = {b:.4f} in [-1, 1] ({b * 127.5:.1f}/255)')

    clean_u8 = load_images(args.clean)[:args.n].reshape(args.n, -1).astype(np.float64)
    clean = clean_u8 / 127.5 - 1
    rng = np.random.default_rng(args.seed)
    print(f'{"images":8} {"poisoned":>9} {"noised":>8} {"MMSE":>8} {"sample":>8} {"kept":>6}   (PSNR dB vs clean, n = {args.n})')
    for name, path in [('clean', None)] + [tuple(kv.split('=', 1)) for kv in args.poisoned.split(',')]:
        x_u8 = clean_u8 if path is None else load_images(path)[:args.n].reshape(args.n, -1).astype(np.float64)
        x = x_u8 / 127.5 - 1
        xt = a * x + b * rng.standard_normal(x.shape)
        z = (xt - a * mu) @ U
        mmse = mu + (gain * z) @ U.T
        sample = mu + (gain * z + np.sqrt(post_var) * rng.standard_normal(z.shape)) @ U.T
        # Share of the perturbation delta the MMSE map passes on: <a G delta, delta> / |delta|^2.
        delta = x - clean
        kept = float(np.sum(((delta @ U) * gain * a) @ U.T * delta) / max(np.sum(delta * delta), 1e-30))
        poisoned = 'inf' if path is None else f'{psnr(clean_u8, x_u8):.2f}'
        print(f'{name:8} {poisoned:>9} {psnr(clean_u8, to_u8(xt)):8.2f} {psnr(clean_u8, to_u8(mmse)):8.2f} '
              f'{psnr(clean_u8, to_u8(sample)):8.2f} {kept if path else float("nan"):6.3f}', flush=True)


if __name__ == '__main__':
    main()
