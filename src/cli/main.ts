// The eclipse command line: a thin layer over the library (src/index.ts).
import { OutputExistsError } from '../io/atomic.js';
import { UsageError, howToResume, wasInterrupted } from './args.js';
import { JobInterrupted } from '../io/resume.js';
import { suggest } from '../settings.js';
import { DATA_HELP, dataCommand } from './data.js';
import { EVAL_HELP, TRAIN_HELP, evalCommand, trainCommand } from './train.js';
import { ANALYZE_HELP, analyzeCommand } from './analyze.js';
import { MATRIX_HELP, matrixCommand } from './matrix.js';
import { SCAN_HELP, scanCommand } from './scan.js';
import { REPORT_HELP, reportCommand } from './report.js';
import { QUEUE_HELP, WORKER_HELP, queueCommand, workerCommand } from './queue.js';
import { POISON_HELP, poisonCommand } from './poison.js';
import { DENOISER_HELP, denoiserCommand } from './denoiser.js';
import { PURIFY_HELP, purifyCommand } from './purify.js';
import { DEFEND_HELP, defendCommand } from './defend.js';
import { DEMO_HELP, demoCommand } from './demo.js';

const HELP = `eclipse: protect image classifiers from clean-label availability poisoning (ECLIPSE, ESORICS 2024)

Usage: eclipse <command> [options]     (eclipse <command> --help for details)

Commands:
  data import|info|export   bring CIFAR-10 or an image folder in; inspect and export datasets
  train                     train a classifier (profile smoke|mini|paper + overrides; --defense a baseline)
  eval                      test accuracy of a classifier checkpoint
  poison                    poison a dataset (9 attacks by their original recipes; --list)
  denoiser train            train the diffusion denoiser on the sparse clean set
  purify                    purify a dataset with a trained denoiser
  defend                    the whole ECLIPSE defence, every stage cached
  demo                      the main job: AR poisoning vs clean, compensation only and ECLIPSE
  analyze assimilation      how growing Gaussian noise assimilates poisoned and clean images
  matrix run|export|merge   the attack x defence benchmark (resumable, SQLite results)
  scan                      is this training set poisoned? (verdict, evidence, classes, share)
  report                    the benchmark's report: tables beside the paper's, plots, images
  worker                    run queued cells and purification shards (BullMQ over Redis; docs/queue.md)
  queue status              jobs waiting, running, failed, workers, ETA

Data: set ECLIPSE_CIFAR10 to the official CIFAR-10 binary release (.tar.gz or folder).`;

export const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  data: { run: dataCommand, help: DATA_HELP },
  train: { run: trainCommand, help: TRAIN_HELP },
  eval: { run: evalCommand, help: EVAL_HELP },
  poison: { run: poisonCommand, help: POISON_HELP },
  denoiser: { run: denoiserCommand, help: DENOISER_HELP },
  purify: { run: purifyCommand, help: PURIFY_HELP },
  defend: { run: defendCommand, help: DEFEND_HELP },
  demo: { run: demoCommand, help: DEMO_HELP },
  analyze: { run: analyzeCommand, help: ANALYZE_HELP },
  matrix: { run: matrixCommand, help: MATRIX_HELP },
  scan: { run: scanCommand, help: SCAN_HELP },
  report: { run: reportCommand, help: REPORT_HELP },
  worker: { run: workerCommand, help: WORKER_HELP },
  queue: { run: queueCommand, help: QUEUE_HELP },
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(HELP);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    const names = Object.keys(COMMANDS);
    console.error(`eclipse: unknown command "${cmd}"${suggest(cmd, names)}: the commands are ${names.join(', ')} (eclipse --help says what each does)`);
    return 2;
  }
  try {
    await c.run(rest);
    return wasInterrupted() ? 130 : 0;
  } catch (e) {
    if (e instanceof OutputExistsError) {
      // the library names the problem; the fix here is in flags
      console.error(`eclipse ${cmd}: ${e.what}: use another --out, or --overwrite to replace it${e.unfinished ? ' (--resume continues it)' : ''}`);
      return 2;
    }
    if (e instanceof JobInterrupted) {
      console.error(`eclipse ${cmd}: stopped: ${e.message}; ${howToResume()}`);
      return 130;
    }
    if (e instanceof UsageError) {
      console.error(`eclipse ${cmd}: ${e.message}`); // one line; --help is named where it helps
      return 2;
    }
    const err = e as Error;
    console.error(`eclipse ${cmd}: error: ${err.message}`);
    if (process.env.ECLIPSE_DEBUG) console.error(err.stack);
    return wasInterrupted() ? 130 : 1;
  }
}
