"""PyTorch reference for eclipse's classifier trainer, `mini` recipe (acceptance comparison).

Recipe: CIFAR ResNet-18 at width 16 (bench/torch_models.py, same network as ours), SGD with
lr 0.1, momentum 0.9, weight decay 5e-4, cosine annealing over the epochs (CosineAnnealingLR
stepped once per epoch), batch 128, random crop 32 with zero padding 4 + horizontal flip,
inputs in [0, 1] (ToTensor only: no mean/std normalisation), 2 threads. The test set is
evaluated every 5 epochs and at the end.

Data: two dataset files written by eclipse's data layer (src/data/store.ts), in the
safetensors format: tensor `images` uint8 [N, 3, 32, 32] and tensor `labels` int64 [N]
(int32 accepted). The format is parsed by hand (the safetensors package is not needed):
8-byte little-endian header length, a JSON header giving each tensor's dtype, shape and
data_offsets relative to the first byte after the header, then the raw bytes.

  /usr/bin/python3 bench/train_reference.py --train train.safetensors --test test.safetensors \\
      --epochs 30 --width 16 --seed 0 --out results.json
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import resnet18  # noqa: E402

_DTYPES = {
    "U8": np.uint8,
    "I8": np.int8,
    "I32": np.int32,
    "I64": np.int64,
    "F32": np.float32,
    "F64": np.float64,
    "BOOL": np.bool_,
}


def read_safetensors(path: str):
    """Return ({name: numpy array}, metadata dict) from a .safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise ValueError(f"{path}: bad safetensors header length {n}")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        dtype = info["dtype"]
        if dtype not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
        start, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        np_dtype = np.dtype(_DTYPES[dtype]).newbyteorder("<")
        count = int(np.prod(shape)) if shape else 1
        if end - start != count * np_dtype.itemsize or base + end > len(raw):
            raise ValueError(f"{path}: tensor {name!r} byte range [{start}, {end}) does not fit shape {list(shape)} {dtype}")
        arr = np.frombuffer(raw, dtype=np_dtype, count=count, offset=base + start).reshape(shape)
        tensors[name] = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    return tensors, metadata


def load_dataset(path: str):
    tensors, meta = read_safetensors(path)
    if "images" not in tensors or "labels" not in tensors:
        raise ValueError(f"{path}: needs tensors 'images' (uint8 [N,3,H,W]) and 'labels' (int64 [N]); has {sorted(tensors)}")
    images, labels = tensors["images"], tensors["labels"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{path}: 'images' must be uint8 [N, 3, H, W], got {images.dtype} {list(images.shape)}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{path}: 'labels' must be [N={images.shape[0]}], got {list(labels.shape)}")
    classes = None
    if "classes" in meta:
        try:
            classes = json.loads(meta["classes"])
        except ValueError:
            classes = None
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), classes, meta


def augment(batch_u8: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding `pad`) + horizontal flip per image, then scale to [0, 1].

    The same transform as torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip()
    + ToTensor(), done for the whole batch at once with index arithmetic.
    """
    b, c, h, w = batch_u8.shape
    padded = F.pad(batch_u8, (pad, pad, pad, pad))  # uint8 zeros at the border
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    ar_h = torch.arange(h)
    ar_w = torch.arange(w)
    rows = oy[:, None] + ar_h[None, :]  # [b, h]
    cols_fwd = ox[:, None] + ar_w[None, :]  # [b, w]
    cols_rev = ox[:, None] + (w - 1 - ar_w)[None, :]
    cols = torch.where(flip[:, None], cols_rev, cols_fwd)
    out = padded[
        torch.arange(b)[:, None, None, None],
        torch.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return out.float().div_(255.0)


@torch.no_grad()
def evaluate(model, images: torch.Tensor, labels: torch.Tensor, batch: int, channels_last: bool):
    model.eval()
    correct = 0
    loss_sum = 0.0
    for i in range(0, images.shape[0], batch):
        x = images[i : i + batch].float().div_(255.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = labels[i : i + batch]
        out = model(x)
        loss_sum += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    n = images.shape[0]
    return correct / n, loss_sum / n


def write_json_atomic(path: str, value) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="training set (.safetensors from eclipse's data layer)")
    ap.add_argument("--test", required=True, help="test set (.safetensors)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="results JSON (written atomically)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--eval-every", type=int, default=5, help="test-set evaluation period in epochs (and always at the end)")
    ap.add_argument("--eval-batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true", help="run model and inputs in channels_last (same maths, often faster on CPU)")
    args = ap.parse_args()

    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, y_train, classes, _ = load_dataset(args.train)
    x_test, y_test, test_classes, _ = load_dataset(args.test)
    if classes is None:
        classes = test_classes
    num_classes = len(classes) if classes else int(max(y_train.max().item(), y_test.max().item())) + 1
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / args.batch)
    print(
        f"reference: ResNet-18 width {args.width}, {num_classes} classes, train {n} / test {x_test.shape[0]} images, "
        f"{args.epochs} epochs x {steps_per_epoch} steps of {args.batch}, seed {args.seed}, {args.threads} threads, "
        f"torch {torch.__version__}{', channels_last' if args.channels_last else ''}",
        flush=True,
    )

    model = resnet18(num_classes=num_classes, width=args.width)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)

    history = []
    evals = []
    t_train = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        correct = 0
        for i in range(0, n, args.batch):
            idx = order[i : i + args.batch]
            x = augment(x_train[idx], gen)
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = y_train[idx]
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * y.shape[0]
            correct += (out.argmax(1) == y).sum().item()
        sched.step()
        secs = time.perf_counter() - t0
        rec = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / n, "train_acc": correct / n, "seconds": secs}
        msg = f"epoch {epoch:3d}/{args.epochs}  lr {lr:.4f}  loss {rec['train_loss']:.4f}  acc {rec['train_acc']:.4f}  {secs:.1f}s"
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            acc, tloss = evaluate(model, x_test, y_test, args.eval_batch, args.channels_last)
            rec["test_acc"] = acc
            rec["test_loss"] = tloss
            evals.append({"epoch": epoch, "test_acc": acc, "test_loss": tloss})
            msg += f"  test acc {acc:.4f}  test loss {tloss:.4f}"
        history.append(rec)
        print(msg, flush=True)
    train_seconds = time.perf_counter() - t_train
    wall = time.perf_counter() - t_start

    final = evals[-1] if evals else None
    result = {
        "recipe": "mini",
        "engine": "pytorch",
        "final_test_acc": final["test_acc"] if final else None,
        "final_test_loss": final["test_loss"] if final else None,
        "wall_seconds": wall,
        "train_seconds": train_seconds,
        "evals": evals,
        "epochs": history,
        "config": {
            "model": "resnet18",
            "width": args.width,
            "num_classes": num_classes,
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "momentum": args.momentum,
            "weight_decay": args.weight_decay,
            "schedule": "cosine (CosineAnnealingLR, T_max=epochs, stepped per epoch)",
            "augment": "random crop 32 pad 4 (zeros) + horizontal flip; inputs in [0,1], no normalisation",
            "seed": args.seed,
            "threads": args.threads,
            "channels_last": args.channels_last,
            "train_file": os.path.abspath(args.train),
            "test_file": os.path.abspath(args.test),
            "train_size": n,
            "test_size": int(x_test.shape[0]),
        },
        "torch_version": torch.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print(f"final test acc {result['final_test_acc']:.4f}  wall {wall:.1f}s (training {train_seconds:.1f}s)", flush=True)
    if args.out:
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
