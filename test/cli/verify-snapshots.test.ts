import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError, RaftNode, RaftStateFile, type LogEntry } from '../../src/index.js'
import { encodeConfiguration, votersOnly } from '../../src/raft/core/configuration.js'
import { MemoryNetwork } from '../../src/testing/index.js'
import { runCli } from '../helpers/cli.js'
import { silentLogger } from '../helpers/entries.js'
import { damageSnapshot, makeSnapshotDir } from '../helpers/snapshot-dir.js'

const older = 'snapshot_00000000000000000150.snap'
const newer = 'snapshot_00000000000000000250.snap'

/**
 * Starts and stops a one-node RaftNode on `dir`: undefined when it started, else why not. The
 * directory gets the state file a node's directory has, with its configuration, so only how the
 * log and the snapshots fit decides.
 */
async function startingNodeRefuses(dir: string): Promise<string | undefined> {
  const state = RaftStateFile.open(join(dir, 'raft_state.meta'))
  state.save({ ...state.load(), configuration: { index: 1, data: encodeConfiguration(votersOnly([1])) } })
  state.close()
  const network = new MemoryNetwork()
  const stateMachine = { apply: (entry: LogEntry) => entry.index, snapshot: () => new Uint8Array(0), restore: async (chunks: AsyncIterable<Uint8Array>) => { for await (const _ of chunks); } }
  try {
    const node = await RaftNode.start({ id: 1, peers: [1], dir, stateMachine, transport: network.endpoint(1), electionTimeout: [1000, 2000], heartbeatInterval: 100, segmentSize: 4096, logger: silentLogger })
    await node.stop()
    return undefined
  } catch (error) {
    expect((error as RaftLogError).code).toBe('ERR_CORRUPT')
    return (error as Error).message
  } finally {
    network.close()
  }
}

async function verifyJson(dir: string): Promise<{ status: number | null; json: any }> {
  const result = await runCli(['verify', dir, '--json'])
  return { status: result.status, json: JSON.parse(result.stdout) }
}

function firstSegment(dir: string): string {
  return readdirSync(dir).filter((name) => name.startsWith('segment_')).sort()[0]!
}

describe('raftlog verify checks the snapshot files whole', () => {
  it('says ok with the snapshots in brief when every file and the log fit', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150, 250], compactTo: 240 })
    const result = await runCli(['verify', dir])
    expect(result.status, result.stdout).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`^ok: 2 segments, \\d+ entries \\(170\\.\\.300\\); 2 snapshots, newest valid ${newer} \\(index 250, term 4\\); no state file$`, 'm'))
    const { json } = await verifyJson(dir)
    expect(json).toMatchObject({ ok: true, problems: [], snapshots: { newestValid: newer, fits: true, leftovers: [] } })
    expect(json.snapshots.files.map((file: { file: string; valid: boolean }) => [file.file, file.valid])).toEqual([[older, true], [newer, true]])
  })

  it('a corrupt snapshot is a problem naming the file and byte, even when an older one covers the log', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150, 250], compactTo: 140 })
    damageSnapshot(dir, 250, 100)
    const result = await runCli(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(new RegExp(`^${newer}: byte 68 \\(index 250\\): chunk checksum mismatch$`, 'm'))
    expect(result.stdout).toMatch(new RegExp(`^1 problem in 3 segments, \\d+ readable entries; 2 snapshots, newest valid ${older} \\(index 150, term 3\\)`, 'm'))
    const { json } = await verifyJson(dir)
    expect(json.problems).toEqual([{ file: newer, offset: 68, index: 250, problem: 'chunk checksum mismatch' }])
    expect(json.snapshots).toMatchObject({ newestValid: older, fits: true })
  })

  it('a torn snapshot (cut short) is a problem at the byte where it ends', async () => {
    const dir = await makeSnapshotDir({ snapshots: [250] })
    const path = join(dir, newer)
    truncateSync(path, statSync(path).size - 30)
    const result = await runCli(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(new RegExp(`^${newer}: byte \\d+ \\(index 250\\): (chunk cut short|cut short: no end record)$`, 'm'))
  })

  it('leftovers of an interrupted write or transfer are information, not problems', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150] })
    writeFileSync(join(dir, 'snapshot_00000000000000000300.snap.tmp'), 'half a file')
    writeFileSync(join(dir, 'snapshot_00000000000000000290.snap.partial'), 'half a file')
    const result = await runCli(['verify', dir])
    expect(result.status, result.stdout).toBe(0)
    expect(result.stdout).toMatch(/^snapshot_00000000000000000300\.snap\.tmp: left by a snapshot write that stopped; a starting node deletes it$/m)
    expect(result.stdout).toMatch(/^snapshot_00000000000000000290\.snap\.partial: left by a snapshot transfer that stopped; a starting node deletes it$/m)
    expect(result.stdout).toMatch(/^ok: /m)
  })
})

describe('raftlog verify checks that the log and the snapshots fit as a starting node needs', () => {
  it('a log that starts after the newest valid snapshot is a problem naming both files', async () => {
    const dir = await makeSnapshotDir({ snapshots: [150], compactTo: 240 })
    const segment = firstSegment(dir)
    const result = await runCli(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(
      new RegExp(`^${segment}: byte 8 \\(index 170\\): the log starts at index 170, after the newest valid snapshot ${older} \\(up to index 150\\): entries 151\\.\\.169 are in no file$`, 'm'),
    )
    expect((await verifyJson(dir)).json.snapshots.fits).toBe(false)
  })

  it('a compacted log with no valid snapshot is a problem naming the invalid one', async () => {
    const dir = await makeSnapshotDir({ snapshots: [250], compactTo: 240 })
    damageSnapshot(dir, 250, 100)
    const result = await runCli(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(
      new RegExp(`^segment_00000000000000000170\\.log: byte 8 \\(index 170\\): the log starts at index 170, but no valid snapshot holds entries 1\\.\\.169 \\(not valid: ${newer}: chunk checksum mismatch\\)$`, 'm'),
    )
  })

  it('a log that does not reach the snapshot is fine: a starting node resets it, and verify says so', async () => {
    const dir = await makeSnapshotDir({ entries: 200, snapshots: [] })
    // A snapshot installed from a leader, beyond this log's end (the install stopped before the reset).
    const other = await makeSnapshotDir({ snapshots: [250] })
    writeFileSync(join(dir, newer), readFileSync(join(other, newer)))
    const result = await runCli(['verify', dir])
    expect(result.status, result.stdout).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`^a starting node would empty the log and go on after ${newer} \\(index 250, term 4\\): the log does not hold that entry in that term$`, 'm'))
  })

  it('verify says the log fits exactly when a real node starts on the directory', async () => {
    const shapes = [
      { name: 'compacted behind the newest', make: () => makeSnapshotDir({ snapshots: [150, 250], compactTo: 240 }) },
      { name: 'newest corrupt, older covers the gap', make: async () => tap(await makeSnapshotDir({ snapshots: [150, 250], compactTo: 140 }), (dir) => damageSnapshot(dir, 250, 100)) },
      { name: 'newest corrupt, older does not', make: async () => tap(await makeSnapshotDir({ snapshots: [150, 250], compactTo: 240 }), (dir) => damageSnapshot(dir, 250, 100)) },
      // Compacting to 240 leaves a log that starts at 170.
      { name: 'log starts right after the snapshot', make: () => makeSnapshotDir({ snapshots: [169], compactTo: 240 }) },
      { name: 'log starts one index too late', make: () => makeSnapshotDir({ snapshots: [168], compactTo: 240 }) },
      { name: 'compacted, no snapshot', make: () => makeSnapshotDir({ snapshots: [], compactTo: 100 }) },
      { name: 'not compacted, no snapshot', make: () => makeSnapshotDir({ snapshots: [] }) },
    ]
    const seen: string[] = []
    for (const shape of shapes) {
      const dir = await shape.make()
      const { json } = await verifyJson(dir)
      const refused = await startingNodeRefuses(dir)
      expect(json.snapshots.fits, `${shape.name}: verify ${JSON.stringify(json.problems)}, node: ${refused ?? 'started'}`).toBe(refused === undefined)
      seen.push(`${shape.name}: ${refused === undefined ? 'fits' : 'refused'}`)
    }
    // Both verdicts occur, so the comparison can fail either way.
    expect(seen.filter((line) => line.endsWith('refused')).length).toBeGreaterThanOrEqual(2)
    expect(seen.filter((line) => line.endsWith('fits')).length).toBeGreaterThanOrEqual(2)
  })
})

function tap<T>(value: T, use: (value: T) => unknown): T {
  use(value)
  return value
}
