"""PyTorch side of `npm run bench -- diffusion`: the same improved-DDPM U-Net as eclipse's
(test/golden/gen_diffusion.py defines it independently, with the same state-dict names).

Long-lived: one JSON request per line on stdin, one JSON reply per line on stdout.
  {"op": "run", "config": {...UNetConfig...}, "mode": "train"|"sample", "batch": 32, "steps": 2,
   "device": "cpu"|"cuda"} -> {"seconds": [...], "params": N}
  {"op": "info", "device": "cuda"} -> torch version and the GPU's name and settings
  {"op": "quit"}
train: one Adam step on the eps-MSE of the 6-channel output (forward, backward, update);
sample: one reverse-step network evaluation under no_grad (eval mode).
On cuda every timed step ends with torch.cuda.synchronize(), as eclipse's steps do.
"""
import importlib.util
import json
import os
import sys
import time
import types

import torch

# A (CUDA) PyTorch install need not have NumPy. The golden generators import it, but only their
# golden-writing functions use it, not the U-Net: an empty stand-in lets them import. It is
# removed again at once, because torch looks NumPy up in sys.modules and would find the stand-in.
stand_in = importlib.util.find_spec('numpy') is None
if stand_in:
    sys.modules['numpy'] = types.ModuleType('numpy')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'golden'))
from gen_diffusion import TinyUNet  # noqa: E402
if stand_in:
    del sys.modules['numpy']

torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
cases = {}


def case(cfg, mode, batch, device):
    key = json.dumps([cfg, mode, batch, device], sort_keys=True)
    if key not in cases:
        torch.manual_seed(0)
        c = dict(cfg)
        c.setdefault('normGroups', 32)
        # initialised on the CPU from the seed, then moved (as eclipse's side does)
        m = TinyUNet(c).to(device)
        m.train(mode == 'train')
        x = torch.randn(batch, 3, c['imageSize'], c['imageSize']).to(device)
        t = torch.randint(0, 1000, (batch,)).float().to(device)
        opt = torch.optim.Adam(m.parameters(), lr=1e-4) if mode == 'train' else None
        cases[key] = (m, x, t, opt)
    return cases[key]


def info(device):
    out = {'torch': torch.__version__, 'device': device}
    if device.startswith('cuda'):
        out.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   allow_tf32_matmul=torch.backends.cuda.matmul.allow_tf32, allow_tf32_cudnn=torch.backends.cudnn.allow_tf32)
    return out


def run(req):
    device = req.get('device', 'cpu')
    m, x, t, opt = case(req['config'], req['mode'], req['batch'], device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    secs = []
    for _ in range(req['steps']):
        t0 = time.perf_counter()
        if opt is not None:
            opt.zero_grad(set_to_none=True)
            out = m(x, t)
            loss = ((out[:, :3] - x) ** 2).mean()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                m(x, t)
        sync()
        secs.append(time.perf_counter() - t0)
    return {'seconds': secs, 'params': sum(p.numel() for p in m.parameters())}


for line in sys.stdin:
    req = json.loads(line)
    if req['op'] == 'quit':
        print(json.dumps({'ok': True}), flush=True)
        break
    try:
        print(json.dumps(info(req.get('device', 'cpu')) if req['op'] == 'info' else run(req)), flush=True)
    except Exception as e:  # reported to the Node side
        print(json.dumps({'error': repr(e)}), flush=True)
