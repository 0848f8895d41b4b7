// Crash safety with real processes: a writer child appends and flushes in a loop and prints
// what is durable; it is SIGKILLed at random moments (or kills itself inside truncateAfter,
// compact or a rotation), then the log is reopened and checked. Replay: RAFT_SEED=<seed> npm test
import { describe, expect, it } from 'vitest'
import { runCrashTest, type CrashMode } from '../../src/testing/crash/run-crash-test.js'
import { tempDir } from '../helpers/temp-dir.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)

async function run(mode: CrashMode, rounds: number, brokenWriter = false) {
  return runCrashTest({
    dir: tempDir('raftlog-crash-'),
    rounds,
    seed,
    mode,
    entrySize: { min: 0, max: 700 },
    batch: 16,
    segmentSize: 16384,
    brokenWriter,
  })
}

describe(`crash recovery with real processes (RAFT_SEED=${seed})`, () => {
  it('every flushed entry survives SIGKILL byte-exact, and nothing else appears (24 rounds)', async () => {
    const report = await run('kill', 24)
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.killRounds).toBe(24)
    expect(report.crashPointRounds).toBe(8)
    expect(report.entriesAcknowledged).toBeGreaterThan(100)
  })

  it('losing every byte written after the last flush loses nothing flushed (16 rounds)', async () => {
    const report = await run('power-loss', 16)
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.powerLossRounds).toBe(16)
    // The rounds lost something; whether recovery had non-zero bytes to cut depends on the pattern.
    expect(report.bytesLost).toBeGreaterThan(0)
  })

  it('damage no crash makes, anywhere in a flushed log, is refused or read back exactly: never a shorter log (8 rounds)', async () => {
    const report = await run('corrupt', 8)
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.corruptRounds).toBe(8)
    expect(Object.values(report.corruptOutcomes).reduce((sum, count) => sum + count, 0)).toBe(8)
  })

  it('a writer that acknowledges an entry it never wrote is caught', async () => {
    const report = await run('kill', 4, true)
    expect(report.violations.length).toBeGreaterThan(0)
    expect(report.violations[0]!.problem).toMatch(/acknowledged entry (lost|of term)/)
  })
})
