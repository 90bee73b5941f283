// One matrix cell: poison (or clean data) -> defence -> classifier -> test accuracy. Poisons,
// denoisers, purified sets and a defence's derived sets are artifacts named by the hash of what
// made them, shared by every cell that needs them and never rebuilt while they are there.
import { readFileSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { createAttack, makeupFromMeta, poisonFile, poisonMakeup, stampMakeup } from '../attacks/index.js';
import { atomicWriteFile } from '../io/atomic.js';
import { datasetDigest, type ImageDataset } from '../data/dataset.js';
import { SPARSE_POOL_PER_CLASS, prepareDataDir, preparedFiles } from '../data/prepare.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { createDefense } from '../defenses/baselines/index.js';
import { describeBlas, engineVersion, getNumThreads, type Device, type RunContext } from '../engine/index.js';
import { compensationOf, denoiserStage, purifyStage } from '../defenses/eclipse.js';
import { classifierStage, defendWithBaseline } from '../pipeline/defend.js';
import { keyHash, stage, stageSeconds, type StageLog } from '../io/stage.js';
import { trainingCurve } from '../training/trainer.js';
import type { ResolvedCell } from './config.js';

export interface CellContext extends RunContext {
  /** where the profile's CIFAR-10 import lives (made on first use) */
  dataDir: string;
  /** the user's own data instead of the CIFAR-10 import */
  data?: { train: string; test: string; pool: string };
  /** CIFAR-10 binary release (default $ECLIPSE_CIFAR10 or the shared copy) */
  source?: string;
  /** shared artifacts: poisons/, denoisers/, purified/, defense-work/, cells/ */
  artifactsDir: string;
  device: Device;
  log: StageLog;
  /** called now and then while the cell runs (the runner renews its lease) */
  heartbeat?: () => void;
}

export interface CellResult {
  testAcc: number;
  seconds: number;
  /** digest of the data and code version the result came from */
  inputs: string;
  versions: Record<string, string>;
  extra: Record<string, unknown>;
}


let cachedVersions: Record<string, string> | null = null;
/** The versions that produced a result (recorded with it). */
export function versions(): Record<string, string> {
  if (cachedVersions) return cachedVersions;
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const e = engineVersion();
  cachedVersions = { eclipse: pkg.version, node: process.version, torch: e.torch, cuda: String(e.cuda), blas: describeBlas() };
  return cachedVersions;
}

interface Data {
  train: ImageDataset;
  test: ImageDataset;
  sparsePool: ImageDataset;
  digest: string;
}
const dataCache = new Map<string, Data>();

/** The profile's clean data (imported once per data folder and process). */
async function cellData(cell: ResolvedCell, ctx: CellContext): Promise<Data> {
  const where = ctx.data ? JSON.stringify(ctx.data) : ctx.dataDir;
  const hit = dataCache.get(where);
  if (hit) return hit;
  const c = cell.classifier;
  const d = ctx.data
    ? { train: await loadDataset(ctx.data.train), test: await loadDataset(ctx.data.test), sparsePool: await loadDataset(ctx.data.pool) }
    : await prepareDataDir(ctx.dataDir, { source: ctx.source, trainPerClass: c.trainPerClass, testPerClass: c.testPerClass, sparsePoolPerClass: SPARSE_POOL_PER_CLASS, seed: 0 }, ctx.log);
  const data = { ...d, digest: keyHash([datasetDigest(d.train), datasetDigest(d.test), datasetDigest(d.sparsePool)]) };
  dataCache.set(where, data);
  return data;
}

const poisonDigests = new Map<string, { stamp: string; digest: string }>();
/**
 * A given poison file's content digest (images, labels, classes; not the header), cached by
 * path, size and mtime. A poison remade with the same pixels has other provenance in its header
 * (times, paths), so its file bytes differ: it is still the same input.
 */
async function poisonDigest(path: string): Promise<string> {
  const st = await stat(path).catch(() => null);
  if (!st) return 'missing';
  const stamp = `${st.size}:${st.mtimeMs}`;
  const hit = poisonDigests.get(path);
  if (hit?.stamp === stamp) return hit.digest;
  const digest = datasetDigest(await loadDataset(path)).slice(0, 16);
  poisonDigests.set(path, { stamp, digest });
  return digest;
}

/**
 * The key of a cell's inputs: a changed data import, given poison (its content) or eclipse
 * version recomputes the cell (its old result stays as history).
 */
export async function cellInputs(cell: ResolvedCell, ctx: CellContext): Promise<string> {
  return JSON.stringify({
    data: (await cellData(cell, ctx)).digest,
    eclipse: versions().eclipse,
    ...(cell.spec.poisonFile ? { poison_data: await poisonDigest(cell.spec.poisonFile) } : {}),
  });
}

/**
 * Whether a stored result was made from the `current` inputs. Results recorded before inputs
 * named a given poison by its content keyed it by its file bytes (`poison`); their `extra.train`
 * ("<attack>:file:<content digest>") carries the content digest to compare instead.
 */
export function sameInputs(stored: { inputs: string; extra: string }, current: string): boolean {
  if (stored.inputs === current) return true;
  const old = JSON.parse(stored.inputs) as Record<string, string>;
  const now = JSON.parse(current) as Record<string, string>;
  if (old.poison === undefined || now.poison_data === undefined || old.data !== now.data || old.eclipse !== now.eclipse) return false;
  const train = (JSON.parse(stored.extra) as { train?: string }).train ?? '';
  return /:file:([0-9a-f]{16})$/.exec(train)?.[1] === now.poison_data;
}

/** The attack settings a cell's options give (its "attack.*" options), as createAttack takes them. */
function attackSettings(cell: ResolvedCell): { settings?: Record<string, number | string> } {
  const o = Object.entries(cell.spec.options).filter(([k]) => k.startsWith('attack.')).map(([k, v]) => [k.slice(7), v as number | string] as const);
  return o.length ? { settings: Object.fromEntries(o) } : {};
}

/**
 * Make a cell's given poison file where it is missing, as `eclipse poison --attack A --profile P
 * --seed S --out FILE` makes it, from the matrix's own training set (imported first where it is
 * missing). The file then keys its cells by its content, as any given poison does: a remade
 * file with other pixels sends the cells finished on the old one back to run. A model-based
 * attack keeps its resumable state in FILE.work.
 */
export async function makeGivenPoison(cell: ResolvedCell, ctx: CellContext): Promise<void> {
  const output = cell.spec.poisonFile;
  if (output === undefined) throw new Error(`${cell.label}: the cell is not on a given poison file`);
  await cellData(cell, ctx);
  await mkdir(dirname(output), { recursive: true });
  await poisonFile({
    attack: cell.spec.attack, input: ctx.data?.train ?? preparedFiles(ctx.dataDir).train, output, seed: cell.poisonSeed,
    profile: cell.spec.profile, ...attackSettings(cell), device: ctx.device, quiet: ctx.quiet, log: ctx.log, signal: ctx.signal,
  });
}

/** The training set of a cell: clean, or the attack's poison (made once per attack and settings). */
async function trainingSet(cell: ResolvedCell, data: Data, ctx: CellContext): Promise<{ train: ImageDataset; key: string }> {
  const s = cell.spec;
  if (s.attack === 'clean') return { train: data.train, key: `clean:${data.digest}` };
  if (s.poisonFile) {
    const given = await loadDataset(s.poisonFile);
    // a file that says which seed made it must be the cell's poison seed's
    const madeWith = given.meta.seed ?? given.meta.poison_seed;
    if (madeWith !== undefined && given.meta.attack === s.attack && Number(madeWith) !== cell.poisonSeed)
      throw new Error(`${s.poisonFile} was made with seed ${madeWith}, but it is given as the ${s.attack} poison of poison seed ${cell.poisonSeed}: list it under that seed in the config's "poisons"`);
    if (given.n !== data.train.n || given.classes.join() !== data.train.classes.join() || given.labels.some((l, i) => l !== data.train.labels[i]))
      throw new Error(`${s.poisonFile} is not a poisoned copy of this matrix's training set (${given.n} images, classes ${given.classes.join(',')}; expected ${data.train.n} with the same labels): make it from that set with eclipse poison`);
    return { train: given, key: `${s.attack}:file:${datasetDigest(given).slice(0, 16)}` };
  }
  const key = keyHash({ attack: s.attack, params: cell.attackParams, seed: cell.poisonSeed, data: data.digest, profile: s.profile });
  const dir = join(ctx.artifactsDir, 'poisons');
  const file = join(dir, `${s.attack}-${key}.safetensors`);
  await stage(
    dir,
    `${s.attack}-${key}`,
    { key },
    async () => {
      const attack = createAttack(s.attack, { profile: s.profile, ...attackSettings(cell) });
      await attack.prepare?.(data.train, cell.poisonSeed, { workDir: `${file}.work`, device: ctx.device, quiet: ctx.quiet, log: ctx.log, signal: ctx.signal });
      ctx.heartbeat?.();
      // the poison's make-up goes into its metadata, as eclipse poison writes it (pixels untouched)
      await saveDataset(stampMakeup(data.train, attack.poison(data.train, cell.poisonSeed).dataset, { device: ctx.device }).dataset, file);
    },
    ctx.log,
    [file],
  );
  return { train: await loadDataset(file), key: `${s.attack}:${key}` };
}

/** The make-up numbers a cell's result records (in its extra and the CSV). */
export interface MakeupRecord {
  l2: number;
  high_freq: number;
  classwise: number;
  /** null where the scan has no number (NaN) */
  scan_score: number | null;
}

const toRecord = (m: { l2: number; highFreq: number; classwise: number; scanScore: number }): MakeupRecord => ({
  l2: m.l2, high_freq: m.highFreq, classwise: m.classwise, scan_score: Number.isFinite(m.scanScore) ? m.scanScore : null,
});

/**
 * A poisoned training set's make-up: from its metadata (eclipse poison and the matrix stamp it),
 * else measured once and kept in ARTIFACTS/makeup/<content digest>.json (a poison made before
 * make-ups were recorded).
 */
async function makeupOf(train: ImageDataset, clean: ImageDataset, ctx: CellContext): Promise<MakeupRecord> {
  const stamped = makeupFromMeta(train.meta);
  if (stamped) return toRecord(stamped);
  const { seconds: _s, ...m } = await measuredMakeup(train, clean, ctx, 'poison (made before make-ups were recorded)');
  return m;
}

/**
 * The make-up of `data` against `clean`, measured once per pair of contents and kept in
 * ARTIFACTS/makeup/<digest>-<clean digest>.json (metadata is not read: a purified set may carry
 * its poison's).
 */
async function measuredMakeup(data: ImageDataset, clean: ImageDataset, ctx: CellContext, what: string): Promise<MakeupRecord & { seconds: number | null }> {
  const digest = datasetDigest(data).slice(0, 16);
  const cleanDigest = datasetDigest(clean).slice(0, 16);
  const dir = join(ctx.artifactsDir, 'makeup');
  const name = `${digest}-${cleanDigest}`;
  const file = join(dir, `${name}.json`);
  await stage(dir, name, { digest, clean: cleanDigest }, async () => {
    ctx.log(`measuring the make-up of ${what} ${digest}`);
    await atomicWriteFile(file, JSON.stringify(toRecord(poisonMakeup(clean, data, { device: ctx.device }))));
  }, ctx.log, [file]);
  return { ...(JSON.parse(readFileSync(file, 'utf8')) as MakeupRecord), seconds: await stageSeconds(dir, name) };
}

/** Run one cell to its test accuracy (resuming whatever an interrupted run left). */
export async function runCell(cell: ResolvedCell, ctx: CellContext, cleanTwin: string | null): Promise<CellResult> {
  const t0 = performance.now();
  const data = await cellData(cell, ctx);
  const { train, key } = await trainingSet(cell, data, ctx);
  ctx.heartbeat?.();
  const makeup = cell.spec.attack === 'clean' ? null : await makeupOf(train, data.train, ctx);
  const cellDir = join(ctx.artifactsDir, 'cells', cell.hash);
  const o = { device: ctx.device, quiet: ctx.quiet, log: ctx.log, signal: ctx.signal };
  let testAcc: number;
  // the defence seed drives the defence's own randomness (ECLIPSE's stages, AVATAR, OP); 0 for
  // the cells made before it existed, whose artifacts keep their names
  const defenseSeed = cell.defenseSeed ?? 0;
  const seeded = <T extends object>(k: T): T | (T & { defenseSeed: number }) => (defenseSeed ? { ...k, defenseSeed } : k);
  const extra: Record<string, unknown> = { train: key, clean_twin: cleanTwin, threads: getNumThreads(), ...(makeup ? { makeup } : {}) };
  if (cell.eclipse) {
    const e = cell.eclipse.profile;
    const c = cell.eclipse.components;
    const stageTimes: Record<string, number | null> = {};
    let purified = train;
    let trainKey: unknown = key;
    if (c.purify) {
      // The denoiser depends on the defender's clean pool and its recipe, not on the poison.
      const denDir = join(ctx.artifactsDir, 'denoisers', keyHash(seeded({ sparse: e.sparse, denoiser: e.denoiser, pool: data.digest })));
      const common = { train, trainKey: key, sparsePool: data.sparsePool, eclipse: e, seed: defenseSeed, device: ctx.device, quiet: ctx.quiet, log: ctx.log, signal: ctx.signal };
      const den = await denoiserStage({ ...common, outDir: denDir });
      ctx.heartbeat?.();
      const purDir = join(ctx.artifactsDir, 'purified', keyHash({ den: den.key, purify: e.purify, train: key }));
      const pur = await purifyStage({ ...common, outDir: purDir }, den);
      purified = pur.purified;
      trainKey = pur.key;
      extra.purified = pur.path;
      ctx.heartbeat?.();
      // What purification left (issue 25): the purified set against the clean one, measured as a
      // poison's make-up (the clean twin's row is the purification's own distortion).
      const { seconds: makeupSeconds, ...left } = await measuredMakeup(purified, data.train, ctx, 'the purified set');
      extra.purified_makeup = left;
      // ECLIPSE's cost (issue 25 ranks settings by it): each stage's own build time, whichever
      // cell built it (a denoiser is shared by every cell of its pool, recipe and seed)
      Object.assign(stageTimes, { denoiser: await stageSeconds(denDir, 'denoiser'), purify: await stageSeconds(purDir, 'purify'), purified_makeup: makeupSeconds });
      ctx.heartbeat?.();
    }
    const comp = compensationOf(e, c);
    const r = await classifierStage(purified, trainKey, data.test, cell.classifier, { comp }, cell.spec.seed, join(cellDir, 'classifier'), o);
    testAcc = r.testAcc;
    extra.curve = trainingCurve(r.epochs);
    extra.stage_seconds = { ...stageTimes, classifier: await stageSeconds(cellDir, 'classifier') };
  } else {
    const b = cell.baseline!;
    const defense = createDefense(cell.spec.defense, { profile: cell.spec.profile, settings: b.overrides });
    const r = await defendWithBaseline({
      train, trainKey: key, test: data.test, defense, cleanTrain: data.train, compensation: b.compensation, classifier: cell.classifier,
      profile: cell.spec.profile, seed: defenseSeed, classifierSeed: cell.spec.seed, outDir: cellDir,
      // a defence's derived sets (a JPEG copy, AVATAR's denoiser) are shared by the cells using it
      workDir: join(ctx.artifactsDir, 'defense-work', `${cell.spec.defense}-${keyHash(seeded(b.params))}`),
      ...o,
    });
    testAcc = r.testAcc;
    extra.curve = trainingCurve(r.classifier.epochs);
  }
  return { testAcc, seconds: (performance.now() - t0) / 1000, inputs: await cellInputs(cell, ctx), versions: versions(), extra };
}
