import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { damageSnapshot, makeSnapshotDir } from '../helpers/snapshot-dir.js'

const newer = 'snapshot_00000000000000000250.snap'

describe('raftlog dump after compaction', () => {
  it('says where the log starts and which snapshot holds the entries before it', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150, 250], compactTo: 240 })
    const result = await runCli(['dump', dir, '--to', '171'])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toBe('170\tterm 3\tnormal\t9 bytes\t"entry 170"\n171\tterm 3\tnormal\t9 bytes\t"entry 171"\n')
    expect(result.stderr).toBe(`The log starts at index 170 (entries 170..300); entries 1..169 were compacted: they live in snapshot 250 (${newer}, term 4)\n`)
    // JSON lines stay JSON lines: the note goes to stderr.
    const json = await runCli(['dump', dir, '--format', 'json', '--to', '170'])
    expect(JSON.parse(json.stdout)).toMatchObject({ index: 170, term: 3 })
    expect(json.stderr).toMatch(/^The log starts at index 170/)
  })

  it('--from below the first index is refused, naming the snapshot that holds it', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150, 250], compactTo: 240 })
    const result = await runCli(['dump', dir, '--from', '5'])
    expect(result.status).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(
      new RegExp(`^Error: --from 5 is outside the log: the log holds 170\\.\\.300; entries 1\\.\\.169 were compacted: they live in snapshot 250 \\(${newer}, term 4\\)\\n`),
    )
  })

  it('says so when no valid snapshot holds the compacted entries', async () => {
    const dir = await makeSnapshotDir({ snapshots: [250], compactTo: 240 })
    damageSnapshot(dir, 250, 100)
    const result = await runCli(['dump', dir, '--from', '1'])
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/entries 1\.\.169 were compacted, but no valid snapshot holds them \(snapshot_00000000000000000250\.snap not valid\) \(run raftlog verify\)/)
  })

  it('a log that starts at 1 with no snapshots prints nothing more than before', async () => {
    const dir = await makeSnapshotDir({ snapshots: [] })
    const result = await runCli(['dump', dir, '--to', '1'])
    expect(result.stdout).toBe('1\tterm 1\tnormal\t7 bytes\t"entry 1"\n')
    expect(result.stderr).toBe('')
  })

  it('has help text for it', async () => {
    expect((await runCli(['dump', '--help'])).stdout).toMatch(/one below the log's first\s+index is refused, naming the snapshot that holds it/)
  })
})
