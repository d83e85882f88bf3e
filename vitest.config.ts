import { defineConfig } from 'vitest/config';

// Datastore and end-to-end tests start real servers: generous timeouts, and at
// most two files at once on a 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
