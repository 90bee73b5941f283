// Connecting to the queue's Redis: redis://[:password@]host:port[/db] or rediss:// (TLS). An
// unreachable server is a clear error at start; a connection lost later is retried for ever
// (the queue carries on when Redis comes back), and said once in the log.
import { Redis } from 'ioredis';

export class QueueConnectionError extends Error {}

/** The URL with its password hidden, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueConnectionError(`queue URL ${JSON.stringify(url)} is not a URL: give redis://HOST:PORT (or rediss:// for TLS, redis://:PASSWORD@HOST:PORT with a password)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new QueueConnectionError(`queue URL ${redactUrl(url)} must start with redis:// or rediss:// (TLS)`);
}

/**
 * A connected client (BullMQ needs maxRetriesPerRequest null: commands wait through a
 * reconnect instead of failing). Rejects within `timeoutMs` when Redis cannot be reached.
 */
export async function connectRedis(url: string, o: { timeoutMs?: number; log?: (m: string) => void; name?: string } = {}): Promise<Redis> {
  checkUrl(url);
  const where = redactUrl(url);
  const client = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: true,
    connectionName: o.name,
    retryStrategy: (times) => Math.min(250 * times, 2000),
  });
  let lost = false;
  let lastError = '';
  client.on('error', (e: Error) => {
    lastError = e.message;
    if (!lost && o.log) o.log(`queue: Redis at ${where} unreachable (${e.message}); retrying`);
    lost = true;
  });
  client.on('ready', () => {
    if (lost && o.log) o.log(`queue: Redis at ${where} is back`);
    lost = false;
  });
  const timeoutMs = o.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    client.disconnect();
    const msg = lastError && !(e as Error).message.includes(lastError) ? `${(e as Error).message}; ${lastError}` : (e as Error).message;
    const auth = /NOAUTH|WRONGPASS|invalid password|AUTH/i.test(msg);
    const tls = /certificate|SSL|TLS|EPROTO/i.test(msg);
    throw new QueueConnectionError(
      auth ? `Redis at ${where} refused the password (${msg}): give it in the URL, redis://:PASSWORD@HOST:PORT`
      : tls ? `TLS with Redis at ${where} failed (${msg}): let Node.js trust the server's certificate authority (NODE_EXTRA_CA_CERTS=ca.pem), see docs/queue.md`
      : `cannot reach Redis at ${where} (${msg}): start it (redis-server --port PORT --bind ADDRESS, see docs/queue.md) or give the right --queue URL`,
    );
  } finally {
    clearTimeout(timer);
  }
  return client;
}
