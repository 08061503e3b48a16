import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // CI runs every file in two workers on two cores: a test that starts the built relay as a
    // child once or twice, or a browser, needs well over its quiet-machine time there. A test's
    // own waits (waitFor with a message) still name what did not happen; these are the backstop.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests bind loopback ports and spawn daemons; two workers match the two cores.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
