// Resume by key: every long job (classifier and denoiser training, the generation driver, the
// min-min loop, REM) stamps its output with a key of all its inputs. What a re-run does with an
// output already there (continue it, start over, keep it, refuse) is decided here, once, so that
// the jobs cannot drift apart in when they replace or refuse someone's run.
import { existsSync } from 'node:fs';

import { OutputExistsError } from './atomic.js';
import { readSafetensors, type SafetensorsContents } from './safetensors.js';

/**
 * What a job asks for when its output is already there: true continues the same run and
 * refuses another; 'auto' continues the same run and starts over otherwise (a cached stage, whose
 * folder is its own); false or undefined keeps a finished run of the same inputs and refuses
 * anything else.
 */
export type ResumeMode = boolean | 'auto';

/**
 * A long job stopped on request (its abort signal) with its progress on disk: the same job on the
 * same inputs continues from there. Each job's own class extends it; callers catch this one.
 */
export class JobInterrupted extends Error {}

/** restart: drop what is there and start fresh; resume: continue it; done: it is this run, finished. */
export type ResumeDecision = 'restart' | 'resume' | 'done';

export interface ResumeState {
  /** the key stamped on the output already there ('' when it was written without one) */
  stored: string;
  /** the key of this run's inputs */
  current: string;
  /** whether the output already there is complete */
  finished: boolean;
  resume?: ResumeMode;
  /** replace whatever is there */
  overwrite?: boolean;
}

/** The words of a refusal, each job's own (its messages are kept as users know them). */
export interface ResumeRefusals {
  /** the output refused (OutputExistsError's path) */
  path: string;
  /** message of the plain Error when resume is true and the inputs differ */
  different: string;
  /** OutputExistsError's `what` when the inputs differ */
  other: string;
  /** OutputExistsError's `what` when the inputs are the same but the run is unfinished */
  unfinished: string;
}

/**
 * Decide what to do with an output of key `stored` for a run of key `current`; throws the
 * refusal (a plain Error when asked to resume another run, OutputExistsError otherwise).
 * A job that always resumes 'auto' is never refused, so it gives no refusal words.
 */
export function decideResume(s: ResumeState & { resume: 'auto' }): ResumeDecision;
export function decideResume(s: ResumeState, refusals: ResumeRefusals): ResumeDecision;
export function decideResume(s: ResumeState, refusals?: ResumeRefusals): ResumeDecision {
  const same = s.stored === s.current;
  if (s.overwrite || (s.resume === 'auto' && !same)) return 'restart';
  if (!same) {
    const r = words(refusals);
    throw s.resume ? new Error(r.different) : new OutputExistsError(r.path, r.other, false);
  }
  if (s.finished) return 'done';
  if (!s.resume) {
    const r = words(refusals);
    throw new OutputExistsError(r.path, r.unfinished, true);
  }
  return 'resume';
}

/** The refusal words; only a caller bypassing the overloads can reach a refusal without them. */
function words(refusals: ResumeRefusals | undefined): ResumeRefusals {
  if (refusals === undefined) throw new Error('decideResume: a refusal is due but no refusal words were given');
  return refusals;
}

export interface StampedReadOptions {
  /** add the read error to the "unreadable" line (the generation driver's wording) */
  detail?: boolean;
}

/**
 * The contents of the safetensors checkpoint `file` when its run_key is `key` (to resume from),
 * else null: no file, an unreadable one or another run's, the last two logged as starting over.
 * The key is read before anything is loaded, so a foreign or stale file never touches a job's
 * fresh state. For jobs that always resume their own run ('auto') and never refuse.
 */
export async function readStampedCheckpoint(file: string, key: string, log: (line: string) => void, o: StampedReadOptions = {}): Promise<SafetensorsContents | null> {
  if (!existsSync(file)) return null;
  let contents: SafetensorsContents;
  try {
    contents = await readSafetensors(file);
  } catch (e) {
    log(`${file}: unreadable checkpoint${o.detail ? ` (${(e as Error).message})` : ''}; starting over`);
    return null;
  }
  // a run's key is never '', so a file stamped without one is always another run
  if (decideResume({ stored: contents.metadata.run_key ?? '', current: key, finished: false, resume: 'auto' }) === 'restart') {
    log(`${file} belongs to another generation (settings, seed or data changed); starting over`);
    return null;
  }
  return contents;
}
