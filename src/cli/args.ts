// Flag parsing shared by the commands: every command takes --profile plus explicit overrides.
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { PROFILES, type ProfileName } from '../profiles.js';

export class UsageError extends Error {}

export type Flags = Record<string, string | boolean | undefined>;
type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Flags every command understands. */
export const COMMON: OptionSpec = {
  profile: { type: 'string' },
  seed: { type: 'string' },
  device: { type: 'string' },
  threads: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export function parse(argv: string[], options: OptionSpec): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
    return { flags: values as Flags, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function profileOf(f: Flags, fallback: ProfileName = 'mini'): ProfileName {
  const p = (f.profile as string | undefined) ?? fallback;
  if (!PROFILES.includes(p as ProfileName)) throw new UsageError(`--profile must be one of ${PROFILES.join(', ')} (got "${p}")`);
  return p as ProfileName;
}

export function num(f: Flags, name: string): number | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${String(v)}")`);
  return n;
}

export function int(f: Flags, name: string, min = 0): number | undefined {
  const n = num(f, name);
  if (n !== undefined && (!Number.isInteger(n) || n < min)) throw new UsageError(`--${name} must be an integer >= ${min} (got ${n})`);
  return n;
}

export function str(f: Flags, name: string): string | undefined {
  const v = f[name];
  return typeof v === 'string' ? v : undefined;
}

export function required(f: Flags, name: string, hint: string): string {
  const v = str(f, name);
  if (v === undefined) throw new UsageError(`--${name} is required: ${hint}`);
  return v;
}

/** Help text common to every command. */
export const COMMON_HELP = `
Common options:
  --profile smoke|mini|paper   scale profile (default mini); flags below override it
  --seed N                     random seed (default 0)
  --device auto|cpu|cuda       where tensors live (default auto: cuda when available)
  --threads N                  CPU threads for libtorch (default 2)
  --quiet                      no progress output
  -h, --help                   this help`;

let interrupted = false;
/** Whether Ctrl-C stopped a command early (it then exits 130, so scripts can tell a stop from the end). */
export function wasInterrupted(): boolean {
  return interrupted;
}

/** Ctrl-C stops after the current checkpoint/shard; a second one quits at once. */
export function interruptible(): { signal: AbortSignal; done: () => void } {
  const stop = new AbortController();
  const on = (): void => {
    interrupted = true;
    if (stop.signal.aborted) process.exit(130);
    console.error('\nstopping at the next checkpoint (re-run the same command to resume); Ctrl-C again to quit now');
    stop.abort();
  };
  process.on('SIGINT', on);
  return { signal: stop.signal, done: () => process.off('SIGINT', on) };
}

