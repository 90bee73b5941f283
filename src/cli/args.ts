// Flag parsing shared by the commands: every command takes --profile plus explicit overrides.
// Every flag's value is checked as the flags are parsed, before a command does any work: numbers
// against their range (src/settings.ts FLAG_RANGES), texts by the option's own check.
import { parseArgs } from 'node:util';

import { PROFILES, type ProfileName } from '../profiles.js';
import { FLAG_RANGES, readNumbers, suggest, type NumberRange } from '../settings.js';

export class UsageError extends Error {}

export type Flags = Record<string, string | boolean | undefined>;

/** One option: parseArgs' declaration plus what its value may be. */
export interface OptionDef {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** a number's range; default FLAG_RANGES[name]; null: checked by its owner (a settings table's flag) */
  readonly range?: NumberRange | null;
  /** a text's check: why `v` is wrong ("must be one of ..."), or null */
  readonly check?: (v: string) => string | null;
}
export type OptionSpec = Readonly<Record<string, OptionDef>>;

const DEVICE = /^(auto|cpu|cuda(:\d+)?)$/;

/** An option's check for a choice: `must be one of a, b (got "c") (did you mean b?)`. */
export function oneOf(choices: readonly string[]): (v: string) => string | null {
  return (v) => (choices.includes(v) ? null : `must be one of ${choices.join(', ')} (got "${v}")${suggest(v, choices)}`);
}

/** Flags every command understands. */
export const COMMON: OptionSpec = {
  profile: { type: 'string', check: oneOf(PROFILES) },
  seed: { type: 'string' },
  device: { type: 'string', check: (v) => (DEVICE.test(v) ? null : `must be auto, cpu, cuda or cuda:N (got "${v}")`) },
  threads: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

// A value that starts with a dash and is a number ("-1", "-.5", "-8/255"): the value of the
// string flag before it, for range checks to judge, rather than an option.
const NEGATIVE_NUMBER = /^-\.?[0-9]/;

/**
 * argv with each string flag's value joined to it (`--epochs -1` -> `--epochs=-1`, which
 * parseArgs would call ambiguous), after refusing unknown options (with the nearest name),
 * string flags without a value and boolean flags given one.
 */
function normalise(argv: readonly string[], options: OptionSpec): string[] {
  const names = Object.keys(options);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.push(a);
      continue;
    }
    if (!a.startsWith('--')) {
      if (!names.some((n) => options[n]!.short === a.slice(1))) throw new UsageError(`unknown option ${a} (--help lists the options)`);
      out.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const def = options[name];
    if (def === undefined) throw new UsageError(`unknown option --${name}${suggest(name, names, '--') || ' (--help lists the options)'}`);
    if (def.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value (got "${a}")`);
      out.push(a);
    } else if (eq >= 0) out.push(a);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${name} needs a value`);
      if (next.startsWith('-') && next !== '-' && !NEGATIVE_NUMBER.test(next))
        throw new UsageError(`--${name} needs a value, not the option ${next} (write --${name}=${next} if that is the value)`);
      out.push(`--${name}=${next}`);
      i++;
    }
  }
  return out;
}

/** The flags and positionals of argv; `maxPositionals` 0 for a command that takes options only. */
export function parse(argv: string[], options: OptionSpec, maxPositionals = Infinity): { flags: Flags; positionals: string[] } {
  const all: OptionSpec = { ...COMMON, ...options };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: normalise(argv, all), options: all, allowPositionals: true, strict: true });
  } catch (e) {
    // normalise() has refused what parseArgs would; anything else still gets one line
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '').split('\n')[0]!);
  }
  const flags = parsed.values as Flags;
  if (flags.help === true) return { flags, positionals: parsed.positionals }; // help whatever else was given
  const extra = parsed.positionals[maxPositionals];
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"${maxPositionals === 0 ? ': this command takes options only (--help lists them)' : ''}`);
  for (const [name, def] of Object.entries(all)) {
    const v = flags[name];
    if (typeof v !== 'string') continue;
    const bad = def.check?.(v) ?? null;
    if (bad !== null) throw new UsageError(`--${name} ${bad}`);
    const range = def.range === undefined ? FLAG_RANGES[name] : def.range;
    const r = range ? readNumbers(range, v) : undefined;
    if (r && 'error' in r) throw new UsageError(`--${name} ${r.error}`);
  }
  return { flags, positionals: parsed.positionals };
}

/** An unknown subcommand, with the nearest one: `unknown denoiser command "trian" (did you mean train?)`. */
export function unknownCommand(command: string, sub: string, subs: readonly string[]): UsageError {
  return new UsageError(`unknown ${command} command "${sub}"${suggest(sub, subs)}: the ${command} commands are ${subs.join(', ')}`);
}

export function profileOf(f: Flags, fallback: ProfileName = 'mini'): ProfileName {
  const p = (f.profile as string | undefined) ?? fallback;
  const bad = COMMON.profile!.check!(p);
  if (bad !== null) throw new UsageError(`--profile ${bad}`);
  return p as ProfileName;
}

/** The numbers of a flag (its FLAG_RANGES entry, else any number). */
function numbers(f: Flags, name: string): number[] | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`);
  const r = readNumbers(FLAG_RANGES[name] ?? { kind: 'number' }, v);
  if ('error' in r) throw new UsageError(`--${name} ${r.error}`);
  return r.values;
}

export function num(f: Flags, name: string): number | undefined {
  const list = FLAG_RANGES[name]?.list;
  if (list) throw new Error(`--${name} is a list: read it with numList`); // a programming error
  return numbers(f, name)?.[0];
}

/** A comma-separated list flag (FLAG_RANGES says it is one), each value checked. */
export function numList(f: Flags, name: string): number[] | undefined {
  if (!FLAG_RANGES[name]?.list) throw new Error(`--${name} is not declared a list in FLAG_RANGES`);
  return numbers(f, name);
}

/** A whole number; `min` for a flag without a FLAG_RANGES entry (those have their range there). */
export function int(f: Flags, name: string, min = 0): number | undefined {
  const n = num(f, name);
  if (n !== undefined && (!Number.isInteger(n) || n < min)) throw new UsageError(`--${name} must be a whole number, at least ${min} (got ${n})`);
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
const RERUN = 'run the same command again to continue';
let resumeHint = RERUN;
/** Whether Ctrl-C stopped a command early (it then exits 130, so scripts can tell a stop from the end). */
export function wasInterrupted(): boolean {
  return interrupted;
}

/** How the running command continues a stopped job (set by interruptible). */
export function howToResume(): string {
  return resumeHint;
}

/**
 * Ctrl-C stops after the current checkpoint/shard; a second one quits at once. `hint` says how
 * this command continues (a command whose output refuses a rerun without --resume says so).
 */
export function interruptible(hint = RERUN): { signal: AbortSignal; done: () => void } {
  resumeHint = hint;
  const stop = new AbortController();
  const on = (): void => {
    interrupted = true;
    if (stop.signal.aborted) process.exit(130);
    console.error(`\nstopping at the next checkpoint (then ${resumeHint}); Ctrl-C again to quit now`);
    stop.abort();
  };
  process.on('SIGINT', on);
  return { signal: stop.signal, done: () => process.off('SIGINT', on) };
}

