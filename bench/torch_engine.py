"""PyTorch side of `npm run bench -- engine`.

Runs as a long-lived subprocess so the Node benchmark can interleave its own timing rounds
with PyTorch's (ours, torch default, torch channels-last, ours, ...): machine drift then
hits every contender alike. Protocol: one JSON request per line on stdin, one JSON reply
per line on stdout. While a request is not being served the process blocks on stdin, so
it does not compete with the Node side for the CPU.

Requests:
  {"op": "info"}                                   -> torch version, threads, ...
  {"op": "run", "width": 64, "batch": 128, "layout": "default"|"channels_last",
   "mode": "train"|"forward", "steps": 2,
   "device": "cpu"|"cuda"}                          -> {"seconds": [per-step wall seconds],
                                                        "cpu_seconds": process CPU time,
                                                        "minor_faults": page faults}
  {"op": "free"}                                   -> drops every cached model
  {"op": "quit"}

Stand-alone use (prints one JSON line): python3 bench/torch_engine.py --once --width 16 \
    --mode train --layout channels_last --steps 3

On cuda (--device cuda, or "device" in a request) every timed step ends with
torch.cuda.synchronize(), as eclipse's steps end with F.synchronize().
"""

import argparse
import json
import platform
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from torch_models import resnet18  # noqa: E402


class Case:
    """One model + optimiser + fixed random batch for a (width, batch, layout, device)."""

    def __init__(self, width: int, batch: int, layout: str, device: str = "cpu", seed: int = 0):
        torch.manual_seed(seed)
        # built on the CPU from the seed, then moved (as eclipse's side does)
        self.model = resnet18(num_classes=10, width=width).to(device)
        x = torch.rand(batch, 3, 32, 32).to(device)
        self.y = torch.randint(0, 10, (batch,), dtype=torch.int64).to(device)
        self.sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        if layout == "channels_last":
            self.model = self.model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        elif layout != "default":
            raise ValueError(f"unknown layout {layout}")
        self.x = x
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)

    def train_step(self) -> None:
        self.model.train()
        # set_to_none=True: drop gradients as eclipse's zeroGrad does (PyTorch 2.x's default).
        self.opt.zero_grad(set_to_none=True)
        out = self.model(self.x)
        loss = F.cross_entropy(out, self.y)
        loss.backward()
        self.opt.step()

    def forward_step(self) -> None:
        self.model.eval()
        with torch.no_grad():
            out = self.model(self.x)
        del out

    def run(self, mode: str, steps: int):
        """Per-step wall seconds, the process CPU seconds (all threads) over the steps, and
        the minor page faults (fresh memory touched) over the steps."""
        step = self.train_step if mode == "train" else self.forward_step
        times = []
        c0 = time.process_time()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            self.sync()
            times.append(time.perf_counter() - t0)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        return times, time.process_time() - c0, faults


def gpu_info() -> dict:
    """The GPU and the settings that change its numbers (both engines share libtorch's defaults)."""
    if not torch.cuda.is_available():
        return {"available": False}
    return {
        "available": True,
        "name": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "allow_tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "allow_tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }


def info(device: str = "cpu") -> dict:
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "parallel_info": torch.__config__.parallel_info(),
        "device": device,
    }
    if device.startswith("cuda"):
        out["gpu"] = gpu_info()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--once", action="store_true", help="run one request from the flags and exit")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--layout", default="default")
    ap.add_argument("--mode", default="train")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where the requests run unless they say")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)

    if args.once:
        case = Case(args.width, args.batch, args.layout, args.device)
        case.run(args.mode, 1)
        secs, cpu, faults = case.run(args.mode, args.steps)
        print(json.dumps({"seconds": secs, "cpu_seconds": cpu, "minor_faults": faults, "img_s": args.batch * len(secs) / sum(secs), **info(args.device)}))
        return

    cases = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "info":
                reply = info(args.device)
            elif op == "run":
                key = (int(req["width"]), int(req["batch"]), str(req["layout"]), str(req.get("device", args.device)))
                if key not in cases:
                    cases[key] = Case(*key)
                secs, cpu, faults = cases[key].run(str(req["mode"]), int(req["steps"]))
                reply = {"seconds": secs, "cpu_seconds": cpu, "minor_faults": faults}
            elif op == "free":
                cases.clear()
                reply = {"ok": True}
            elif op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            else:
                reply = {"error": f"unknown op {op!r}"}
        except Exception as e:  # report to the Node side instead of dying silently
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
