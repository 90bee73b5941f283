// The coordinator's lease on the queue: one coordinator per matrix or purification, held as a
// Redis key that is renewed while it runs and lapses 30 s after its holder dies, together with
// the queue, the job events that wake its wait loop, and the record of finished jobs' durations.
import { hostname } from 'node:os';

import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';

import { keyHash } from '../io/stage.js';
import { QUEUE_NAME, QUEUE_PREFIX } from './jobs.js';
import { connectRedis } from './redis.js';
import { ArtifactStore } from './store.js';

export class CoordinatorBusy extends Error {}

export interface Coordination {
  queue: Queue;
  /** sleep up to `ms`, woken early when a job completes or fails */
  nap(ms: number): Promise<void>;
  /** remember a finished job's duration (for the status ETA) */
  record(line: string): Promise<unknown>;
  connection: Redis;
  store: ArtifactStore;
  release(): Promise<void>;
}

/**
 * Connect, open the store, and take the coordinator lock `what` (one coordinator per matrix or
 * purification): a second one is refused while the first is alive; the lock lapses 30 s after
 * its holder dies.
 */
export async function coordinate(queueUrl: string, storeDir: string, what: string, log: (m: string) => void): Promise<Coordination> {
  const store = await ArtifactStore.init(storeDir);
  const connection = await connectRedis(queueUrl, { log, name: 'eclipse-coordinator' });
  const key = `${QUEUE_PREFIX}:coordinator:${keyHash([store.id, what])}`;
  const me = JSON.stringify({ host: hostname(), pid: process.pid, what, since: new Date().toISOString() });
  const take = async (): Promise<void> => {
    const ok = await connection.set(key, me, 'PX', 30_000, 'NX');
    if (ok === 'OK') return;
    const holder = await connection.get(key);
    if (holder === me) {
      await connection.pexpire(key, 30_000);
      return;
    }
    throw new CoordinatorBusy(`${what} is already coordinated on this queue by ${holder ?? 'another process'}: one coordinator owns its results; wait for it or stop it (its lock lapses 30 s after it dies)`);
  };
  try {
    await take();
  } catch (e) {
    connection.disconnect();
    throw e;
  }
  // Renewed while we run; re-taken after a Redis restart that lost it.
  let lost: Error | null = null;
  const timer = setInterval(() => void take().catch((e: Error) => (lost = e)), 10_000);
  const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  // Job events wake the wait loop at once; its polling is the fallback that survives anything.
  const eventsConnection = connection.duplicate();
  const events = new QueueEvents(QUEUE_NAME, { connection: eventsConnection, prefix: QUEUE_PREFIX });
  events.on('error', () => undefined); // reconnects by itself; the poll carries on meanwhile
  let wake: (() => void) | null = null;
  let missed = false; // an event while no one slept: the next nap returns at once
  const poke = (): void => (wake ? wake() : void (missed = true));
  events.on('completed', poke);
  events.on('failed', poke);
  const nap = (ms: number): Promise<void> =>
    new Promise((r) => {
      if (missed) return void ((missed = false), r());
      const done = (): void => {
        clearTimeout(t);
        wake = null;
        r();
      };
      const t = setTimeout(done, ms);
      wake = done;
    });
  return {
    queue,
    nap,
    record: (line) => connection.multi().lpush(DURATIONS, line).ltrim(DURATIONS, 0, 199).exec(),
    connection,
    store,
    release: async () => {
      clearInterval(timer);
      if (lost) log(`queue: ${(lost as Error).message}`);
      if ((await connection.get(key).catch(() => null)) === me) await connection.del(key).catch(() => undefined);
      await events.close().catch(() => undefined);
      eventsConnection.disconnect();
      await queue.close();
      connection.disconnect();
    },
  };
}

/** The durations of recently finished jobs (a Redis list), for the status ETA. */
export const DURATIONS = `${QUEUE_PREFIX}:durations`;
