// eclipse worker | eclipse queue status: the distributed job queue (BullMQ over Redis).
import { hostname } from 'node:os';

import { suggest } from '../settings.js';
import { COMMON_HELP, UsageError, int, parse, required, str, type Flags } from './args.js';

export const WORKER_HELP = `eclipse worker --queue redis://HOST:PORT --store DIR [--name NAME]

Take benchmark cells and purification shards from the queue and run them, one at a time, each in
a child process. Start any number, on any machines that reach Redis and mount the shared
artifact store (DIR: the coordinator's --store). Stop with Ctrl-C or SIGTERM: the current job
finishes first; a worker killed outright loses its job to another worker after the lock time.
  --queue URL     redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS
  --store DIR     the shared artifact store (the coordinator's --store; never made by a worker)
  --name NAME     shown by eclipse queue status (default host:pid)
  --lock-seconds N  a job's lock: a dead worker's job is retaken after it (default 30)
See docs/queue.md for starting Redis and workers on several machines.
${COMMON_HELP}`;

export const QUEUE_HELP = `eclipse queue status --queue redis://HOST:PORT [--json]

Jobs waiting, running and failed, the workers connected, and an ETA at the recent pace.`;

/**
 * --queue, checked before anything connects or is made: a URL of Redis (redis:// or rediss://),
 * with a host. The password never appears in the error.
 */
export function queueFlag(flags: Flags): string {
  const url = required(flags, 'queue', 'the queue, redis://HOST:PORT');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--queue must be a Redis URL, redis://HOST:PORT (rediss:// for TLS, redis://:PASSWORD@HOST:PORT with a password); "${url.replace(/:[^:@/]*@/, ':***@')}" is not a URL`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`--queue must be a Redis URL starting with redis:// or rediss:// (TLS), got ${u.protocol}//...`);
  if (u.hostname === '') throw new UsageError('--queue names no host: give redis://HOST:PORT');
  return url;
}

/** --store: given, and not empty. */
function storeFlag(flags: Flags, hint: string): string {
  const store = required(flags, 'store', hint);
  if (store.trim() === '') throw new UsageError(`--store is empty: ${hint}`);
  return store;
}

export async function workerCommand(argv: string[]): Promise<void> {
  const { flags, positionals } = parse(argv, { queue: { type: 'string' }, store: { type: 'string' }, name: { type: 'string' }, 'lock-seconds': { type: 'string' } });
  if (flags.help) return console.log(WORKER_HELP);
  if (positionals.length > 0) throw new UsageError(`worker takes no arguments besides its options (got "${positionals[0]}"): give --queue URL --store DIR`);
  // every flag is checked before anything loads or connects
  const queue = queueFlag(flags);
  const store = storeFlag(flags, "the shared artifact store (the coordinator's --store)");
  const threads = int(flags, 'threads', 1) ?? 2;
  const lockSeconds = int(flags, 'lock-seconds', 1) ?? 30;
  const name = str(flags, 'name') ?? `${hostname()}:${process.pid}`;
  if (name.trim() === '') throw new UsageError('--name is empty: give the name queue status shows, or leave it out (default host:pid)');
  const dev = str(flags, 'device') ?? 'auto';
  if (!['auto', 'cpu'].includes(dev) && !/^cuda(:\d+)?$/.test(dev)) throw new UsageError(`--device must be auto, cpu, cuda or cuda:N (got "${dev}")`);
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { runWorker } = await import('../queue/worker.js'); // BullMQ loads only for queue commands
  const r = await runWorker({
    queue,
    store,
    name,
    threads,
    device: dev,
    lockMs: lockSeconds * 1000,
    log: (m) => console.error(m),
    signal: stop.signal,
  });
  console.log(`worker stopped: ${r.completed} job(s) done, ${r.failed} failed`);
}

const fmt = (s: number): string => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);

export async function queueCommand(argv: string[]): Promise<void> {
  const { flags, positionals } = parse(argv, { queue: { type: 'string' }, json: { type: 'boolean' } });
  if (flags.help || positionals[0] === undefined) return console.log(QUEUE_HELP);
  if (positionals[0] !== 'status') throw new UsageError(`unknown queue command "${positionals[0]}"${suggest(positionals[0], ['status'])}: the only one is status`);
  if (positionals.length > 1) throw new UsageError(`queue status takes no arguments besides its options (got "${positionals[1]}"): give --queue URL`);
  const url = queueFlag(flags);
  const { queueStatus } = await import('../queue/status.js');
  const s = await queueStatus(url);
  if (flags.json) return console.log(JSON.stringify(s, null, 2));
  const c = s.counts;
  console.log(`jobs: ${c.waiting ?? 0} waiting, ${c.active ?? 0} running, ${(c.delayed ?? 0) + (c.prioritized ?? 0)} delayed (retrying), ${c.failed ?? 0} failed`);
  console.log(`workers: ${s.workers.length}${s.workers.length ? ` (${s.workers.map((w) => w.name || w.addr).join(', ')})` : ''}`);
  for (const a of s.active) console.log(`  running ${a.kind} ${a.id} on ${a.worker} for ${fmt(a.running_s)}${a.attempts ? ` (attempt ${a.attempts + 1})` : ''}`);
  for (const f of s.failed) console.log(`  failed ${f.kind} ${f.id} after ${f.attempts} attempt(s): ${f.reason}`);
  const pace = Object.entries(s.meanSeconds).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  console.log(`ETA: ${s.etaSeconds === null ? 'unknown until a job of each waiting kind has finished' : fmt(s.etaSeconds)}${pace ? ` (recent pace: ${pace} per job)` : ''}`);
}
