import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
    globalSetup: ['tests/global-setup.ts'],
    reporters: ['default', './tests/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits on real I/O (a PDS write, Chromium rendering what it answered); its 1 s
    // default is shorter than one write on a loaded 2-core machine.
    expect: { poll: { timeout: 10_000 } },
    // Two cores: each file may start a PDS and containers; more workers only thrash.
    maxWorkers: 2,
    pool: 'forks',
  },
})
