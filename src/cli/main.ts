// The eclipse command line: a thin layer over the library (src/index.ts).
import { UsageError } from './args.js';
import { DATA_HELP, dataCommand } from './data.js';
import { EVAL_HELP, TRAIN_HELP, evalCommand, trainCommand } from './train.js';

const HELP = `eclipse: protect image classifiers from clean-label availability poisoning (ECLIPSE, ESORICS 2024)

Usage: eclipse <command> [options]     (eclipse <command> --help for details)

Commands:
  data import|info|export   bring CIFAR-10 or an image folder in; inspect and export datasets
  train                     train a classifier (profile smoke|mini|paper + overrides)
  eval                      test accuracy of a classifier checkpoint

Data: set ECLIPSE_CIFAR10 to the official CIFAR-10 binary release (.tar.gz or folder).`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  data: { run: dataCommand, help: DATA_HELP },
  train: { run: trainCommand, help: TRAIN_HELP },
  eval: { run: evalCommand, help: EVAL_HELP },
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(HELP);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    console.error(`eclipse: unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  try {
    await c.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`eclipse ${cmd}: ${e.message}\n(see eclipse ${cmd} --help)`);
      return 2;
    }
    const err = e as Error;
    console.error(`eclipse ${cmd}: error: ${err.message}`);
    if (process.env.ECLIPSE_DEBUG) console.error(err.stack);
    return 1;
  }
}
