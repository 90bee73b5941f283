// The artifact store that queue workers share (an NFS mount in practice). Inputs and outputs of
// jobs are content-addressed (cas/<sha256>), written atomically and verified when read; the
// matrix's derived artifacts (poisons, denoisers, purified sets, checkpoints) live under
// artifacts/, named by the hash of what made them, built once under a lock and checked against
// the sha256 recorded when they were written (io/stage.ts). Every path a job names is
// resolved inside the store; anything outside is refused.
import { randomUUID } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import { atomicWriteFile } from '../io/atomic.js';
import { fileSha256 } from '../io/hash.js';

export class StoreError extends Error {}

const MARKER = '.eclipse-store.json';
const SHA = /^[0-9a-f]{64}$/;

export class ArtifactStore {
  private readonly verifiedStamp = new Map<string, string>();
  private constructor(
    readonly root: string,
    /** a random id written when the store was made: a job names the store it was made for */
    readonly id: string,
  ) {}

  /** Open the store at `root`, making it when missing (the coordinator's side). */
  static async init(root: string): Promise<ArtifactStore> {
    const dir = resolve(root);
    await mkdir(dir, { recursive: true });
    if (!existsSync(join(dir, MARKER))) await atomicWriteFile(join(dir, MARKER), JSON.stringify({ id: randomUUID(), created: new Date().toISOString(), by: hostname() }) + '\n');
    return ArtifactStore.open(dir);
  }

  /** Open an existing store (a worker's side): a missing one is a clear error, never made. */
  static async open(root: string): Promise<ArtifactStore> {
    const dir = resolve(root);
    const marker = join(dir, MARKER);
    if (!existsSync(marker))
      throw new StoreError(`${dir} is not an eclipse artifact store (no ${MARKER}): give the shared path the coordinator uses (its --store), mounted on this machine`);
    const { id } = JSON.parse(await readFile(marker, 'utf8')) as { id: string };
    return new ArtifactStore(realpathSync(dir), id);
  }

  /** A path inside the store from a relative one; absolute paths, `..` and links leading out are refused. */
  resolve(rel: string): string {
    if (typeof rel !== 'string' || rel.length === 0 || isAbsolute(rel) || rel.includes('\0')) throw new StoreError(`refused path ${JSON.stringify(rel)}: a job names paths relative to the artifact store`);
    const p = resolve(this.root, rel);
    const inside = (q: string): boolean => {
      const r = relative(this.root, q);
      return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
    };
    if (!inside(p)) throw new StoreError(`refused path ${JSON.stringify(rel)}: it leads outside the artifact store ${this.root}`);
    // a link inside the store must not lead out of it either
    let q = p;
    while (!existsSync(q) && q !== this.root) q = resolve(q, '..');
    if (!inside(realpathSync(q))) throw new StoreError(`refused path ${JSON.stringify(rel)}: it resolves outside the artifact store ${this.root}`);
    return p;
  }

  /** The folder of the profile's CIFAR-10 import (made by the coordinator before any job). */
  dataDir(profile: string): string {
    return this.resolve(join('data', `cifar10-${profile}`));
  }

  get artifactsDir(): string {
    return this.resolve('artifacts');
  }

  casPath(sha: string): string {
    if (!SHA.test(sha)) throw new StoreError(`refused artifact id ${JSON.stringify(sha)}: not a sha256`);
    return this.resolve(join('cas', sha.slice(0, 2), sha));
  }

  /** Copy a file into the store by its content; returns its sha256 (nothing written when present). */
  async putFile(path: string): Promise<string> {
    const sha = await fileSha256(path);
    const dest = this.casPath(sha);
    if (existsSync(dest) && (await this.checked(dest, sha))) return sha;
    await mkdir(join(dest, '..'), { recursive: true });
    const tmp = `${dest}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    await copyFile(path, tmp);
    if ((await fileSha256(tmp)) !== sha) {
      await unlink(tmp).catch(() => undefined);
      throw new StoreError(`copying ${path} into the store changed its bytes (is the shared path full or failing?)`);
    }
    await rename(tmp, dest);
    return sha;
  }

  /**
   * The path of a stored artifact after checking its bytes. A damaged one is moved to
   * cas/damaged/ (kept for inspection) and reported, so the job fails and is retried.
   */
  async verified(sha: string): Promise<string> {
    const p = this.casPath(sha);
    if (!existsSync(p)) throw new StoreError(`artifact ${sha.slice(0, 12)} is not in the store ${this.root}: is this the coordinator's shared path?`);
    if (await this.checked(p, sha)) return p;
    const aside = this.resolve(join('cas', 'damaged', `${sha}.${Date.now()}`));
    await mkdir(join(aside, '..'), { recursive: true });
    await rename(p, aside).catch(() => undefined);
    throw new StoreError(`artifact ${sha.slice(0, 12)} in ${this.root} is damaged (its sha256 differs): moved to ${aside}; the coordinator puts it back on its next run`);
  }

  /** The artifact a job key produced before (action cache), when it is still intact. */
  async lookup(key: string): Promise<string | null> {
    const f = this.resolve(join('keys', `${key}.json`));
    if (!existsSync(f)) return null;
    const { sha } = JSON.parse(await readFile(f, 'utf8')) as { sha: string };
    return existsSync(this.casPath(sha)) && (await this.checked(this.casPath(sha), sha)) ? sha : null;
  }

  async record(key: string, sha: string): Promise<void> {
    const f = this.resolve(join('keys', `${key}.json`));
    await mkdir(join(f, '..'), { recursive: true });
    await atomicWriteFile(f, JSON.stringify({ sha, at: new Date().toISOString(), by: hostname() }));
  }

  /** A scratch file path inside the store (same filesystem as cas/, for the final copy). */
  async scratch(ext: string): Promise<string> {
    const dir = this.resolve('tmp');
    await mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomUUID().slice(0, 8)}${ext}`);
  }

  /** Whether `p` has the bytes `sha` (re-hashed only when its size or time changed). */
  private async checked(p: string, sha: string): Promise<boolean> {
    const st = await stat(p);
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (this.verifiedStamp.get(p) === stamp) return true;
    const ok = (await fileSha256(p)) === sha;
    if (ok) this.verifiedStamp.set(p, stamp);
    return ok;
  }
}
