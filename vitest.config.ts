import { defineConfig } from 'vitest/config';

// Unit and integration tests (plain Node). The end-to-end suite has its own config in test/e2e.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000, // CLI tests train real models; a busy 2-core machine can take twice as long
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
