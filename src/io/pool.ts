// Bounded-concurrency task runner: keeps at most `limit` promises in flight.

/** Run fn(0..count-1) with at most `limit` in flight; rejects with the first error (others are awaited). */
export async function runPool(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let firstError: unknown = null;
  const worker = async (): Promise<void> => {
    while (firstError === null) {
      const i = next++;
      if (i >= count) return;
      try {
        await fn(i);
      } catch (e) {
        if (firstError === null) firstError = e;
      }
    }
  };
  const n = Math.max(1, Math.min(limit, count));
  await Promise.all(Array.from({ length: n }, worker));
  if (firstError !== null) throw firstError;
}
