// Stage caching: each stage of a pipeline records the key of its inputs when it finishes;
// a re-run with the same key skips it, a changed key redoes it (and everything after it).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { atomicWriteFile } from '../io/atomic.js';

export interface StageLog {
  (message: string): void;
}

/**
 * Run `work` unless `dir/.stage-<name>.json` holds the same key; returns whether it ran.
 * The stamp is written only after `work` succeeds, so a failed or interrupted stage reruns
 * (resuming from its own checkpoints when it has them).
 */
export async function stage(dir: string, name: string, key: unknown, work: () => Promise<void>, log: StageLog): Promise<boolean> {
  const stamp = join(dir, `.stage-${name}.json`);
  const k = JSON.stringify(key);
  if (existsSync(stamp) && (await readFile(stamp, 'utf8')) === k) {
    log(`[${name}] up to date, skipped`);
    return false;
  }
  log(`[${name}] running`);
  const t0 = performance.now();
  await work();
  await atomicWriteFile(stamp, k);
  log(`[${name}] done in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
  return true;
}

/** A short (16 hex) sha256 of a key's JSON: names artifacts and cells by what made them. */
export function keyHash(key: unknown): string {
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 16);
}
