import { describe, expect, it } from 'vitest'
import { statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { damageSnapshot, makeSnapshotDir } from '../helpers/snapshot-dir.js'

const older = 'snapshot_00000000000000000150.snap'
const newer = 'snapshot_00000000000000000250.snap'

describe('raftlog inspect lists the snapshots', () => {
  it('each file with its last included index, term, size and valid', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150, 250], compactTo: 240 })
    const size = statSync(join(dir, newer)).size
    const result = await runCli(['inspect', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^snapshot +index +term +bytes +status$/m)
    expect(result.stdout).toMatch(new RegExp(`^${older} +150 +3 +${size} +valid$`, 'm'))
    expect(result.stdout).toMatch(new RegExp(`^${newer} +250 +4 +${size} +valid$`, 'm'))
    const json = JSON.parse((await runCli(['inspect', dir, '--json'])).stdout)
    expect(json.snapshots).toEqual([
      { file: older, index: 150, term: 3, sizeBytes: size, valid: true },
      { file: newer, index: 250, term: 4, sizeBytes: size, valid: true },
    ])
    expect(json.snapshotLeftovers).toEqual([])
  })

  it('a corrupt or torn file is not valid, and says what is wrong at which byte', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150, 250] })
    // Header 64 bytes, metadata checksum 4: the first chunk record starts at byte 68.
    damageSnapshot(dir, 150, 100)
    const torn = join(dir, newer)
    truncateSync(torn, statSync(torn).size - 10)
    const result = await runCli(['inspect', dir])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`^${older} +150 +3 +\\d+ +corrupt at byte 68: chunk checksum mismatch$`, 'm'))
    const end = statSync(torn).size - 14
    expect(result.stdout).toMatch(new RegExp(`^${newer} +250 +4 +\\d+ +corrupt at byte ${end}: end record cut short$`, 'm'))
    const json = JSON.parse((await runCli(['inspect', dir, '--json'])).stdout)
    expect(json.snapshots.map((s: { valid: boolean; offset: number; problem: string }) => [s.valid, s.offset, s.problem])).toEqual([
      [false, 68, 'chunk checksum mismatch'],
      [false, end, 'end record cut short'],
    ])
  })

  it('names the leftovers of an interrupted write or transfer, and says none when there are no snapshots', async () => {
    const dir = await makeSnapshotDir({ snapshots: [] })
    expect((await runCli(['inspect', dir])).stdout).toMatch(/^snapshots: none$/m)
    writeFileSync(join(dir, 'snapshot_00000000000000000300.snap.tmp'), 'half')
    writeFileSync(join(dir, 'snapshot_00000000000000000280.snap.partial'), 'half')
    const result = await runCli(['inspect', dir])
    expect(result.stdout).toMatch(/^leftover: snapshot_00000000000000000280\.snap\.partial \(an interrupted snapshot transfer; a starting node deletes it\)$/m)
    expect(result.stdout).toMatch(/^leftover: snapshot_00000000000000000300\.snap\.tmp \(an interrupted snapshot write; a starting node deletes it\)$/m)
    expect(JSON.parse((await runCli(['inspect', dir, '--json'])).stdout).snapshotLeftovers).toEqual([
      'snapshot_00000000000000000280.snap.partial',
      'snapshot_00000000000000000300.snap.tmp',
    ])
  })

  it('has help text that mentions the snapshots', async () => {
    expect((await runCli(['inspect', '--help'])).stdout).toMatch(/a table of snapshots \(file, last included\s+index, term, size in bytes, and valid or what is wrong/)
  })
})
