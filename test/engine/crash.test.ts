// Crash safety of the shared log engine with real processes: a writer child changes 48 groups
// turn after turn and flushes them together; it is SIGKILLed at random moments (or kills itself
// after staging, during a flush, before acknowledging, inside a purge), sometimes followed by a
// simulated power loss; the directory is reopened and every group checked against what was
// acknowledged. Replay: RAFT_SEED=<seed> npx vitest run test/engine/crash.test.ts
import { describe, expect, it } from 'vitest'
import { runEngineCrashTest, type EngineCrashMode, type EngineRoundResult } from '../../src/testing/crash/run-engine-crash-test.js'
import { tempDir } from '../helpers/temp-dir.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)

function run(mode: EngineCrashMode, rounds: number, brokenWriter = false, onRound?: (round: EngineRoundResult) => void) {
  return runEngineCrashTest({ dir: tempDir('raftlog-engine-crash-'), rounds, seed, mode, groups: 48, fileSize: 64 * 1024, entrySize: { min: 0, max: 600 }, brokenWriter, onRound })
}

describe(`engine crash recovery with real processes (RAFT_SEED=${seed})`, () => {
  it('every acknowledged change of every group survives SIGKILL, byte-exact, and nothing else appears (18 rounds)', async () => {
    const report = await run('kill', 18)
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.killRounds).toBe(18)
    expect(report.outsideKillRounds).toBe(6)
    expect(Object.values(report.killSteps), 'every kill step is taken three times').toEqual([3, 3, 3, 3])
    expect(report.changesAcknowledged).toBeGreaterThan(200)
  })

  // Every fourth inside round kills during a flush, with bytes written past the durable boundary.
  it('losing what was written after the last flush loses nothing acknowledged (24 rounds)', async () => {
    const duringFlush: EngineRoundResult[] = []
    const report = await run('power-loss', 24, false, (round) => {
      if (round.killStep === 'during-flush') duringFlush.push(round)
    })
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.powerLossRounds).toBe(24)
    // A writer killed during a flush had written past the boundary: each such round loses bytes.
    expect(duringFlush).toHaveLength(4)
    for (const round of duringFlush) expect(round.lostBytes, `round ${round.round}`).toBeGreaterThan(0)
  })

  it('a writer that acknowledges an entry it never wrote is caught', async () => {
    const report = await run('kill', 3, true)
    expect(report.violations.length).toBeGreaterThan(0)
  })
})
