// How a long job runs: where its tensors live, whether it prints progress, where its messages
// go and the signal that stops it. Every long job's options extend this one type; a job that
// needs a field given (a resolved device, a log) narrows it in its own options.
import type { Device } from './tensor.js';

/** Where a job's messages go (one line each). */
export type Log = (message: string) => void;

export interface RunContext {
  /** where tensors live; 'auto' (the default): CUDA when available */
  device?: Device | 'auto';
  /** no progress lines */
  quiet?: boolean;
  log?: Log;
  /** stops the job at its next checkpoint (re-running resumes it) */
  signal?: AbortSignal;
}
