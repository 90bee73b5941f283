// One row of the bad-input suite (test/bad-input.test.ts): a command fed one bad input, and what
// a user must see. Every command has its rows in test/bad-input/<command>.ts; a new command is
// not done until it has them.

/** What a row's setup gets: its own empty folder (also the command's working directory). */
export interface RowContext {
  /** the row's folder: files made by setup live here; relative paths in `args` resolve here */
  dir: string;
}

export interface BadInputRow {
  /** the bad input, as a user would say it ("--eps 8 (meant 8/255)") */
  name: string;
  /** argv after `eclipse`; relative paths resolve in the row's folder */
  args: string[];
  /** makes the row's input files in ctx.dir (a dataset, a corrupt file, a finished output) */
  setup?: (ctx: RowContext) => void | Promise<void>;
  /** the one error line must match this: it names the problem and the fix */
  error: RegExp;
  /** the exit code (default: any non-zero) */
  code?: number;
  /** peak resident memory the command may reach, MB (compressed inputs: bounded memory) */
  maxRssMb?: number;
  /** extra environment for the command (e.g. ECLIPSE_CIFAR10) */
  env?: Record<string, string>;
  /** paths (relative to dir) the command may create or change, e.g. a lock file it cleans; default none */
  mayWrite?: string[];
}
