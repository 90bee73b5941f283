// Minimal streaming tar reader (ustar/GNU/pax names), gzip optional.
// Written by hand because archives here are simple and we only need to read regular files.

import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export interface TarEntry {
  /** Path inside the archive, with "./" prefix removed. */
  name: string;
  size: number;
  /** Full file contents (only for entries accepted by the filter). */
  data: Buffer;
}

export interface TarReadOptions {
  /** Return true to keep an entry's contents; others are skipped without buffering. */
  filter?: (name: string, size: number) => boolean;
  /** Stop reading once this returns true (e.g. all wanted files seen). */
  done?: () => boolean;
}

const BLOCK = 512;

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  const stop = end === -1 || end > start + len ? start + len : end;
  return buf.toString('utf8', start, stop);
}

function parseOctal(buf: Buffer, start: number, len: number): number {
  // GNU base-256 encoding for large sizes: high bit of the first byte set.
  if (buf[start] & 0x80) {
    let v = buf[start] & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i];
    return v;
  }
  const s = cstr(buf, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad octal field "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  const stored = parseOctal(h, 148, 8);
  return sum === stored;
}

function parsePax(data: Buffer): Record<string, string> {
  // Records look like "<len> key=value\n".
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp === -1) break;
    const len = parseInt(data.toString('utf8', pos, sp), 10);
    if (!(len > 0)) break;
    const rec = data.toString('utf8', sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

function normalizeName(n: string): string {
  return n.replace(/^(\.\/)+/, '');
}

/** Is this file a gzip stream (magic 1f 8b) or should it be read as a plain tar? */
export function isGzipName(file: string): boolean {
  return /\.(tgz|gz)$/i.test(file);
}

/**
 * Iterate the regular files of a .tar or .tar.gz, in archive order.
 * `archiveLabel` names the file in errors.
 */
export async function* readTar(
  input: string | Readable,
  opts: TarReadOptions = {},
  archiveLabel = typeof input === 'string' ? input : '<stream>',
): AsyncGenerator<TarEntry> {
  let stream: Readable;
  if (typeof input === 'string') {
    const raw = createReadStream(input, { highWaterMark: 1 << 20 });
    stream = isGzipName(input) ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
    raw.on('error', (e) => stream.destroy(e));
  } else {
    stream = input;
  }

  const fail = (msg: string): Error => new Error(`${archiveLabel}: ${msg} (the archive looks corrupt or truncated; re-download it)`);

  // Pending bytes not yet consumed, kept as a list to avoid quadratic concatenation.
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const take = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const head = pending[0];
      const k = Math.min(head.length, n - off);
      head.copy(out, off, 0, k);
      off += k;
      if (k === head.length) pending.shift();
      else pending[0] = head.subarray(k);
    }
    pendingLen -= n;
    return out;
  };
  const drop = (n: number): void => {
    let left = n;
    while (left > 0) {
      const head = pending[0];
      if (head.length <= left) {
        left -= head.length;
        pending.shift();
      } else {
        pending[0] = head.subarray(left);
        left = 0;
      }
    }
    pendingLen -= n;
  };

  type State =
    | { kind: 'header' }
    | { kind: 'skip'; remaining: number }
    | { kind: 'body'; name: string; size: number; type: string };
  let state: State = { kind: 'header' };
  let longName: string | null = null;
  let paxPath: string | null = null;
  let ended = false;

  try {
    for await (const chunk of stream) {
      pending.push(chunk as Buffer);
      pendingLen += (chunk as Buffer).length;
      for (;;) {
        if (state.kind === 'header') {
          if (pendingLen < BLOCK) break;
          const h = take(BLOCK);
          if (h.every((b) => b === 0)) {
            ended = true; // end-of-archive marker; ignore the rest
            break;
          }
          if (!checksumOk(h)) throw fail('bad tar header checksum');
          let name = cstr(h, 0, 100);
          const size = parseOctal(h, 124, 12);
          const type = String.fromCharCode(h[156] || 0x30);
          if (h.toString('latin1', 257, 262) === 'ustar') {
            const prefix = cstr(h, 345, 155);
            if (prefix) name = `${prefix}/${name}`;
          }
          if (longName !== null) name = longName;
          if (paxPath !== null) name = paxPath;
          name = normalizeName(name);
          const isMetaEntry = type === 'L' || type === 'x' || type === 'g';
          const isFile = type === '0' || type === '\0' || type === '7';
          if (!isMetaEntry) {
            longName = null;
            paxPath = null;
          }
          const keep = isMetaEntry || (isFile && (opts.filter ? opts.filter(name, size) : true));
          const padded = Math.ceil(size / BLOCK) * BLOCK;
          if (keep) state = { kind: 'body', name, size, type };
          else if (padded > 0) state = { kind: 'skip', remaining: padded };
          continue;
        }
        if (state.kind === 'skip') {
          // Skip unwanted bodies chunk by chunk, never buffering them whole.
          const k = Math.min(pendingLen, state.remaining);
          drop(k);
          state = state.remaining === k ? { kind: 'header' } : { kind: 'skip', remaining: state.remaining - k };
          if (state.kind === 'skip') break;
          continue;
        }
        if (state.kind === 'body') {
          const padded = Math.ceil(state.size / BLOCK) * BLOCK;
          if (pendingLen < padded) break;
          const body = take(state.size);
          drop(padded - state.size);
          const { name, type } = state;
          state = { kind: 'header' };
          if (type === 'L') {
            longName = normalizeName(cstr(body, 0, body.length));
          } else if (type === 'x') {
            const p = parsePax(body).path;
            if (p !== undefined) paxPath = normalizeName(p);
          } else if (type === 'g') {
            /* global pax header: nothing we need */
          } else {
            yield { name, size: body.length, data: body };
            if (opts.done?.()) {
              ended = true;
              break;
            }
          }
        }
      }
      if (ended) break;
    }
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(archiveLabel)) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${archiveLabel}: cannot read archive: ${msg} (re-download it if it is corrupt)`, { cause: e });
  } finally {
    stream.destroy();
    pending = [];
  }
  if (!ended && (state.kind !== 'header' || pendingLen > 0)) {
    throw fail('archive ends in the middle of an entry');
  }
}
