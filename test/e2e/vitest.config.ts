import { defineConfig } from 'vitest/config';

// End-to-end: serve mode in a child process, Debian's Chromium driven by playwright-core.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    root: new URL('../..', import.meta.url).pathname,
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
