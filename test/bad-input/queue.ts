// Bad input to `eclipse worker` and `eclipse queue status`: --queue missing, not a URL, not a
// Redis URL; --store missing, empty, or not an artifact store; bad numbers and names. Every flag
// is checked before anything connects to Redis, so no row needs a Redis server.
import type { BadInputRow } from './types.js';

const REDIS = 'redis://127.0.0.1:1';

export const rows: BadInputRow[] = [
  // ------------------------------------------------------------------ worker
  { name: 'worker without --queue', args: ['worker', '--store', 'store'], error: /--queue is required: the queue, redis:\/\/HOST:PORT/ },
  { name: 'worker --queue not a URL', args: ['worker', '--queue', 'localhost:6379x', '--store', 'store'], error: /--queue must be a Redis URL starting with redis:\/\/ or rediss:\/\/ \(TLS\), got localhost:/ },
  { name: 'worker --queue a bare word', args: ['worker', '--queue', 'redis', '--store', 'store'], error: /--queue must be a Redis URL, redis:\/\/HOST:PORT .*"redis" is not a URL/ },
  { name: 'worker --queue an http URL', args: ['worker', '--queue', 'http://127.0.0.1:6379', '--store', 'store'], error: /--queue must be a Redis URL starting with redis:\/\/ or rediss:\/\/ \(TLS\), got http:/ },
  { name: 'worker --queue with no host', args: ['worker', '--queue', 'redis:x', '--store', 'store'], error: /--queue names no host: give redis:\/\/HOST:PORT/ },
  { name: 'worker without --store', args: ['worker', '--queue', REDIS], error: /--store is required: the shared artifact store \(the coordinator's --store\)/ },
  { name: 'worker --store empty', args: ['worker', '--queue', REDIS, '--store', ''], error: /--store is empty/ },
  { name: 'worker --store not an artifact store', args: ['worker', '--queue', REDIS, '--store', 'missing-store'], error: /missing-store is not an eclipse artifact store \(no .*\): give the shared path the coordinator uses/ },
  { name: 'worker --lock-seconds 0', args: ['worker', '--queue', REDIS, '--store', 'store', '--lock-seconds', '0'], error: /--lock-seconds must be .*\b1\b.*\(got 0\)/ },
  { name: 'worker --threads 0', args: ['worker', '--queue', REDIS, '--store', 'store', '--threads', '0'], error: /--threads must be .*\b1\b.*\(got 0\)/ },
  { name: 'worker --device gpu', args: ['worker', '--queue', REDIS, '--store', 'store', '--device', 'gpu'], error: /--device must be auto, cpu, cuda or cuda:N \(got "gpu"\)/ },
  { name: 'worker --name empty', args: ['worker', '--queue', REDIS, '--store', 'store', '--name', ' '], error: /--name is empty/ },
  { name: 'worker with a stray argument', args: ['worker', 'redis://127.0.0.1:6379'], error: /worker takes no arguments besides its options \(got "redis:\/\/127\.0\.0\.1:6379"\)/ },
  { name: 'worker with an unknown flag', args: ['worker', '--queu', REDIS], error: /unknown option '?--queu'?/i },
  // ------------------------------------------------------------------ queue status
  { name: 'queue status without --queue', args: ['queue', 'status'], error: /--queue is required: the queue, redis:\/\/HOST:PORT/ },
  { name: 'queue status --queue an http URL', args: ['queue', 'status', '--queue', 'http://127.0.0.1:6379'], error: /--queue must be a Redis URL starting with redis:\/\/ or rediss:\/\// },
  { name: 'queue status --queue not a URL', args: ['queue', 'status', '--queue', 'not a url'], error: /"not a url" is not a URL/ },
  { name: 'queue with an unknown command (stats)', args: ['queue', 'stats', '--queue', REDIS], error: /unknown queue command "stats" \(did you mean status\?\): the only one is status/ },
  { name: 'queue status with a stray argument', args: ['queue', 'status', REDIS], error: /queue status takes no arguments besides its options/ },
];
