import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Interop suites start real servers and real clients; keep the machine's 2 cores usable.
    maxWorkers: 2,
  },
});
