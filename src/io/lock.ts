// A lock file for work that several processes (matrix runners, queue workers on one shared
// path) may want at once: the first builds, the others wait and then find it built.
// The holder is named in the file (host, pid). A holder that died is noticed at once on its own
// host (its pid is gone) and, from other hosts, when the file has not been touched for `staleMs`
// (the holder touches it while its event loop runs; long synchronous steps are covered by the
// generous default, the same lease as the matrix database's).
import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';

export const LOCK_STALE_MS = 600_000;

/** Whether a process of this host is alive (EPERM: alive, another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Holder {
  host: string;
  pid: number;
  since: string;
}

const held = new Set<string>();

async function holderOf(path: string): Promise<{ holder: Holder | null; ageMs: number } | null> {
  const st = await stat(path).catch(() => null);
  if (!st) return null;
  const text = await readFile(path, 'utf8').catch(() => '');
  let holder: Holder | null = null;
  try {
    holder = JSON.parse(text) as Holder;
  } catch {
    holder = null; // being written, or damaged: judged by age alone
  }
  return { holder, ageMs: Date.now() - st.mtimeMs };
}

/**
 * Run `fn` holding the lock file `path` (created with O_EXCL, removed after). Waits while another
 * live process holds it; takes it over from a dead one. `onWait` is told once who holds it.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, o: { staleMs?: number; pollMs?: number; onWait?: (who: string) => void } = {}): Promise<T> {
  if (held.has(path)) throw new Error(`lock ${path} is already held by this process (a stage ran inside itself)`);
  const staleMs = o.staleMs ?? LOCK_STALE_MS;
  const me: Holder = { host: hostname(), pid: process.pid, since: new Date().toISOString() };
  let told = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const h = await holderOf(path);
    if (!h) continue; // released meanwhile
    const dead = h.holder ? (h.holder.host === me.host ? !alive(h.holder.pid) : h.ageMs > staleMs) : h.ageMs > Math.min(staleMs, 60_000);
    if (dead) {
      // Move it aside first, so two waiters cannot both remove it and both take the lock.
      const aside = `${path}.stale-${me.pid}-${Date.now()}`;
      await rename(path, aside).then(() => unlink(aside), () => undefined);
      continue;
    }
    if (!told) {
      o.onWait?.(h.holder ? `${h.holder.host} pid ${h.holder.pid} since ${h.holder.since}` : 'another process');
      told = true;
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
  }
  held.add(path);
  const touch = setInterval(() => void utimes(path, new Date(), new Date()).catch(() => undefined), Math.max(1000, staleMs / 10));
  touch.unref();
  try {
    return await fn();
  } finally {
    clearInterval(touch);
    held.delete(path);
    await unlink(path).catch(() => undefined);
  }
}
