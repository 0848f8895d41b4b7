// `npm run test:unit` is the inner loop: nothing in it may start a process. A test that does
// fails here, naming the rule, instead of slowing the loop down unseen; list its file among the
// system tests in vitest.config.ts.
import childProcess from 'node:child_process'
import { syncBuiltinESMExports } from 'node:module'

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  ;(childProcess as unknown as Record<string, unknown>)[name] = () => {
    throw new Error(`a unit test started a process (child_process.${name}): list its file among systemTests in vitest.config.ts`)
  }
}
syncBuiltinESMExports()
