// Progress for long jobs: a one-line bar on a terminal, periodic plain lines otherwise
// (CI logs, pipes), always with throughput and ETA.

export interface ProgressOptions {
  /** label shown first, e.g. "train" */
  label: string;
  /** total units of work (e.g. images over all epochs) */
  total: number;
  /** unit name for the rate, e.g. "img" */
  unit?: string;
  /** show the rate (default); off where the units are estimates, e.g. a matrix's estimated seconds */
  showRate?: boolean;
  stream?: NodeJS.WriteStream;
  /** seconds between plain lines when not a TTY */
  plainEvery?: number;
  /** silence output (tests) */
  quiet?: boolean;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export class Progress {
  private done = 0;
  private readonly start = performance.now();
  private windowStart = performance.now();
  private windowDone = 0;
  private rate = 0;
  private lastPrint = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  /** Mark `n` more units done (from a resumed position: call skip first). */
  tick(n: number, fields: Record<string, string> = {}): void {
    this.done += n;
    this.windowDone += n;
    const now = performance.now();
    const win = (now - this.windowStart) / 1000;
    if (win >= 2) {
      // Smoothed rate over recent work, so the ETA follows slowdowns.
      const r = this.windowDone / win;
      this.rate = this.rate === 0 ? r : 0.5 * this.rate + 0.5 * r;
      this.windowStart = now;
      this.windowDone = 0;
    }
    this.print(fields, false);
  }

  /** Account for work already done before this process (resume), without counting its time. */
  skip(n: number): void {
    this.done += n;
  }

  get imagesPerSecond(): number {
    return this.rate > 0 ? this.rate : this.windowDone / Math.max(1e-3, (performance.now() - this.windowStart) / 1000);
  }
  get elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }

  print(fields: Record<string, string>, force: boolean): void {
    if (this.o.quiet) return;
    const now = performance.now();
    const every = this.tty ? 0.2 : (this.o.plainEvery ?? 15);
    if (!force && now - this.lastPrint < every * 1000) return;
    this.lastPrint = now;
    const frac = this.o.total > 0 ? Math.min(1, this.done / this.o.total) : 0;
    const rate = this.imagesPerSecond;
    const eta = rate > 0 ? (this.o.total - this.done) / rate : NaN;
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
    const head = `${this.o.label} ${(frac * 100).toFixed(1).padStart(5)}%`;
    const unit = this.o.unit ?? 'it';
    // slow units (a loop of minutes) read better as seconds per unit
    const speed = rate > 0 && rate < 1 ? `${(1 / rate).toFixed(0)} s/${unit}` : `${rate.toFixed(0)} ${unit}/s`;
    const tail = `${this.o.showRate === false ? '' : `${speed} | `}elapsed ${formatDuration(this.elapsed)} | ETA ${formatDuration(eta)}`;
    if (this.tty) {
      const width = 20;
      const fill = Math.round(frac * width);
      const bar = `[${'='.repeat(fill)}${fill < width ? '>' : ''}${' '.repeat(Math.max(0, width - fill - 1))}]`;
      this.stream.write(`\r\x1b[2K${head} ${bar} ${extra ? `${extra} | ` : ''}${tail}`);
    } else this.stream.write(`${head} | ${extra ? `${extra} | ` : ''}${tail}\n`);
  }

  /** Print a message on its own line (keeps the bar intact on a terminal). */
  log(msg: string): void {
    if (this.o.quiet) return;
    this.stream.write(this.tty ? `\r\x1b[2K${msg}\n` : `${msg}\n`);
  }

  finish(fields: Record<string, string> = {}): void {
    this.print(fields, true);
    if (this.tty && !this.o.quiet) this.stream.write('\n');
  }
}
