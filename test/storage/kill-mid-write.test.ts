// A kill -9 from outside lands anywhere: inside a frame's stores, a seal, a rotation, a
// truncation. Writes go through the mapping, so the page cache keeps whatever the process stored
// before it died. Nothing past the last flush was acknowledged, so every restart must open and
// keep every flushed entry. Real processes: a writer appends at full speed (one append() per
// 40-byte entry, a flush per batch of up to 500) and the parent SIGKILLs it after a seeded delay.
// Replay the choices (not the exact moment) with RAFT_SEED=<seed>.
import { describe, expect, it } from 'vitest'
import { runCrashTest, type CrashMode } from '../../src/testing/crash/run-crash-test.js'
import { tempDir } from '../helpers/temp-dir.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)

function killedFromOutside(mode: CrashMode, rounds: number) {
  return runCrashTest({
    dir: tempDir('raftlog-kill-'),
    rounds,
    seed,
    mode,
    killers: 'outside',
    entrySize: { min: 40, max: 40 },
    batch: 500,
    segmentSize: 65536,
  })
}

describe(`a writer killed from outside at random moments (RAFT_SEED=${seed})`, () => {
  it('every restart opens and keeps every flushed entry, byte-exact (60 rounds)', async () => {
    const report = await killedFromOutside('kill', 60)
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.outsideKillRounds).toBe(60)
    expect(report.entriesAcknowledged).toBeGreaterThan(60 * 500)
  }, 180_000)

  it('and when the machine then loses what was written after the last flush (20 rounds)', async () => {
    const report = await killedFromOutside('power-loss', 20)
    expect(report.violations, `replay with RAFT_SEED=${seed}`).toEqual([])
    expect(report.outsideKillRounds).toBe(20)
  }, 120_000)
})
