import { defineConfig } from 'vitest/config';

// Unit and integration tests (plain Node). The end-to-end suite has its own config in test/e2e.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
