import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Vitest's default is one worker per CPU less one: a single file at a time on 2 cores. Most slow files spend their
    // time waiting on child processes (servers, PDSes, Postgres restarts) rather than computing, so more files than
    // cores run side by side.
    maxWorkers: '150%',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/harness/global-setup.ts'],
  },
})
