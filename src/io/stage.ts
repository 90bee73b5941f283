// Stage caching: each stage of a pipeline records the key of its inputs when it finishes;
// a re-run with the same key skips it, a changed key redoes it (and everything after it).
// A stage runs under a lock file, so processes sharing a folder (matrix runners, queue workers
// on a shared path) build it once; its output files' sha256 are recorded and checked on reuse.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { atomicWriteFile } from './atomic.js';
import { fileSha256 } from './hash.js';
import { withFileLock } from './lock.js';

export interface StageLog {
  (message: string): void;
}

export { fileSha256 };

/** Output files whose bytes differ from the digests recorded when the stage finished. */
async function damagedOutputs(sums: string): Promise<string[]> {
  if (!existsSync(sums)) return [];
  const want = JSON.parse(await readFile(sums, 'utf8')) as Record<string, string>;
  const bad: string[] = [];
  for (const [file, sha] of Object.entries(want)) if (!existsSync(file) || (await fileSha256(file)) !== sha) bad.push(file);
  return bad;
}

/** The files a stage keeps beside its outputs: its key, its outputs' digests, its build time, its lock. */
function stageFiles(dir: string, name: string): { stamp: string; sums: string; times: string; lock: string } {
  const at = (suffix: string): string => join(dir, `.stage-${name}${suffix}`);
  return { stamp: at('.json'), sums: at('.sha256.json'), times: at('.seconds.json'), lock: at('.lock') };
}

/**
 * Run `work` unless `dir/.stage-<name>.json` holds the same key (and its `outputs`, when given,
 * still have the bytes they were written with); returns whether it ran. The stamp is written
 * only after `work` succeeds, so a failed or interrupted stage reruns (resuming from its own
 * checkpoints when it has them).
 */
export async function stage(dir: string, name: string, key: unknown, work: () => Promise<void>, log: StageLog, outputs: readonly string[] = []): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  const { stamp, sums, times, lock } = stageFiles(dir, name);
  const k = JSON.stringify(key);
  return withFileLock(
    lock,
    async () => {
      if (existsSync(stamp) && (await readFile(stamp, 'utf8')) === k) {
        const bad = await damagedOutputs(sums);
        if (bad.length === 0) {
          log(`[${name}] up to date, skipped`);
          return false;
        }
        log(`[${name}] ${bad.join(', ')} changed on disk since the stage wrote it (sha256 differs): rebuilding`);
        await rm(stamp, { force: true });
      }
      log(`[${name}] running`);
      // The work's wall time, summed over the attempts an interruption split it into (same key).
      const before = existsSync(times) ? (JSON.parse(await readFile(times, 'utf8')) as StageTime) : null;
      const carried = before && before.key === k && !before.finished ? before.seconds : 0;
      const t0 = performance.now();
      const record = (finished: boolean): Promise<void> => atomicWriteFile(times, JSON.stringify({ key: k, seconds: carried + (performance.now() - t0) / 1000, finished } satisfies StageTime));
      try {
        await work();
      } catch (e) {
        await record(false).catch(() => undefined); // the work's own error is the one to report
        throw e;
      }
      if (outputs.length) await atomicWriteFile(sums, JSON.stringify(Object.fromEntries(await Promise.all(outputs.map(async (f) => [f, await fileSha256(f)] as const)))));
      await record(true);
      await atomicWriteFile(stamp, k);
      log(`[${name}] done in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
      return true;
    },
    { onWait: (who) => log(`[${name}] being built by ${who}: waiting for it`) },
  );
}

interface StageTime {
  key: string;
  seconds: number;
  finished: boolean;
}

/**
 * The wall time the work of the stage now in `dir` took (summed over interrupted attempts), or
 * null where it was not recorded: not built, built by an older eclipse, or the record is of
 * another key than the stage's stamp.
 */
export async function stageSeconds(dir: string, name: string): Promise<number | null> {
  const { stamp, times } = stageFiles(dir, name);
  if (!existsSync(stamp) || !existsSync(times)) return null;
  const t = JSON.parse(await readFile(times, 'utf8')) as StageTime;
  return t.finished && t.key === (await readFile(stamp, 'utf8')) ? t.seconds : null;
}

/** A short (16 hex) sha256 of a key's JSON: names artifacts and cells by what made them. */
export function keyHash(key: unknown): string {
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 16);
}
