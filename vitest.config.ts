import { defineConfig } from 'vitest/config'

/**
 * Tests that start processes: the CLI, crash-test writers, real nodes, a browser, a shell. `npm
 * test` runs them with the rest; `npm run test:unit` (the inner loop) leaves them out, and a test
 * there that starts a process fails (test/setup/no-child-processes.ts).
 */
const systemTests = [
  'test/cli/**/*.test.ts',
  'test/readme/**/*.test.ts',
  'test/observe/metrics.test.ts',
  'test/observe/dashboard-browser.test.ts',
  'test/net/client/without-addon.test.ts',
  'test/storage/crash.test.ts',
  'test/engine/crash.test.ts',
  'test/storage/kill-mid-write.test.ts',
  'test/storage/native.test.ts',
  'test/storage/written-blocks.test.ts',
  'test/storage/drop-behind.test.ts',
  'test/storage/full-disk.test.ts',
  'test/testing/crash/protocol-line.test.ts',
]

export default defineConfig({
  test: {
    // Native addons and worker threads do not mix: run each test file in a child process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: systemTests, setupFiles: ['test/setup/no-child-processes.ts'] },
      },
      {
        extends: true,
        test: { name: 'system', include: systemTests, globalSetup: ['test/setup/build-dist.ts'] },
      },
    ],
  },
})
