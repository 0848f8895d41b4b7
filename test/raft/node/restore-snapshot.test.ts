// Backup files and restoreSnapshot in one process: a backup made from a node's snapshot file
// checks out; a damaged or cut one is refused naming the file and byte; a restore builds a
// directory a RaftNode starts from (its state machine restored, its configuration the new one),
// agrees across nodes on the new cluster's id, and leaves nothing behind when it is refused.
import { describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftNode, RaftStateFile, checkBackupFile, restoreSnapshot, type RaftLogError } from '../../../src/index.js'
import { MemoryNetwork } from '../../../src/testing/memory-network.js'
import { SnapshotStore } from '../../../src/storage/snapshot-store.js'
import { BackupWriter, type BackupMetadata } from '../../../src/storage/backup-file.js'
import { encodeConfiguration, votersOnly } from '../../../src/raft/core/configuration.js'
import { silentLogger } from '../../helpers/entries.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { waitFor } from '../../helpers/raft-nodes.js'

const state = Buffer.from('the whole state: '.repeat(100_000))

/** A backup of a snapshot at index 40, term 3, of a cluster of voters 1, 2, 3, holding `state`. */
async function makeBackup(dir: string): Promise<string> {
  const nodeDir = join(dir, 'node')
  mkdirSync(nodeDir, { mode: 0o700 })
  const old = votersOnly([1, 2, 3], { 1: 'a:1', 2: 'b:1', 3: 'c:1' })
  const writer = await SnapshotStore.open(nodeDir).create({ index: 40, term: 3, metadata: encodeConfiguration(old) })
  await writer.write(state)
  await writer.finish()
  const snapshotFile = readFileSync(join(nodeDir, 'snapshot_00000000000000000040.snap'))
  const metadata: BackupMetadata = { index: 40, term: 3, clusterId: 'a'.repeat(32), foundingId: 'b'.repeat(32), nodeId: 2, configuration: old, createdAt: new Date().toISOString() }
  const path = join(dir, 'backup.rlb')
  const backup = await BackupWriter.create(path, metadata, snapshotFile.length)
  // In pieces, as they arrive over the network.
  for (let at = 0; at < snapshotFile.length; at += 300_000) await backup.write(snapshotFile.subarray(at, at + 300_000))
  await backup.finish()
  return path
}

const members = [
  { id: 1, address: '127.0.0.1:1' },
  { id: 2, address: '127.0.0.1:2' },
  { id: 3, address: '127.0.0.1:3' },
]

describe('backup files', () => {
  it('check out whole, saying what they hold', async () => {
    const summary = await checkBackupFile(await makeBackup(tempDir()))
    expect(summary).toMatchObject({ index: 40, term: 3, nodeId: 2, clusterId: 'a'.repeat(32), dataBytes: state.length, chunks: 2 })
    expect(summary.checksum).toMatch(/^[0-9a-f]{8}$/)
  })

  it('are refused with the file and byte named when a byte is flipped or the end is cut', async () => {
    const path = await makeBackup(tempDir())
    const good = readFileSync(path)
    for (const at of [3, 20, 40, 200, 1_000_000, good.length - 20, good.length - 1]) {
      const bad = Buffer.from(good)
      bad[at] = (bad[at] as number) ^ 1
      writeFileSync(path, bad)
      const error = (await checkBackupFile(path).catch((e: unknown) => e)) as RaftLogError
      expect(error.code, `byte ${at}`).toBe(at < 4 ? 'ERR_NOT_BACKUP' : 'ERR_CORRUPT')
      expect(error.message).toContain(path)
    }
    // The last bytes hold the trailer's size field: flipped high, it is not a size at all.
    const hugeSize = Buffer.from(good)
    hugeSize[good.length - 1] = 0xff
    writeFileSync(path, hugeSize)
    expect(((await checkBackupFile(path).catch((e: unknown) => e)) as RaftLogError).message).not.toContain('NaN')
    // A directory is not a backup, and says so with its path.
    const notFile = (await checkBackupFile(tempDir()).catch((e: unknown) => e)) as RaftLogError
    expect([notFile.code, notFile.message]).toEqual(['ERR_NOT_BACKUP', expect.stringMatching(/ is not a raftlog backup file \(a directory\)/)])
    writeFileSync(path, good.subarray(0, good.length - 100))
    expect(((await checkBackupFile(path).catch((e: unknown) => e)) as RaftLogError).message).toMatch(/^Backup .* is corrupt at byte \d+: .*cut short, or bytes added/)
    // Cut inside its header: a backup cut short, not another kind of file.
    writeFileSync(path, good.subarray(0, 20))
    const short = (await checkBackupFile(path).catch((e: unknown) => e)) as RaftLogError
    expect([short.code, short.message]).toEqual(['ERR_CORRUPT', `Backup ${path} is corrupt at byte 20: the file ends inside its 32-byte header (20 bytes): cut short`])
    writeFileSync(path, Buffer.from('RBA'))
    expect(((await checkBackupFile(path).catch((e: unknown) => e)) as RaftLogError).code).toBe('ERR_NOT_BACKUP')
  })

  it('are never overwritten: an existing file is refused', async () => {
    const dir = tempDir()
    const path = await makeBackup(dir)
    await expect(BackupWriter.create(path, {} as BackupMetadata, 0)).rejects.toMatchObject({ code: 'ERR_EXISTS' })
  })
})

describe('restoreSnapshot', () => {
  it('builds a directory a node starts from, as a member of the new configuration, and every node finds the same cluster id', async () => {
    const dir = tempDir()
    const file = await makeBackup(dir)
    const reports = []
    for (const { id } of members) reports.push(await restoreSnapshot({ file, dir: join(dir, `new_${id}`), nodeId: id, members }))
    expect(new Set(reports.map((report) => report.foundingId)).size).toBe(1)
    expect(reports[0]!.foundingId).toMatch(/^[0-9a-f]{32}$/)
    // Another list of members, or another name: another cluster.
    const other = await restoreSnapshot({ file, dir: join(dir, 'other'), nodeId: 1, members: members.slice(0, 1) })
    expect(other.foundingId).not.toBe(reports[0]!.foundingId)
    const named = await restoreSnapshot({ file, dir: join(dir, 'named'), nodeId: 1, members, clusterName: 'restored' })
    expect(named.foundingId).not.toBe(reports[0]!.foundingId)

    const saved = RaftStateFile.open(join(dir, 'new_2', 'raft_state.meta'))
    expect(saved.load()).toMatchObject({ currentTerm: 3, commitIndex: 40, nodeId: 2, clusterId: reports[0]!.foundingId })
    saved.close()

    // A one-node cluster restored the same way starts, restores its state machine, and goes on at 41.
    let restored = Buffer.alloc(0)
    const node = await RaftNode.start({
      id: 1,
      peers: [1],
      dir: join(dir, 'other'),
      stateMachine: {
        apply: () => undefined,
        snapshot: () => restored,
        restore: async (chunks) => {
          const parts: Buffer[] = []
          for await (const chunk of chunks) parts.push(Buffer.from(chunk))
          restored = Buffer.concat(parts)
        },
      },
      transport: new MemoryNetwork().endpoint(1),
      electionTimeout: [50, 100],
      heartbeatInterval: 10,
      logger: silentLogger,
    })
    try {
      expect(restored.equals(state)).toBe(true)
      expect(node.status()).toMatchObject({ snapshotIndex: 40, lastApplied: 40, firstIndex: 41, foundingId: other.foundingId })
      expect(node.configuration.voters).toEqual([1])
      await waitFor('a leader', () => node.status().role === 'leader')
      expect(node.status().term).toBeGreaterThan(3)
      await node.propose(Buffer.from('after'))
      expect(node.status().lastApplied).toBeGreaterThan(40)
    } finally {
      await node.stop()
    }
  })

  it('refuses a directory that holds anything, and leaves it as it was', async () => {
    const dir = tempDir()
    const file = await makeBackup(dir)
    const busy = join(dir, 'busy')
    mkdirSync(busy)
    writeFileSync(join(busy, 'keep-me'), 'x')
    await expect(restoreSnapshot({ file, dir: busy, nodeId: 1, members })).rejects.toMatchObject({ code: 'ERR_NOT_EMPTY' })
    expect(readdirSync(busy)).toEqual(['keep-me'])
  })

  it('refuses a damaged backup before writing anything, and leaves no directory behind', async () => {
    const dir = tempDir()
    const file = await makeBackup(dir)
    const bytes = readFileSync(file)
    bytes[bytes.length - 2000] = (bytes[bytes.length - 2000] as number) ^ 1
    writeFileSync(file, bytes)
    const target = join(dir, 'new')
    await expect(restoreSnapshot({ file, dir: target, nodeId: 1, members })).rejects.toMatchObject({ code: 'ERR_CORRUPT' })
    expect(existsSync(target)).toBe(false)
    // Nor the parents it made for the directory...
    await expect(restoreSnapshot({ file, dir: join(dir, 'made', 'for', 'it'), nodeId: 1, members })).rejects.toMatchObject({ code: 'ERR_CORRUPT' })
    expect(existsSync(join(dir, 'made'))).toBe(false)
    // ...unless something else was put there meanwhile (another node's restore beside it).
    const restoring = restoreSnapshot({ file, dir: join(dir, 'new-cluster', 'n1'), nodeId: 1, members })
    mkdirSync(join(dir, 'new-cluster', 'n2'))
    writeFileSync(join(dir, 'new-cluster', 'n2', 'raft_state.meta'), 'restored beside it')
    await expect(restoring).rejects.toMatchObject({ code: 'ERR_CORRUPT' })
    expect(readdirSync(join(dir, 'new-cluster'))).toEqual(['n2'])
    const empty = join(dir, 'empty')
    mkdirSync(empty)
    await expect(restoreSnapshot({ file, dir: empty, nodeId: 1, members })).rejects.toMatchObject({ code: 'ERR_CORRUPT' })
    expect(readdirSync(empty)).toEqual([])
  })

  it('refuses a node that is not one of the members, and members listed twice', async () => {
    const dir = tempDir()
    const file = await makeBackup(dir)
    await expect(restoreSnapshot({ file, dir: join(dir, 'a'), nodeId: 4, members })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    await expect(restoreSnapshot({ file, dir: join(dir, 'b'), nodeId: 1, members: [...members, members[0]!] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    expect(existsSync(join(dir, 'a'))).toBe(false)
  })
})
