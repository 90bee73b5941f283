// Atomic writes: readers never see a half-written file, even if the process dies mid-write.
// Pattern: write <path>.<pid>.tmp in the same directory (same filesystem), fsync, rename.

import { promises as fsp, constants as fsc } from 'node:fs';
import * as path from 'node:path';

export interface AtomicWriteOptions {
  /** Suggestion appended to "cannot write" errors, e.g. "pass --out <dir>". */
  hint?: string;
}

export interface AtomicDirOptions extends AtomicWriteOptions {
  /** Replace an existing directory at the target path (default false: error). */
  overwrite?: boolean;
  /** fsync every file before the final rename (default true; off trades crash-safety for speed). */
  fsync?: boolean;
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function hintText(opts?: AtomicWriteOptions): string {
  return opts?.hint ? ` (${opts.hint})` : '';
}

/** Turn a low-level fs error into a message a user can act on. */
export function describeWriteError(target: string, e: unknown, opts?: AtomicWriteOptions): Error {
  const code = errCode(e);
  const detail = e instanceof Error ? e.message : String(e);
  let msg: string;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      msg = `cannot write ${target}: disk full (free some space or write elsewhere${opts?.hint ? '; ' + opts.hint : ''})`;
      break;
    case 'EACCES':
    case 'EPERM':
      msg = `cannot write ${target}: permission denied${hintText(opts)}`;
      break;
    case 'EROFS':
      msg = `cannot write ${target}: read-only filesystem${hintText(opts)}`;
      break;
    default:
      msg = `cannot write ${target}: ${detail}`;
  }
  return new Error(msg, { cause: e });
}

/**
 * Check that `dir` exists, is a directory and is writable; throws an actionable error otherwise.
 * Done up front so we fail before spending minutes computing what we'd write.
 */
export async function ensureWritableDir(dir: string, opts?: AtomicWriteOptions): Promise<void> {
  const abs = path.resolve(dir);
  let st;
  try {
    st = await fsp.stat(abs);
  } catch (e) {
    if (errCode(e) === 'ENOENT') {
      throw new Error(`cannot write to ${abs}: directory does not exist (create it${opts?.hint ? ' or ' + opts.hint : ''})`, { cause: e });
    }
    if (errCode(e) === 'ENOTDIR') {
      throw new Error(`cannot write to ${abs}: part of the path is a file, not a directory${hintText(opts)}`, { cause: e });
    }
    throw describeWriteError(abs, e, opts);
  }
  if (!st.isDirectory()) throw new Error(`cannot write to ${abs}: not a directory${hintText(opts)}`);
  try {
    await fsp.access(abs, fsc.W_OK | fsc.X_OK);
  } catch (e) {
    throw new Error(`cannot write to ${abs}: directory is not writable${hintText(opts)}`, { cause: e });
  }
}

export type FileContent = string | Uint8Array | readonly Uint8Array[];

/** Write `data` to `target` atomically (temp file + fsync + rename). Parent dir must exist. */
export async function atomicWriteFile(target: string, data: FileContent, opts?: AtomicWriteOptions): Promise<void> {
  const abs = path.resolve(target);
  await ensureWritableDir(path.dirname(abs), opts);
  const tmp = `${abs}.${process.pid}.tmp`;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'w', 0o644);
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await fh.writeFile(data);
    } else {
      // Chunks are written in order, avoiding a concatenated copy of large payloads.
      for (const chunk of data) await fh.writeFile(chunk);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, abs);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw describeWriteError(abs, e, opts);
  }
  await syncDir(path.dirname(abs));
}

/**
 * Build a directory atomically: `fill` writes files into a temp dir next to `target`,
 * which is renamed to `target` only when `fill` succeeds. On failure nothing is left behind.
 */
export async function atomicWriteDir(
  target: string,
  fill: (tmpDir: string) => Promise<void>,
  opts?: AtomicDirOptions,
): Promise<void> {
  const abs = path.resolve(target);
  const parent = path.dirname(abs);
  await ensureWritableDir(parent, opts);
  const exists = await fsp.lstat(abs).then(() => true, () => false);
  if (exists && !opts?.overwrite) {
    throw new Error(`cannot write ${abs}: it already exists (remove it or choose another output path)`);
  }
  const tmp = `${abs}.${process.pid}.tmp`;
  const old = `${abs}.${process.pid}.old`;
  await fsp.rm(tmp, { recursive: true, force: true });
  try {
    await fsp.mkdir(tmp);
    await fill(tmp);
    if (opts?.fsync !== false) await syncTree(tmp);
    if (exists) {
      // Two renames: the target is briefly absent but never partially written.
      await fsp.rename(abs, old);
      try {
        await fsp.rename(tmp, abs);
      } catch (e) {
        await fsp.rename(old, abs).catch(() => undefined);
        throw e;
      }
      await fsp.rm(old, { recursive: true, force: true });
    } else {
      await fsp.rename(tmp, abs);
    }
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof Error && e.message.startsWith('cannot write')) throw e;
    throw describeWriteError(abs, e, opts);
  }
  await syncDir(parent);
}

/** Write one file inside a directory being built by atomicWriteDir (no extra temp file needed). */
export async function writeFileDurable(file: string, data: string | Uint8Array): Promise<void> {
  const fh = await fsp.open(file, 'w', 0o644);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  // Persist the rename itself; not supported everywhere (e.g. Windows), so best effort.
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

async function syncTree(dir: string): Promise<void> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  for (const ent of entries) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) {
      await syncTree(p);
    } else if (ent.isFile()) {
      const fh = await fsp.open(p, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }
  await syncDir(dir);
}

/**
 * A finished or unfinished output of other inputs is where a job would write: nothing is
 * replaced without being asked. `unfinished` says whether resuming it is an option.
 */
export class OutputExistsError extends Error {
  constructor(
    readonly path: string,
    /** what is there, without the fix ("runs/x holds a finished run of other inputs") */
    readonly what: string,
    readonly unfinished: boolean,
  ) {
    super(`${what}: write elsewhere, or overwrite it${unfinished ? ' (or resume it)' : ''}`);
  }
}
