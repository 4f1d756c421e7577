// The tests that need no services (no PDS, Docker, registry or Chromium): pure logic, the
// Electron shell's pure parts, the contract's argument checks and the docs' links. CI runs these
// on the macOS, Windows and Linux release runners, where the real services are not at hand; the
// full suite (vitest.config.ts) runs on Linux with everything real.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      'tests/core/scheduling/**/*.test.ts',
      'tests/core/fairshare/**/*.test.ts',
      'tests/core/clock/**/*.test.ts',
      'tests/bench/**/*.test.ts',
      'tests/core/policy/**/*.test.ts',
      'tests/core/lexicon/**/*.test.ts',
      'tests/core/spec/**/*.test.ts',
      'tests/core/api.test.ts',
      'tests/electron/**/*.test.ts',
      'tests/renderer/lib/**/*.test.ts',
      'tests/docs/**/*.test.ts',
      'tests/release/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    pool: 'forks',
  },
})
