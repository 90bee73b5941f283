// `npm run bench -- engine`: ResNet-18 train-step and forward throughput, eclipse vs PyTorch.
//
// Contenders, all on the same libtorch and the same thread count:
//   ours        eclipse, model and input in channels_last (the layout eclipse trains in)
//   ours_nchw   eclipse, default contiguous (NCHW) layout, for information
//   pytorch     PyTorch, default layout
//   pytorch_cl  PyTorch, channels_last model and input
//
// Every contender runs in its own process, started afresh for each config: ours in a Node
// worker (`node dist/bench/index.js engine-worker`, served by serveEngineWorker below),
// PyTorch in bench/torch_engine.py. This process only orchestrates. Fresh processes matter:
// the C allocator keeps the heap of earlier, bigger steps, and a process that ran the width-64
// train step first would run the forward pass with most of its pages already mapped (see the
// README). While one contender runs, the others wait blocked on stdin, so they never compete.
//
// Rounds are interleaved round-robin, the starting contender rotated every round, so the
// drift of a noisy machine hits all contenders alike; reported figures are medians over rounds.
//
// `--device cuda` runs every contender on the GPU (same shapes, same run): each timed step
// ends with a device synchronisation on both sides (F.synchronize / torch.cuda.synchronize),
// so a step's wall time covers its kernels, not just their launch.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { F, noGrad, tidy } from '../src/engine/index.js';
import { resnet18 } from '../src/nn/models/resnet.js';
import { SGD } from '../src/nn/optim.js';
import {
  Peer,
  PyPeer,
  flagNumber,
  machineInfo,
  median,
  pythonPath,
  quantile,
  readJsonObject,
  waitForIdle,
  repoRoot,
  round,
  table,
  writeJsonAtomic,
  type ParsedArgs,
} from './common.js';

export type Mode = 'train' | 'forward';
export type BenchDevice = 'cpu' | 'cuda';

/** --device: cpu (the default) or cuda; both engines run there. */
export function benchDevice(args: ParsedArgs): BenchDevice {
  const v = args.flags.get('device');
  if (v === undefined) return 'cpu';
  if (v === true || v.length !== 1 || (v[0] !== 'cpu' && v[0] !== 'cuda')) throw new Error('--device needs cpu or cuda');
  return v[0];
}
export interface EngineConfig {
  key: string;
  width: number;
  batch: number;
  mode: Mode;
}

const VARIANTS = ['ours', 'ours_nchw', 'pytorch', 'pytorch_cl'] as const;
type Variant = (typeof VARIANTS)[number];
type Layout = 'default' | 'channels_last';
const LAYOUT: Record<Variant, Layout> = { ours: 'channels_last', ours_nchw: 'default', pytorch: 'default', pytorch_cl: 'channels_last' };

/** The acceptance bar: ours (channels_last) against PyTorch's default and channels_last layouts. */
export const BAR = { ratio: 1.05, ratio_cl: 0.95 };

export const configKey = (width: number, batch: number, mode: Mode): string => `resnet18_w${width}_b${batch}_${mode}`;

/**
 * Configs from --configs tokens: `w64`, `w16:train`, `w32_b64`, `resnet18_w64_b128_forward`,
 * or a bare mode (`train`, `forward`) for both default widths. Without tokens: widths 64 and 16,
 * both modes, at `batch`.
 */
export function parseConfigs(tokens: readonly string[] | null, batch: number): EngineConfig[] {
  const out: EngineConfig[] = [];
  const add = (width: number, b: number, mode: Mode) => {
    const key = configKey(width, b, mode);
    if (!out.some((c) => c.key === key)) out.push({ key, width, batch: b, mode });
  };
  const modes: Mode[] = ['train', 'forward'];
  if (tokens === null || tokens.length === 0) {
    for (const w of [64, 16]) for (const m of modes) add(w, batch, m);
    return out;
  }
  for (const tok of tokens) {
    if (tok === 'train' || tok === 'forward') {
      for (const w of [64, 16]) add(w, batch, tok);
      continue;
    }
    const m = /^(?:resnet18_)?w(\d+)(?:_b(\d+))?(?:[_:](train|forward))?$/.exec(tok);
    if (!m) throw new Error(`--configs: cannot read "${tok}" (use e.g. w64, w16:train, w64_b128_forward or resnet18_w16_b128_train)`);
    const w = Number(m[1]);
    const b = m[2] ? Number(m[2]) : batch;
    if (w < 1 || b < 1) throw new Error(`--configs: "${tok}" needs a width and batch of at least 1`);
    for (const mode of m[3] ? [m[3] as Mode] : modes) add(w, b, mode);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Our contender: the worker process

/** What one timed run of `steps` steps reports, from either engine. */
interface RunReply {
  /** wall seconds per step */
  seconds: number[];
  /** process CPU seconds (all threads) over the steps */
  cpu_seconds: number;
  /** minor page faults over the steps: fresh memory the allocator had to map in */
  minor_faults: number;
  /** V8 garbage-collection milliseconds inside the steps (ours only) */
  gc_ms?: number;
}

interface OurCase {
  step(): void;
  dispose(): void;
}

function ourCase(width: number, batch: number, layout: Layout, mode: Mode, device: BenchDevice): OurCase {
  F.manualSeed(0);
  // Built on the CPU from the seed, then moved, as the PyTorch side does.
  const model = resnet18({ width, numClasses: 10 });
  const x = tidy(() => {
    const onDevice = F.rand([batch, 3, 32, 32]).to(device);
    return layout === 'channels_last' ? onDevice.contiguous('channels_last') : onDevice;
  });
  const y = tidy(() => F.randint(0, 10, [batch]).to(device));
  model.to(device === 'cpu' ? undefined : device, layout === 'channels_last' ? 'channels_last' : undefined);
  const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const trainStep = () => {
    model.train();
    opt.zeroGrad();
    tidy(() => {
      const logits = model.forward(x);
      F.crossEntropy(logits, y).backward();
    });
    opt.step();
  };
  const forwardStep = () => {
    model.eval();
    noGrad(() =>
      tidy(() => {
        model.forward(x);
      }),
    );
  };
  const step = mode === 'train' ? trainStep : forwardStep;
  return {
    // On the GPU a step has only queued its kernels when it returns: wait for them.
    step:
      device === 'cpu'
        ? step
        : () => {
            step();
            F.synchronize();
          },
    dispose() {
      opt.dispose();
      model.dispose();
      x.dispose();
      y.dispose();
    },
  };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The worker behind `engine-worker`: the same protocol as bench/torch_engine.py (one JSON
 * request per line on stdin, one reply per line on stdout). Requests:
 *   {"op": "run", "width", "batch", "layout": "default"|"channels_last", "mode", "steps",
 *    "yield": bool, "device": "cpu"|"cuda"}  -> RunReply
 *   {"op": "quit"}
 * With `yield`, each step ends with one event-loop turn inside the timed window (an async
 * loop); otherwise steps run back to back (a synchronous loop).
 */
export async function serveEngineWorker(threads: number): Promise<void> {
  F.setNumThreads(threads);
  const gc: { start: number; duration: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push({ start: e.startTime, duration: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const cases = new Map<string, OurCase>();
  const reply = (v: unknown) => process.stdout.write(JSON.stringify(v) + '\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    try {
      const req = JSON.parse(line) as Record<string, unknown>;
      if (req.op === 'quit') {
        reply({ ok: true });
        break;
      }
      if (req.op !== 'run') throw new Error(`unknown op ${JSON.stringify(req.op)}`);
      const [width, batch, steps] = [Number(req.width), Number(req.batch), Number(req.steps)];
      const layout = req.layout === 'channels_last' ? 'channels_last' : 'default';
      const mode: Mode = req.mode === 'forward' ? 'forward' : 'train';
      const device: BenchDevice = req.device === 'cuda' ? 'cuda' : 'cpu';
      const key = `${width}/${batch}/${layout}/${mode}/${device}`;
      let cs = cases.get(key);
      if (!cs) cases.set(key, (cs = ourCase(width, batch, layout, mode, device)));

      const seconds: number[] = [];
      const windows: { start: number; end: number }[] = [];
      const c0 = process.cpuUsage();
      const f0 = process.resourceUsage().minorPageFault;
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        cs.step();
        if (req.yield === true) await nextTurn();
        const t1 = performance.now();
        seconds.push((t1 - t0) / 1000);
        windows.push({ start: t0, end: t1 });
      }
      const c = process.cpuUsage(c0);
      const faults = process.resourceUsage().minorPageFault - f0;
      // GC entries arrive asynchronously: give the observer a turn, then match them to the steps.
      await new Promise((r) => setTimeout(r, 5));
      let gcMs = 0;
      for (const g of gc) if (windows.some((w) => g.start >= w.start && g.start < w.end)) gcMs += g.duration;
      gc.length = 0;
      reply({ seconds, cpu_seconds: (c.user + c.system) / 1e6, minor_faults: faults, gc_ms: gcMs } satisfies RunReply);
    } catch (e) {
      reply({ error: e instanceof Error ? e.message : String(e) });
    }
  }
  observer.disconnect();
  for (const cs of cases.values()) cs.dispose();
}

// ---------------------------------------------------------------------------
// The orchestrator

export interface EngineOptions {
  configs: EngineConfig[];
  quick: boolean;
  rounds: number;
  warmup: number;
  roundSeconds: number;
  threads: number;
  /** where both engines run */
  device: BenchDevice;
  /** a round whose CPU use (CPU time / (wall x threads)) is below this for any contender is contended */
  contendedBelow: number;
  /** contended rounds that may be discarded and repeated, per config */
  retries: number;
  /** seconds the whole run may spend waiting for other processes to leave the CPUs */
  maxWait: number;
  /** end each of our steps with one event-loop turn (default: a synchronous loop) */
  yieldEach: boolean;
  /** extra environment for our worker processes only (what-if runs, e.g. allocator settings) */
  oursEnv: Record<string, string>;
  out: string;
  log: (s: string) => void;
}

export function engineOptions(args: ParsedArgs): EngineOptions {
  const quick = args.flags.has('quick');
  const batch = flagNumber(args, 'batch', 128);
  const cfg = args.flags.get('configs');
  const out = args.flags.get('out');
  const device = benchDevice(args);
  // On the GPU the CPU mostly waits on the device, so CPU use says nothing about contention:
  // no contended rounds, no waiting for idle CPUs (unless asked for). GPU results go to their
  // own file, never merged with the CPU ones.
  const gpu = device === 'cuda';
  return {
    configs: parseConfigs(cfg === undefined || cfg === true ? null : cfg, batch),
    quick,
    rounds: flagNumber(args, 'rounds', quick ? 3 : 9),
    warmup: flagNumber(args, 'warmup', quick ? 2 : 3),
    roundSeconds: flagNumber(args, 'round-seconds', quick ? 0.6 : 1.5),
    threads: flagNumber(args, 'threads', 2),
    device,
    contendedBelow: flagNumber(args, 'contended-below', gpu ? 0 : 0.9),
    retries: flagNumber(args, 'retries', gpu ? 0 : quick ? 3 : 9),
    maxWait: flagNumber(args, 'max-wait', gpu ? 0 : quick ? 300 : 1800),
    yieldEach: args.flags.has('yield'),
    oursEnv: (() => {
      const e = args.flags.get('ours-env');
      if (e === undefined) return {};
      if (e === true) throw new Error('--ours-env needs KEY=VALUE');
      return Object.fromEntries(
        e.map((kv) => {
          const i = kv.indexOf('=');
          if (i <= 0) throw new Error(`--ours-env: "${kv}" is not KEY=VALUE`);
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
    })(),
    out: out === undefined || out === true ? join(repoRoot(), 'bench', 'results', gpu ? 'engine-cuda.json' : 'engine.json') : out[0]!,
    log: (s) => process.stderr.write(s + '\n'),
  };
}

export interface ConfigResult {
  [k: string]: unknown;
  ours_img_s: number;
  ours_nchw_img_s: number;
  pytorch_img_s: number;
  pytorch_cl_img_s: number;
  ratio: number;
  ratio_cl: number;
  ratio_paired: number;
  ratio_cl_paired: number;
  meets_bar: boolean;
}

function startPeer(v: Variant, o: EngineOptions): Peer {
  const threads = String(o.threads);
  if (v === 'pytorch' || v === 'pytorch_cl') return new PyPeer(join(repoRoot(), 'bench', 'torch_engine.py'), ['--threads', threads, '--device', o.device]);
  const index = fileURLToPath(new URL('./index.js', import.meta.url));
  return new Peer(`eclipse worker (${v})`, process.execPath, [index, 'engine-worker', '--threads', threads], o.oursEnv);
}

export async function runEngineBench(o: EngineOptions): Promise<Record<string, unknown>> {
  const started = performance.now();
  const atStart = machineInfo();
  waited.ms = 0;
  const results: Record<string, ConfigResult> = {};
  const info = new PyPeer(join(repoRoot(), 'bench', 'torch_engine.py'), ['--threads', String(o.threads), '--device', o.device]);
  let torchInfo: Record<string, unknown>;
  try {
    torchInfo = await info.request({ op: 'info' });
  } finally {
    await info.close();
  }
  o.log(
    `engine bench on ${o.device}: ${o.configs.map((c) => c.key).join(', ')}; ${o.threads} threads; ${o.rounds} rounds of ~${o.roundSeconds}s per contender` +
      ` after ${o.warmup} warm-up steps${o.quick ? ' (quick)' : ''}; PyTorch ${String(torchInfo.torch)} via ${pythonPath()}`,
  );
  for (const c of o.configs) results[c.key] = await benchConfig(c, o);

  const machine = {
    ...atStart,
    loadavg_at_end: loadavg().map((x) => round(x, 2)),
    threads: o.threads,
    device: o.device,
    ...(o.device === 'cuda' ? { gpu: torchInfo.gpu } : {}),
    pytorch_threads: torchInfo.threads,
    torch_version: torchInfo.torch,
    ours_libtorch_version: F.engineVersion().torch,
    python_version: torchInfo.python,
    note:
      o.device === 'cuda'
        ? 'every contender on the GPU, each step ended by a device synchronisation; interleaved round-robin, medians over rounds'
        : 'a small shared VM is noisy: contenders are interleaved round-robin, contended rounds repeated, medians over rounds',
  };
  // Keep configs measured earlier that this run did not touch (e.g. a --configs subset).
  const prev = readJsonObject(o.out);
  const merged: Record<string, unknown> = {
    machine,
    bar: BAR,
    settings: {
      quick: o.quick,
      rounds: o.rounds,
      warmup_steps: o.warmup,
      round_seconds: o.roundSeconds,
      contended_below: o.contendedBelow,
      retries: o.retries,
      waited_for_other_processes_seconds: round(waited.ms / 1000, 1),
      processes: 'one fresh process per contender per config',
      ours_loop: o.yieldEach ? 'one event-loop turn (setImmediate) after each step, timed' : 'synchronous',
      ours_env: o.oursEnv,
      total_seconds: round((performance.now() - started) / 1000, 1),
    },
  };
  for (const [k, v] of Object.entries(prev)) if (k.startsWith('resnet') && !(k in results)) merged[k] = v;
  Object.assign(merged, results);
  writeJsonAtomic(o.out, merged);

  printTable(results, o);
  o.log(`wrote ${o.out}`);
  return merged;
}

/** Milliseconds spent waiting for other processes, over the whole run. */
const waited = { ms: 0 };

async function benchConfig(c: EngineConfig, o: EngineOptions): Promise<ConfigResult> {
  // Start on idle CPUs where we can (before our own processes start and load libtorch).
  waited.ms += await waitForIdle(0.1, Math.max(0, o.maxWait * 1000 - waited.ms), o.log);
  const peers = Object.fromEntries(VARIANTS.map((v) => [v, startPeer(v, o)])) as Record<Variant, Peer>;
  const run = (v: Variant, steps: number): Promise<RunReply> =>
    peers[v].request<RunReply>({ op: 'run', width: c.width, batch: c.batch, layout: LAYOUT[v], mode: c.mode, steps, yield: o.yieldEach, device: o.device });

  try {
    // Warm-up (interleaved too), then pick steps per round from the warm steps' speed.
    const warm: number[] = [];
    for (const v of VARIANTS) {
      const s = (await run(v, o.warmup)).seconds;
      // the fastest warm step after the first: the least disturbed estimate of a step's cost
      warm.push(Math.min(...(s.length > 1 ? s.slice(1) : s)));
    }
    const steps = Math.max(1, Math.min(200, Math.round(o.roundSeconds / median(warm))));

    const perRound = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    // CPU time / (wall time x threads): well below 1 means other processes took our cores.
    const util = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const faults = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const gcMs = { ours: [] as number[], ours_nchw: [] as number[] };
    // A round in which any contender lost its cores to other processes (CPU use below the
    // threshold) is discarded and run again, up to o.retries times per config.
    let discarded = 0;
    for (let attempt = 0, r = 0; r < o.rounds; attempt++) {
      // Rotate who goes first so no contender always follows the same neighbour.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + attempt) % VARIANTS.length]!);
      const got = {} as Record<Variant, RunReply & { img: number; use: number }>;
      for (const v of order) {
        const t = await run(v, steps);
        const wall = t.seconds.reduce((a, b) => a + b, 0);
        got[v] = { ...t, img: (c.batch * t.seconds.length) / wall, use: t.cpu_seconds / (wall * o.threads) };
      }
      const contended = VARIANTS.some((v) => got[v].use < o.contendedBelow);
      const line =
        VARIANTS.map((v) => `${v} ${got[v].img.toFixed(1)}`).join(', ') + ` img/s; cpu use ${VARIANTS.map((v) => got[v].use.toFixed(2)).join('/')}`;
      if (contended && discarded < o.retries) {
        discarded++;
        o.log(`  ${c.key} round ${r + 1}/${o.rounds}: contended (cpu use < ${o.contendedBelow}), repeating: ${line}`);
        // Our peers are all idle now: whatever keeps the CPUs busy is someone else.
        waited.ms += await waitForIdle(0.1, Math.max(0, o.maxWait * 1000 - waited.ms), o.log);
        continue;
      }
      for (const v of VARIANTS) {
        perRound[v].push(got[v].img);
        util[v].push(got[v].use);
        faults[v].push(got[v].minor_faults / steps);
      }
      gcMs.ours.push((got.ours.gc_ms ?? 0) / steps);
      gcMs.ours_nchw.push((got.ours_nchw.gc_ms ?? 0) / steps);
      r++;
      o.log(`  ${c.key} round ${r}/${o.rounds} (${steps} step${steps > 1 ? 's' : ''}): ${line}${contended ? ' (contended, kept: no retries left)' : ''}`);
    }

    const med = (v: Variant) => median(perRound[v]);
    const paired = (a: Variant, b: Variant) => median(perRound[a].map((x, i) => x / perRound[b][i]!));
    const spread = (v: Variant) => round((100 * (quantile(perRound[v], 0.75) - quantile(perRound[v], 0.25))) / med(v), 1);
    const best = (v: Variant) => Math.max(...perRound[v]);
    const byVariant = <T>(f: (v: Variant) => T) => Object.fromEntries(VARIANTS.map((v) => [v, f(v)]));
    const ratio = med('ours') / med('pytorch');
    const ratioCl = med('ours') / med('pytorch_cl');
    return {
      ours_img_s: round(med('ours')),
      ours_nchw_img_s: round(med('ours_nchw')),
      pytorch_img_s: round(med('pytorch')),
      pytorch_cl_img_s: round(med('pytorch_cl')),
      ratio: round(ratio, 3),
      ratio_cl: round(ratioCl, 3),
      ratio_nchw: round(med('ours_nchw') / med('pytorch'), 3),
      // Median of the per-round ratios: cancels drift between rounds.
      ratio_paired: round(paired('ours', 'pytorch'), 3),
      ratio_cl_paired: round(paired('ours', 'pytorch_cl'), 3),
      meets_bar: ratio >= BAR.ratio && ratioCl >= BAR.ratio_cl,
      // Fastest round per contender: on a machine that noise only slows down, the least disturbed figure.
      best_img_s: byVariant((v) => round(best(v))),
      ratio_best: round(best('ours') / best('pytorch'), 3),
      ratio_cl_best: round(best('ours') / best('pytorch_cl'), 3),
      width: c.width,
      batch: c.batch,
      mode: c.mode,
      device: o.device,
      steps_per_round: steps,
      rounds: o.rounds,
      iqr_percent: byVariant(spread),
      per_round_img_s: byVariant((v) => perRound[v].map((x) => round(x))),
      per_round_cpu_use: byVariant((v) => util[v].map((x) => round(x, 2))),
      contended_rounds_discarded: discarded,
      contended_rounds_kept: perRound.ours.filter((_, r) => VARIANTS.some((v) => util[v][r]! < o.contendedBelow)).length,
      // Fresh pages touched per step (minor faults): memory the allocator had to map in anew.
      page_faults_per_step: byVariant((v) => Math.round(median(faults[v]))),
      ours_gc_ms_per_step: round(median(gcMs.ours), 2),
      ours_nchw_gc_ms_per_step: round(median(gcMs.ours_nchw), 2),
      quick: o.quick,
      ours_loop: o.yieldEach ? 'event-loop turn after each step' : 'synchronous',
      ...(Object.keys(o.oursEnv).length ? { ours_env: o.oursEnv } : {}),
      date: new Date().toISOString(),
    };
  } finally {
    await Promise.all(VARIANTS.map((v) => peers[v].close()));
  }
}

function printTable(results: Record<string, ConfigResult>, o: EngineOptions): void {
  const rows = Object.entries(results).map(([k, r]) => [
    k,
    r.ours_img_s,
    r.ours_nchw_img_s,
    r.pytorch_img_s,
    r.pytorch_cl_img_s,
    r.ratio.toFixed(3),
    r.ratio_cl.toFixed(3),
    `${r.ratio_paired.toFixed(3)} / ${r.ratio_cl_paired.toFixed(3)}`,
    r.meets_bar ? 'yes' : 'NO',
  ]);
  const header = ['config (img/s, median)', 'ours (CL)', 'ours NCHW', 'pytorch', 'pytorch CL', 'ratio', 'ratio_cl', 'paired r / r_cl', `bar (>=${BAR.ratio} / >=${BAR.ratio_cl})`];
  const where = o.device === 'cuda' ? 'on cuda' : `${o.threads} threads`;
  console.log(`\nResNet-18 CIFAR throughput, ${where}, ${o.rounds} interleaved rounds${o.quick ? ' (quick)' : ''}`);
  console.log(table(header, rows));
}
