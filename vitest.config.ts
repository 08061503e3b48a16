import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests bind loopback ports and spawn daemons; two workers match the two cores.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
