#!/usr/bin/env node
// The op goldens on every device the engine reaches. Each case of test/golden/ops.json (PyTorch's
// outputs and input gradients, from test/golden/gen_golden.py) and the width-8 ResNet-18 golden
// run on the CPU and, where a GPU is usable, on cuda. The CPU results are compared with the
// goldens (the tests' tolerances); the cuda results with the goldens and with the CPU results.
// Part of scripts/gpu-check.sh; on a machine without a GPU it checks the CPU and says so.
//
//   node scripts/gpu-ops.mjs [--out FILE.json]      (exit 0: all close, 1: some differ)
//
// cuDNN may use TF32 for float32 convolutions on Ampere and newer GPUs (libtorch's default, which
// the addon keeps): gpu-check.sh sets NVIDIA_TF32_OVERRIDE=0 so that the comparison is of float32
// arithmetic; the JSON records whether it was set.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
const { F, tidy, noGrad } = await dist('src/engine/index.js');
const { resnet18 } = await dist('src/nn/models/resnet.js');
// The op table (by the names gen_golden.py uses) and the golden tensors' conversion, shared with
// test/engine.test.ts: the kit's dist/ carries this one compiled test helper (scripts/gpu-pack.sh).
const { OPS, asList, fromGolden, goldenInputs, goldenValues } = await dist('test/helpers/golden-ops.js');

const outFlag = process.argv.indexOf('--out');
const outPath = outFlag > 0 ? process.argv[outFlag + 1] : null;
const golden = JSON.parse(readFileSync(join(root, 'test', 'golden', 'ops.json'), 'utf8'));
F.setNumThreads(2);

// ---------------------------------------------------------------------------
// Tensors and comparisons

/** The tests' tolerances (test/helpers/gradcheck.ts); `loose` multiplies them for the GPU. */
const TOL = { float32: { rtol: 1e-4, atol: 1e-5 }, float64: { rtol: 1e-9, atol: 1e-12 } };
// GPU kernels sum in other orders, use atomics in some backward passes and other convolution
// algorithms; ten times the CPU tolerance is still far below any real error at these sizes.
const GPU_FACTOR = 10;

/**
 * How close `actual` is to `expected`: the largest absolute and relative error and the worst
 * excess over the tolerance (<= 0: close). Integer and bool tensors must be equal.
 */
function compare(actual, expected, dtype, tol) {
  if (actual.length !== expected.length) return { ok: false, why: `${actual.length} elements, expected ${expected.length}` };
  const exact = !(dtype in TOL);
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (Number.isNaN(d)) return { ok: false, why: `element ${i} is ${actual[i]}, expected ${expected[i]}`, maxAbs: Infinity };
    maxAbs = Math.max(maxAbs, d);
    if (expected[i] !== 0) maxRel = Math.max(maxRel, d / Math.abs(expected[i]));
    worst = Math.max(worst, exact ? d : d - (tol.atol + tol.rtol * Math.abs(expected[i])));
  }
  return { ok: worst <= 0, maxAbs, maxRel, ...(worst > 0 ? { why: `max abs error ${maxAbs.toExponential(2)} over tolerance` } : {}) };
}

const scaled = (tol, k) => ({ rtol: tol.rtol * k, atol: tol.atol * k });

// ---------------------------------------------------------------------------
// Running a case: every result as { what: { dtype, shape, data } }, computed on one device.

const snapshot = (t) => ({ dtype: t.dtype, shape: t.shape, data: t.toArray() });

function runOpCase(c, device) {
  return tidy(() => {
    const inputs = goldenInputs(c, device);
    const outs = asList(OPS[c.op](inputs, c.args));
    const got = {};
    outs.forEach((o, i) => (got[`out${i}`] = snapshot(o)));
    for (const k of Object.keys(c.mutated ?? {})) got[`${k} after`] = snapshot(inputs[k]);
    if (c.diff) {
      const gw = c.gw.map((g) => fromGolden(g, { device }));
      const grads = F.grad(outs, c.diff.map((k) => inputs[k]), { gradOutputs: gw });
      c.diff.forEach((k, i) => (got[`d/d${k}`] = grads[i] ? snapshot(grads[i]) : null));
    }
    if (device !== 'cpu') F.synchronize();
    return got;
  });
}

/** The goldens of a case, keyed as runOpCase keys its results. */
function opExpected(c) {
  const want = {};
  c.out.forEach((g, i) => (want[`out${i}`] = g));
  for (const [k, g] of Object.entries(c.mutated ?? {})) want[`${k} after`] = g;
  for (const k of c.diff ?? []) want[`d/d${k}`] = c.grads[k];
  return want;
}

/** ResNet-18 width 8: eval and train logits, loss, parameter and input gradients, running stats. */
function runResnet(R, device) {
  const m = resnet18({ width: R.width });
  try {
    return tidy(() => {
      noGrad(() => m.loadStateDict(new Map(Object.entries(R.state).map(([k, g]) => [k, fromGolden(g)]))));
      if (device !== 'cpu') m.to(device);
      const x = fromGolden(R.input, { device });
      const got = {};
      m.eval();
      got.logitsEval = snapshot(noGrad(() => m.forward(x)));
      m.train();
      x.requiresGrad_(true);
      const logits = m.forward(x);
      got.logitsTrain = snapshot(logits);
      const loss = F.crossEntropy(logits, fromGolden(R.target, { device }));
      got.loss = snapshot(loss);
      const params = new Map(m.namedParameters());
      const names = Object.keys(R.grads);
      const grads = F.grad(loss, [...names.map((n) => params.get(n)), x]);
      names.forEach((n, i) => (got[`d/d${n}`] = snapshot(grads[i])));
      got['d/dinput'] = snapshot(grads[names.length].narrow(0, 0, 2));
      const sd = m.stateDict();
      for (const k of Object.keys(R.statsAfterTrain)) got[`${k} after`] = snapshot(sd.get(k));
      if (device !== 'cpu') F.synchronize();
      return got;
    });
  } finally {
    m.dispose();
  }
}

function resnetExpected(R) {
  const want = { logitsEval: R.logitsEval, logitsTrain: R.logitsTrain, loss: { dtype: 'float32', shape: [], data: [R.loss] } };
  for (const [n, g] of Object.entries(R.grads)) want[`d/d${n}`] = g;
  want['d/dinput'] = R.inputGrad;
  for (const [k, g] of Object.entries(R.statsAfterTrain)) want[`${k} after`] = g;
  return want;
}

/** Gradients of a whole network sum many terms: tolerance scaled to the gradient's size (as layers.test.ts). */
function resnetTol(what, g) {
  if (!what.startsWith('d/d')) return TOL.float32;
  const scale = Math.max(...goldenValues(g).map(Math.abs));
  return { rtol: 1e-4, atol: 2e-5 * scale };
}

// ---------------------------------------------------------------------------
// Main

const cases = Object.entries(golden.ops).map(([name, c]) => ({
  name,
  dtype: c.dtype,
  run: OPS[c.op] ? (device) => runOpCase(c, device) : null,
  want: opExpected(c),
  tol: () => TOL[c.dtype] ?? TOL.float32,
}));
cases.push({ name: 'resnet18_w8', dtype: 'float32', run: (device) => runResnet(golden.resnet, device), want: resnetExpected(golden.resnet), tol: (what, g) => resnetTol(what, g) });

const cudaOk = F.cudaAvailable();
const devices = ['cpu', ...(cudaOk ? ['cuda'] : [])];
const v = F.engineVersion();
const report = {
  engine: { libtorch: v.torch, cuda_build: v.cuda, cuda_available: cudaOk },
  golden_torch: golden.meta?.torch,
  tf32: process.env.NVIDIA_TF32_OVERRIDE === '0' ? 'off (NVIDIA_TF32_OVERRIDE=0)' : 'libtorch default (cuDNN may use TF32 on Ampere+)',
  tolerance: { cpu: TOL, cuda: `${GPU_FACTOR} x the cpu tolerance, against the goldens and against the cpu results` },
  devices: {},
  failures: [],
};
const started = performance.now();
const cpuResults = new Map();
for (const device of devices) {
  const stats = { status: 'ok', cases: 0, passed: 0, failed: 0, no_op: 0, max_abs_err: 0, max_rel_err: 0, worst: null, within_cpu_tolerance: 0, seconds: 0 };
  const t0 = performance.now();
  for (const c of cases) {
    if (!c.run) {
      stats.no_op++;
      continue;
    }
    stats.cases++;
    let got;
    try {
      got = c.run(device);
    } catch (e) {
      stats.failed++;
      report.failures.push({ case: c.name, device, error: (e instanceof Error ? e.message : String(e)).split('\n')[0] });
      continue;
    }
    if (device === 'cpu') cpuResults.set(c.name, got);
    let ok = true;
    let strict = true;
    // Each result against its golden, and on the GPU also against the CPU's result.
    for (const [what, g] of Object.entries(c.want)) {
      const a = got[what];
      const against = [['golden', goldenValues(g), g.dtype, g.shape]];
      const cpu = cpuResults.get(c.name)?.[what];
      if (device !== 'cpu' && cpu) against.push(['cpu', cpu.data, cpu.dtype, cpu.shape]);
      for (const [ref, data, dtype, shape] of against) {
        let r;
        if (!a) r = { ok: false, why: 'no result' };
        else if (a.dtype !== dtype || a.shape.join() !== shape.join()) r = { ok: false, why: `${a.dtype}[${a.shape}] vs ${dtype}[${shape}]` };
        else {
          const tol = c.tol(what, g);
          r = compare(a.data, data, dtype, device === 'cpu' ? tol : scaled(tol, GPU_FACTOR));
          if (device !== 'cpu' && r.ok && !compare(a.data, data, dtype, tol).ok) strict = false;
        }
        if (r.maxAbs > stats.max_abs_err) {
          stats.max_abs_err = r.maxAbs;
          stats.worst = `${c.name} ${what} vs ${ref}`;
        }
        stats.max_rel_err = Math.max(stats.max_rel_err, r.maxRel ?? 0);
        if (!r.ok) {
          ok = false;
          const sig = (x) => (x === undefined ? undefined : Number(x.toPrecision(3)));
          if (report.failures.length < 40)
            report.failures.push({ case: c.name, device, result: what, against: ref, why: r.why, max_abs_err: sig(r.maxAbs), max_rel_err: sig(r.maxRel) });
        }
      }
    }
    if (ok) stats.passed++;
    else stats.failed++;
    if (ok && strict) stats.within_cpu_tolerance++;
  }
  stats.seconds = Math.round((performance.now() - t0) / 100) / 10;
  stats.max_abs_err = Number(stats.max_abs_err.toExponential(3));
  stats.max_rel_err = Number(stats.max_rel_err.toExponential(3));
  if (device === 'cpu') delete stats.within_cpu_tolerance;
  if (stats.failed > 0) stats.status = 'failed';
  report.devices[device] = stats;
  console.error(
    `gpu-ops: ${device}: ${stats.passed}/${stats.cases} cases close to the goldens${device === 'cpu' ? '' : ' and to the cpu'}` +
      ` (max abs error ${stats.max_abs_err}, at ${stats.worst})${stats.no_op ? `, ${stats.no_op} without an op here` : ''}`,
  );
}
if (!cudaOk) {
  report.devices.cuda = { status: 'skipped', reason: v.cuda ? 'CUDA build of libtorch but no usable GPU' : 'CPU-only libtorch (no CUDA build)' };
  console.error(`gpu-ops: cuda: skipped (${report.devices.cuda.reason})`);
}
report.seconds = Math.round((performance.now() - started) / 100) / 10;

if (outPath) {
  writeFileSync(`${outPath}.tmp`, JSON.stringify(report, null, 2) + '\n');
  renameSync(`${outPath}.tmp`, outPath);
}
process.exit(report.failures.length > 0 ? 1 : 0);
