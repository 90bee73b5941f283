// The suite's time limits, declared once. scripts/run-tests.mjs reads the defaults from the
// compiled copy of this file and passes the limit to every test process in ECLIPSE_TEST_TIMEOUT_S;
// the watchdog and the tests that bound their own child processes read it here, so a file run on
// its own gets the same limit.
export const DEFAULT_TEST_TIMEOUT_S = 600;
export const DEFAULT_FILE_TIMEOUT_S = 900;

/** The per-test limit in seconds (ECLIPSE_TEST_TIMEOUT_S; 0 = none). */
export const testLimitS = (): number => Number(process.env.ECLIPSE_TEST_TIMEOUT_S ?? DEFAULT_TEST_TIMEOUT_S);
