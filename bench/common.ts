// Shared benchmark plumbing: statistics, machine description, atomic JSON output, the
// PyTorch peer process, and a small flag parser.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync, unlinkSync, openSync, fsyncSync, closeSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// Paths

/** The repository root: the first folder up from here holding bench/torch_engine.py. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bench', 'torch_engine.py'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('cannot find the repository root (bench/torch_engine.py) above ' + dirname(fileURLToPath(import.meta.url)));
}

/** The Python that has PyTorch: $ECLIPSE_PYTHON, else Debian's /usr/bin/python3 (the PATH python may lack torch). */
export function pythonPath(): string {
  return process.env.ECLIPSE_PYTHON || '/usr/bin/python3';
}

// ---------------------------------------------------------------------------
// Statistics

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Round to `digits` significant decimals for JSON and tables. */
export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

// ---------------------------------------------------------------------------
// Machine

export interface MachineInfo {
  cpu_model: string;
  logical_cpus: number;
  total_memory_gib: number;
  loadavg_at_start: number[];
  platform: string;
  node_version: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  let model = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1]!.trim();
  } catch {
    // not Linux: keep os.cpus()'s name
  }
  return {
    cpu_model: model,
    logical_cpus: os.cpus().length,
    total_memory_gib: round(os.totalmem() / 2 ** 30, 1),
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node_version: process.version,
    date: new Date().toISOString(),
  };
}

/** Busy and total jiffies of all CPUs from /proc/stat, or null where there is none. */
function cpuJiffies(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total };
  } catch {
    return null;
  }
}

/** Fraction of all CPUs busy over the next `ms` milliseconds (null where unknown). */
export async function cpuBusy(ms: number): Promise<number | null> {
  const a = cpuJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuJiffies();
  if (a === null || b === null || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Wait until other processes leave the CPUs alone (busy below `maxBusy` over 1-second
 * windows, twice in a row), for at most `budgetMs`. Returns the milliseconds waited.
 */
export async function waitForIdle(maxBusy: number, budgetMs: number, log: (s: string) => void): Promise<number> {
  const t0 = Date.now();
  let calm = 0;
  let said = false;
  while (Date.now() - t0 < budgetMs) {
    const busy = await cpuBusy(1000);
    if (busy === null) return Date.now() - t0;
    calm = busy < maxBusy ? calm + 1 : 0;
    if (calm >= 2) break;
    if (!said && busy >= maxBusy) {
      log(`  other processes are using the CPUs (${Math.round(busy * 100)}% busy): waiting for them (at most ${Math.round(budgetMs / 1000)}s in all)`);
      said = true;
    }
  }
  return Date.now() - t0;
}

// ---------------------------------------------------------------------------
// Output

/** Write JSON so readers never see a half-written file: temp file in the same folder, fsync, rename. */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw e;
  }
}

/** The JSON object in `path`, or {} when it is missing or unreadable. */
export function readJsonObject(path: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Render rows as a plain-text table; numbers right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header.map(String), ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[], isHeader: boolean) =>
    r
      .map((v, c) => {
        const numeric = !isHeader && typeof rows[0]?.[c] === 'number';
        return numeric ? v.padStart(widths[c]!) : v.padEnd(widths[c]!);
      })
      .join('  ')
      .trimEnd();
  return [line(cells[0]!, true), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map((r) => line(r, false))].join('\n');
}

// ---------------------------------------------------------------------------
// Peers: long-lived benchmark processes answering one JSON request per line on stdin with one
// JSON reply per line on stdout. While a peer waits for its next request it is blocked on
// stdin, so peers never compete with each other for the cores.

export class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly stderr: string[] = [];
  private exited: string | null = null;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child.on('error', (e) => this.fail(`cannot start ${command}: ${e.message}`));
    this.child.on('exit', (code, signal) => this.fail(`${name} exited (code ${code}, signal ${signal})`));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => {
      this.stderr.push(d);
      if (this.stderr.length > 50) this.stderr.shift();
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
  }

  private fail(why: string): void {
    if (this.exited !== null) return;
    this.exited = why;
    const tail = this.stderr.join('').trim().split('\n').slice(-15).join('\n');
    for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: `${why}${tail ? `\n${tail}` : ''}` }));
  }

  /** Send one request and wait for its reply; a reply with `error` becomes a thrown Error. */
  request<T = Record<string, unknown>>(req: Record<string, unknown>): Promise<T> {
    if (this.exited !== null) return Promise.reject(new Error(this.exited));
    return new Promise<T>((resolveReply, reject) => {
      this.waiting.push((line) => {
        let v: Record<string, unknown>;
        try {
          v = JSON.parse(line) as Record<string, unknown>;
        } catch {
          reject(new Error(`${this.name} answered something that is not JSON: ${line.slice(0, 200)}`));
          return;
        }
        if (typeof v.error === 'string') reject(new Error(`${this.name}: ${v.error}`));
        else resolveReply(v as T);
      });
      this.child.stdin.write(JSON.stringify(req) + '\n');
    });
  }

  /** Ask the peer to quit and wait for it to go; kill it if it does not within `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.exited !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      await this.request({ op: 'quit' });
    } catch {
      // already gone
    }
    this.lines.close();
    this.child.stdin.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** Stop the process now (on errors). */
  kill(): void {
    if (this.exited === null) this.child.kill('SIGTERM');
  }
}

/** A Python peer: `script` run by the Python that has PyTorch (see pythonPath). */
export class PyPeer extends Peer {
  constructor(script: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}) {
    const py = pythonPath();
    super(`${py} ${script}`, py, [script, ...args], env);
  }
}

// ---------------------------------------------------------------------------
// Flags

export interface ParsedArgs {
  /** --name value / --name=value / bare --flag (true); a flag's values run until the next --flag. */
  flags: Map<string, string[] | true>;
  positional: string[];
}

/** Flags named in `booleans` never take values, so `--quick engine` keeps `engine` positional. */
export function parseArgs(argv: readonly string[], booleans: ReadonlySet<string> = new Set()): ParsedArgs {
  const flags = new Map<string, string[] | true>();
  const positional: string[] = [];
  let current: string | null = null;
  for (const a of argv) {
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) {
        flags.set(a.slice(2, eq), a.slice(eq + 1).split(',').filter(Boolean));
        current = null;
      } else {
        const name = a.slice(2);
        flags.set(name, true);
        current = booleans.has(name) ? null : name;
      }
    } else if (current !== null) {
      const prev = flags.get(current);
      const vals = a.split(',').filter(Boolean);
      flags.set(current, prev === true ? vals : [...(prev ?? []), ...vals]);
    } else positional.push(a);
  }
  return { flags, positional };
}

export function flagNumber(args: ParsedArgs, name: string, fallback: number): number {
  const v = args.flags.get(name);
  if (v === undefined) return fallback;
  if (v === true || v.length !== 1 || !Number.isFinite(Number(v[0]))) throw new Error(`--${name} needs one number`);
  return Number(v[0]);
}
