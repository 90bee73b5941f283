// Checkpoints as safetensors files:
//   <state-dict name>        the model's parameters and buffers, under PyTorch's names, so
//                            the model part loads in PyTorch with
//                            model.load_state_dict({k: v for k, v in load_file(p).items()
//                                                   if not k.startswith(('optim.', 'ema.'))})
//   optim.<name>             the optimizer's state() tensors (momentum, Adam moments, steps)
//   ema.<state-dict name>    the EMA's averaged weights
//   state.<name>             a job's extra state (an attack's noise), when given
//   __metadata__             strings: the caller's provenance (epoch, seed, model, width, ...;
//                            non-string values are stored as JSON) plus the reserved keys
//                            format, optim.kind, optim.step_count, optim.lr, ema.decay,
//                            ema.update_count
// Tensors come off the device with Tensor.data(); the file is written atomically.
import { F, Tensor, type DType } from '../engine/index.js';
import { readSafetensors, writeSafetensors, type Dtype, type Tensor as StTensor, type TensorMap } from '../io/safetensors.js';
import type { EMA } from './ema.js';
import type { Module } from './module.js';
import type { Optimizer } from './optim.js';

/** A JSON-able metadata value; strings are stored as they are, the rest as JSON text. */
export type MetadataValue = string | number | boolean | null | MetadataValue[] | { [k: string]: MetadataValue };
/** Metadata as read back: every value is the stored string. */
export type CheckpointMetadata = Record<string, string>;

export interface CheckpointParts {
  model: Module;
  optimizer?: Optimizer;
  ema?: EMA;
  /**
   * Extra state saved as `state.<name>` (e.g. an attack's noise beside its surrogate), so that
   * a job's whole state is one atomic file. On load, filled with the file's extras.
   */
  extras?: Map<string, StTensor>;
}
export interface SaveCheckpointParts extends CheckpointParts {
  metadata?: Record<string, MetadataValue>;
}

export const CHECKPOINT_FORMAT = 'eclipse-checkpoint-1';
const RESERVED = ['format', 'optim.kind', 'optim.step_count', 'optim.lr', 'ema.decay', 'ema.update_count'];
const OPTIM = 'optim.';
const EMA_ = 'ema.';
const STATE = 'state.';

const TO_ST: Record<DType, Dtype> = { float32: 'F32', float64: 'F64', uint8: 'U8', int64: 'I64', bool: 'BOOL', int32: 'I32' };
const FROM_ST: Record<Dtype, DType> = { F32: 'float32', F64: 'float64', U8: 'uint8', I64: 'int64', BOOL: 'bool', I32: 'int32' };

function toEntry(t: Tensor): StTensor {
  return { dtype: TO_ST[t.dtype], shape: [...t.shape], data: t.data() } as StTensor;
}

function put(out: TensorMap, prefix: string, tensors: Map<string, Tensor>): void {
  for (const [n, t] of tensors) out[prefix + n] = toEntry(t);
}

/** Write model (+ optimizer, EMA) and metadata to `path` atomically. */
export async function saveCheckpoint(path: string, parts: SaveCheckpointParts): Promise<void> {
  const tensors: TensorMap = {};
  const meta: Record<string, string> = { format: CHECKPOINT_FORMAT };
  for (const [k, v] of Object.entries(parts.metadata ?? {})) {
    if (RESERVED.includes(k)) throw new Error(`checkpoint metadata key "${k}" is reserved (${RESERVED.join(', ')})`);
    meta[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const state = parts.model.stateDict();
  for (const n of state.keys())
    if (n.startsWith(OPTIM) || n.startsWith(EMA_) || n.startsWith(STATE)) throw new Error(`model tensor "${n}" clashes with the checkpoint's optim./ema./state. prefixes`);
  put(tensors, '', state);
  for (const [n, e] of parts.extras ?? []) tensors[STATE + n] = e;
  if (parts.optimizer) {
    put(tensors, OPTIM, parts.optimizer.state());
    meta['optim.kind'] = parts.optimizer.constructor.name;
    meta['optim.step_count'] = String(parts.optimizer.stepCount());
    meta['optim.lr'] = String(parts.optimizer.lr);
  }
  if (parts.ema) {
    put(tensors, EMA_, parts.ema.stateDict());
    meta['ema.decay'] = String(parts.ema.decay);
    meta['ema.update_count'] = String(parts.ema.updateCount());
  }
  await writeSafetensors(path, tensors, meta);
}

/** Only the metadata (to rebuild the right model before loadCheckpoint). */
export async function readCheckpointMetadata(path: string): Promise<CheckpointMetadata> {
  return (await readSafetensors(path)).metadata;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;
const list = (names: string[]): string => names.slice(0, 4).join(', ') + (names.length > 4 ? `, ... (${names.length} in all)` : '');

/** Check that `file` holds exactly the tensors `want` names, with the same shapes. */
function checkMatch(path: string, what: string, file: Map<string, StTensor>, want: Map<string, Tensor>, meta: CheckpointMetadata): void {
  const missing = [...want.keys()].filter((n) => !file.has(n));
  const extra = [...file.keys()].filter((n) => !want.has(n));
  const shapes = [...want]
    .filter(([n, t]) => file.has(n) && shapeText(file.get(n)!.shape) !== shapeText(t.shape))
    .map(([n, t]) => `${n} is ${shapeText(file.get(n)!.shape)} in the file but ${shapeText(t.shape)} here`);
  if (!missing.length && !extra.length && !shapes.length) return;
  const problems = [
    missing.length ? `missing ${list(missing)}` : '',
    extra.length ? `unexpected ${list(extra)}` : '',
    shapes.length ? `shape mismatch: ${list(shapes)}` : '',
  ].filter(Boolean);
  const saved = ['model', 'width'].filter((k) => meta[k] !== undefined).map((k) => `${k} ${meta[k]}`);
  const hint = saved.length ? ` (the checkpoint was saved from ${saved.join(', ')})` : '';
  throw new Error(`${path}: checkpoint does not match the ${what}${hint}: ${problems.join('; ')}`);
}

function toTensors(entries: Map<string, StTensor>): Map<string, Tensor> {
  return new Map([...entries].map(([n, e]) => [n, F.tensor(e.data, e.shape, { dtype: FROM_ST[e.dtype] })]));
}

function section(all: TensorMap, prefix: string): Map<string, StTensor> {
  return new Map(Object.entries(all).filter(([n]) => n.startsWith(prefix)).map(([n, e]) => [n.slice(prefix.length), e]));
}

function count(path: string, meta: CheckpointMetadata, key: string): number {
  const n = Number(meta[key]);
  if (meta[key] === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${path}: metadata "${key}" is missing or not a count (${meta[key]})`);
  return n;
}

/**
 * Load a checkpoint into the given model (and optimizer, EMA): names and shapes must
 * match exactly, else the error names the file and the differences. Returns the metadata.
 */
export async function loadCheckpoint(path: string, parts: CheckpointParts): Promise<CheckpointMetadata> {
  const { tensors, metadata } = await readSafetensors(path);
  const modelPart = new Map(Object.entries(tensors).filter(([n]) => !n.startsWith(OPTIM) && !n.startsWith(EMA_) && !n.startsWith(STATE)));
  if (parts.extras) {
    parts.extras.clear();
    for (const [n, e] of section(tensors, STATE)) parts.extras.set(n, e);
  }
  checkMatch(path, 'model', modelPart, parts.model.stateDict(), metadata);
  const optimPart = section(tensors, OPTIM);
  const emaPart = section(tensors, EMA_);
  const opt = parts.optimizer;
  if (opt) {
    const kind = metadata['optim.kind'];
    if (kind === undefined) throw new Error(`${path}: checkpoint has no optimizer state (it was saved without one)`);
    if (kind !== opt.constructor.name) throw new Error(`${path}: checkpoint holds ${kind} state but the optimizer is ${opt.constructor.name}`);
    checkMatch(path, `${kind} optimizer state`, optimPart, opt.state(), metadata);
  }
  const ema = parts.ema;
  if (ema) {
    if (!emaPart.size) throw new Error(`${path}: checkpoint has no EMA weights (it was saved without an EMA)`);
    checkMatch(path, 'EMA', emaPart, ema.stateDict(), metadata);
  }
  // Everything matches: copy in (loadStateDict-style copies move the data to each tensor's device).
  const load = (entries: Map<string, StTensor>, into: (m: Map<string, Tensor>) => void): void => {
    const ts = toTensors(entries);
    try {
      into(ts);
    } finally {
      for (const t of ts.values()) t.dispose();
    }
  };
  load(modelPart, (m) => parts.model.loadStateDict(m));
  if (opt) {
    load(optimPart, (m) => opt.loadState(m));
    opt.loadStepCount(count(path, metadata, 'optim.step_count'));
    const lr = Number(metadata['optim.lr']);
    if (Number.isFinite(lr)) opt.lr = lr;
  }
  if (ema) {
    load(emaPart, (m) => ema.loadStateDict(m));
    ema.loadUpdateCount(count(path, metadata, 'ema.update_count'));
  }
  return metadata;
}
