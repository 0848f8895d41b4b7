// crash-test --mode snapshot: a real one-node RaftNode killed inside its snapshot path, then
// restarted and checked. Replay a failure: RAFT_SEED=<seed> npx vitest run test/cli/crash-test-snapshot.test.ts
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)

describe(`raftlog crash-test --mode snapshot (RAFT_SEED=${seed})`, () => {
  it('kills the node inside each step of the snapshot path and finds every acknowledged proposal exactly once after a restart', async () => {
    const dir = join(tempDir(), 'node')
    const result = await runCli(['crash-test', '--dir', dir, '--rounds', '4', '--seed', String(seed), '--mode', 'snapshot', '--json'])
    expect(result.status, `replay with RAFT_SEED=${seed}\n${result.stdout}\n${result.stderr}`).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({
      seed,
      rounds: 4,
      snapshotRounds: 4,
      killRounds: 0,
      crashPointRounds: 4,
      snapshotKillPoints: { 'snapshot-write': 1, 'snapshot-rename': 1, 'log-compaction': 1, 'snapshot-prune': 1, none: 0 },
      violations: [],
      pass: true,
    })
    expect(report.entriesAcknowledged).toBeGreaterThan(4 * 20)
    expect(report.entriesRecovered).toBeGreaterThanOrEqual(report.entriesAcknowledged)
  })

  it('says in which call each round died, and a seed replays the same calls and counts', async () => {
    const run = async (): Promise<string[]> => {
      const result = await runCli(['crash-test', '--rounds', '4', '--seed', String(seed), '--mode', 'snapshot'])
      expect(result.status, `replay with RAFT_SEED=${seed}\n${result.stdout}`).toBe(0)
      return result.stderr.split('\n').filter((line) => line.startsWith('round '))
    }
    const first = await run()
    expect(first).toHaveLength(4)
    expect(first[0]).toMatch(/^round 1\/4: snapshot in snapshot-write \((before|after|torn) (write of \d+ bytes at byte \d+|sync) of snapshot_\d{20}\.snap\.tmp( \(half written\))?\): \d+ acknowledged, \d+ in the restored state, 0 violations$/)
    expect(first[1]).toMatch(/^round 2\/4: snapshot in snapshot-rename \((before|after) rename of snapshot_\d{20}\.snap\.tmp\): /)
    expect(first[2]).toMatch(/^round 3\/4: snapshot in log-compaction \((before|after) deletion of segment_\d{20}\.log\): /)
    expect(first[3]).toMatch(/^round 4\/4: snapshot in snapshot-prune \((before|after) deletion of snapshot_\d{20}\.snap\): /)
    expect(await run()).toEqual(first)
  })

  it('a writer that acknowledges a proposal it never made fails the run, with the seed that replays it', async () => {
    // In a test directory: a failed run keeps its directory for the user to look into.
    const result = await runCli(['crash-test', '--dir', join(tempDir(), 'log'), '--rounds', '2', '--seed', String(seed), '--mode', 'snapshot', '--broken-writer'])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/round 1, index \d+: acknowledged proposal 1\.10\.never is not in the restored state/)
    expect(result.stdout).toMatch(new RegExp(`FAIL: replay with raftlog crash-test --seed ${seed}`))
  })

  it('has help text for snapshot rounds and names the mode in its usage error', async () => {
    const help = await runCli(['crash-test', '--help'])
    expect(help.stdout).toMatch(/\| corrupt \| snapshot/)
    expect(help.stdout).toMatch(/snapshot rounds +\(--mode snapshot\)/)
    for (const point of ['snapshot-write', 'snapshot-rename', 'log-compaction', 'snapshot-prune']) expect(help.stdout).toContain(point)
    const bad = await runCli(['crash-test', '--mode', 'snapshots'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--mode must be kill, power-loss, both, corrupt or snapshot, got 'snapshots'/)
  })
})
