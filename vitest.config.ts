import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Load tests measure time on a 2-core machine: one file at a time, or they measure each other.
    fileParallelism: false,
    // A stall of the shared VM (GC, steal) can fail a load test once; a wrong engine fails
    // every attempt. Deterministic tests are not helped by this, and not hurt.
    retry: 1,
    setupFiles: ['test/attempts.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
