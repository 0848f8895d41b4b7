// What a node directory lets other local users do: read nothing (directories 0700, files 0600,
// whatever the umask), plant nothing (a directory they can write to is refused), and redirect no
// write through a symlink planted under a name the node opens.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog, RaftStateFile } from '../../src/index.js'
import { SnapshotStore } from '../../src/storage/snapshot-store.js'
import { snapshotFileName } from '../../src/storage/snapshot-format.js'
import { silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8)

/** A file of someone else's that a planted symlink points at: it must come out unchanged. */
function victim(): { path: string; unchanged(): boolean } {
  const path = join(tempDir(), 'precious')
  writeFileSync(path, 'not yours to overwrite')
  return { path, unchanged: () => readFileSync(path, 'utf8') === 'not yours to overwrite' }
}

describe('files of a node directory', () => {
  let umask: number
  // The modes must come from raftlog, not from a careful umask.
  beforeEach(() => {
    umask = process.umask(0)
  })
  afterEach(() => {
    process.umask(umask)
  })

  it('are created 0600 in directories created 0700', async () => {
    const dir = join(tempDir(), 'logs', 'node_1')
    const log = RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger })
    for (let i = 0; i < 200; i++) log.append([{ term: 1, data: Buffer.alloc(100, i) }])
    await log.flush()
    const state = RaftStateFile.open(join(dir, 'raft_state.meta'))
    state.save({ currentTerm: 1, votedFor: 1, commitIndex: 0, lastApplied: 0, serverState: 0 })
    state.close()
    const writer = await SnapshotStore.open(dir).create({ index: 10, term: 1, metadata: new Uint8Array(0) })
    await writer.write(Buffer.from('state'))
    await writer.finish()
    log.close()
    expect(modeOf(dir)).toBe('700')
    expect(modeOf(join(dir, '..'))).toBe('700')
    const files = readdirSync(dir)
    expect(files.filter((name) => name.startsWith('segment_')).length).toBeGreaterThan(2)
    expect(files).toContain(snapshotFileName(10))
    for (const name of files) expect(`${name} ${modeOf(join(dir, name))}`).toBe(`${name} 600`)
  })
})

describe('a node directory other users can write to', () => {
  it('is refused, naming the directory and the fix', () => {
    for (const mode of [0o777, 0o775, 0o1777]) {
      const dir = join(tempDir(), 'node_1')
      mkdirSync(dir)
      chmodSync(dir, mode)
      expect(() => RaftLog.open(dir, { logger: silentLogger }), mode.toString(8)).toThrow(
        expect.objectContaining({ code: 'ERR_UNSAFE_DIRECTORY', message: expect.stringContaining(`${dir} can be written by other users`) }),
      )
      chmodSync(dir, 0o755)
      RaftLog.open(dir, { logger: silentLogger }).close()
    }
  })
})

describe('a symlink planted under a name the node opens', () => {
  it('as the partial copy of a snapshot being received: the write goes to a new file, the target is untouched', async () => {
    const dir = tempDir()
    const target = victim()
    const store = SnapshotStore.open(dir)
    // Planted while the node runs (opening the store deletes leftovers).
    symlinkSync(target.path, join(dir, `${snapshotFileName(30)}.partial`))
    const receiver = await store.receive(30, 3)
    expect(receiver.heldBytes).toBe(0)
    await receiver.write(0, Buffer.from('bytes from one network message'))
    await receiver.abort()
    expect(target.unchanged()).toBe(true)
  })

  it('as the temporary file of a snapshot being written: the target is untouched', async () => {
    const dir = tempDir()
    const target = victim()
    const store = SnapshotStore.open(dir)
    symlinkSync(target.path, join(dir, `${snapshotFileName(7)}.tmp`))
    const writer = await store.create({ index: 7, term: 1, metadata: new Uint8Array(0) })
    await writer.write(Buffer.from('state'))
    await writer.finish()
    expect(target.unchanged()).toBe(true)
    expect(store.list().map((snapshot) => snapshot.index)).toEqual([7])
  })

  it('as the state file or the lock: the open fails with ELOOP; as a segment still to come: the target is untouched', async () => {
    const target = victim()
    const stateDir = tempDir()
    symlinkSync(target.path, join(stateDir, 'raft_state.meta'))
    expect(() => RaftStateFile.open(join(stateDir, 'raft_state.meta'))).toThrow(expect.objectContaining({ code: 'ELOOP' }))

    const lockDir = tempDir()
    symlinkSync(target.path, join(lockDir, 'LOCK'))
    expect(() => RaftLog.open(lockDir, { logger: silentLogger })).toThrow(expect.objectContaining({ code: 'ELOOP' }))

    // The segment names 120 entries take, learnt from a first log; planted before a second one makes them.
    const entries = Array.from({ length: 120 }, (_, i) => Buffer.alloc(100, i))
    const write = async (dir: string, plant = (): void => {}): Promise<void> => {
      const log = RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger })
      plant()
      for (const data of entries) {
        log.append([{ term: 1, data }])
        await log.flush()
      }
      log.close()
    }
    const first = tempDir()
    await write(first)
    const names = readdirSync(first).filter((name) => name.startsWith('segment_')).sort().slice(1)
    expect(names.length).toBeGreaterThan(2)
    const dir = tempDir()
    await write(dir, () => names.forEach((name) => symlinkSync(target.path, join(dir, name)))).catch((error: unknown) => expect(error).toMatchObject({ code: 'ELOOP' }))
    expect(target.unchanged()).toBe(true)
  })
})
