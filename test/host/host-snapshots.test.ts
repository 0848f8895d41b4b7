// Snapshots of groups on RaftHosts: taken every N applied entries into the engine directory,
// the group's log compacted behind them and the engine's files freed; a follower behind the
// leader's log catches up by a snapshot sent in chunks through the host batches; a host that
// restarts restores each group from its snapshot, then replays its log.
import { afterEach, describe, expect, it } from 'vitest'
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { groupSnapshotDir } from '../../src/host/host-snapshots.js'
import type { RaftHost } from '../../src/host/raft-host.js'
import type { HostBatch } from '../../src/host/host-batch.js'
import { hostCluster, LargeRecorder, SnapshotRecorder } from '../helpers/host-cluster.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** Three hosts, groups 1 and 2 on all three, snapshots every 50 entries, 10 kept behind. */
function snapshotting(newMachine?: () => SnapshotRecorder) {
  const c = hostCluster(3, {
    ...(newMachine === undefined ? {} : { newMachine }),
    snapshotEveryEntries: 50,
    snapshotTrailingEntries: 10,
    purgeEveryTicks: 5,
    engine: { fileSize: 64 * 1024, rewriteLagFiles: 1 },
    groups: (host, machine) => {
      for (const group of [1, 2]) host.addGroup(group, [1, 2, 3], machine(group))
    },
  })
  cleanups.push(c.cleanup)
  for (const id of c.ids) c.start(id)
  /** Proposes `count` values of 1 KiB to `group` at its leader, all at once; returns them. */
  const write = async (group: number, count: number, tag: string): Promise<string[]> => {
    const leader = c.hosts.get(await c.led(group)) as RaftHost
    const values = Array.from({ length: count }, (_, i) => `${tag}${i}:`.padEnd(1024, '.'))
    await c.during(Promise.all(values.map((value) => leader.propose(group, Buffer.from(value)))))
    return values
  }
  return { ...c, write }
}

const snapshotFiles = (dir: string, group: number): string[] => (existsSync(groupSnapshotDir(dir, group)) ? readdirSync(groupSnapshotDir(dir, group)).filter((name) => name.endsWith('.snap')) : [])

describe('RaftHost snapshots', () => {
  it('snapshots a group every N applied entries, compacts its log behind them and frees engine files', async () => {
    const c = snapshotting()
    const values = await c.write(1, 240, 'a')
    // Snapshots at 191 or more (every 50 applied), 10 entries kept behind; a purge after them.
    await c.until(() => c.ids.every((id) => (c.engines.get(id)?.firstIndex(1) ?? 0) > 150 && (c.hosts.get(id)?.counters.filesFreed ?? 0) > 0), 'compacted and purged on every host')
    for (const id of c.ids) {
      expect(c.machines.get(`${id}/1`)?.values).toEqual(values)
      expect(snapshotFiles(c.dirs[id - 1] as string, 1).length).toBeGreaterThan(0)
      // Group 2 took none: nothing was applied to it.
      expect(c.engines.get(id)?.firstIndex(2)).toBe(1)
    }
  })

  it('brings a follower behind the leader\'s first index up to date with a snapshot', async () => {
    const c = snapshotting()
    await c.led(1)
    const before = await c.write(1, 5, 'b')
    await c.run(3)
    c.stop(3)
    const after = await c.write(1, 200, 'c')
    const leader = c.leaderOf(1)
    await c.until(() => (c.engines.get(leader)?.firstIndex(1) ?? 0) > 100, 'the leader compacted its log')
    c.start(3)
    await c.until(() => c.machines.get('3/1')?.values.length === 205, 'host 3 caught up')
    const machine = c.machines.get('3/1')
    expect(machine?.restoredFrom?.index).toBeGreaterThan(100)
    expect(machine?.values).toEqual([...before, ...after])
    // It goes on from there by the log.
    const more = await c.write(1, 3, 'd')
    await c.run(5)
    expect(machine?.values).toEqual([...before, ...after, ...more])
  })

  it('restarts a host from its groups\' snapshots, then replays their logs', async () => {
    const c = snapshotting()
    const values = await c.write(1, 130, 'e')
    const follower = c.ids.find((id) => id !== c.leaderOf(1)) as number
    await c.until(() => snapshotFiles(c.dirs[follower - 1] as string, 1).length > 0, 'the follower took a snapshot')
    // Alone after the restart: everything it holds must come from its own directory.
    c.stop(follower)
    c.start(follower)
    c.network.isolated.add(follower)
    const machine = c.machines.get(`${follower}/1`)
    await c.until(() => machine?.restoredFrom !== undefined, 'restored from its own snapshot')
    expect(machine?.restoredFrom?.index).toBeGreaterThanOrEqual(50)
    expect(machine?.values).toEqual(values.slice(0, machine?.values.length))
    expect(machine?.values.length).toBeGreaterThanOrEqual(49)
    c.network.isolated.delete(follower)
    await c.until(() => machine?.values.length === values.length, 'caught up')
    expect(machine?.values).toEqual(values)
  })

  it('sends a snapshot larger than a chunk in several chunks through the host batches', async () => {
    const c = snapshotting(() => new LargeRecorder())
    await c.led(1)
    c.stop(3)
    const values = await c.write(1, 60, 'f')
    await c.until(() => (c.engines.get(c.leaderOf(1))?.firstIndex(1) ?? 0) > 1, 'the leader compacted its log')
    const host3 = c.start(3)
    const chunks: number[] = []
    const receive = host3.receive.bind(host3)
    host3.receive = (batch: HostBatch) => {
      for (const { message } of batch.messages) if (message.type === 'SnapshotChunk') chunks.push(message.data.length)
      receive(batch)
    }
    await c.until(() => c.machines.get('3/1')?.values.length === values.length, 'host 3 caught up')
    const machine = c.machines.get('3/1')
    expect(machine?.restoredFrom).toBeDefined()
    expect(machine?.values).toEqual(values)
    expect(chunks.length).toBeGreaterThanOrEqual(3)
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1024 * 1024)
  })

  it('frees a removed replica\'s log and snapshots, and deletes a snapshot folder a crash left without its log', async () => {
    const c = snapshotting()
    const values = await c.write(1, 60, 'g')
    const dir3 = c.dirs[2] as string
    await c.until(() => snapshotFiles(dir3, 1).length > 0, 'host 3 took a snapshot')
    const host3 = c.hosts.get(3) as RaftHost
    host3.dropGroup(1)
    await host3.removeReplica(1)
    expect(c.engines.get(3)?.hasGroup(1)).toBe(false)
    expect(existsSync(groupSnapshotDir(dir3, 1))).toBe(false)
    // As if a removal crashed after the log went and before the folder did: a snapshot of the group is left.
    cpSync(groupSnapshotDir(c.dirs[1] as string, 1), groupSnapshotDir(dir3, 1), { recursive: true })
    host3.addGroup(1, [1, 2, 3], c.machine(3, 1))
    // A new, empty replica: the stale folder went before anything could restore from it.
    expect(existsSync(groupSnapshotDir(dir3, 1))).toBe(false)
    await c.settle()
    expect(c.machines.get('3/1')?.restoredFrom).toBeUndefined()
    // It catches up from the leader (by its snapshot) like any new replica.
    await c.until(() => c.machines.get('3/1')?.values.length === values.length, 'host 3 caught up')
    expect(c.machines.get('3/1')?.values).toEqual(values)
  })

  it('restarts from a snapshot received just before a crash, before its log was reset to follow it', async () => {
    const c = snapshotting()
    await c.led(1)
    const first = await c.write(1, 3, 'h')
    c.stop(3)
    const values = [...first, ...(await c.write(1, 80, 'i'))]
    const leader = c.leaderOf(1)
    const leaderDir = c.dirs[leader - 1] as string
    await c.until(() => snapshotFiles(leaderDir, 1).length > 0, 'the leader took a snapshot')
    // Host 3 crashed once the leader's snapshot file was durable in its folder, before its log
    // (which ends before the snapshot) was reset: the file is there, the log is the old one.
    const newest = snapshotFiles(leaderDir, 1).sort().at(-1) as string
    const folder = groupSnapshotDir(c.dirs[2] as string, 1)
    mkdirSync(folder, { recursive: true })
    copyFileSync(join(groupSnapshotDir(leaderDir, 1), newest), join(folder, newest))
    const index = Number(/\d+/.exec(newest)?.[0])
    c.start(3)
    c.network.isolated.add(3)
    const machine = c.machines.get('3/1')
    await c.until(() => machine?.restoredFrom !== undefined, 'host 3 restored the snapshot')
    expect(machine?.restoredFrom?.index).toBe(index)
    expect(c.engines.get(3)?.firstIndex(1)).toBe(index + 1)
    c.network.isolated.delete(3)
    await c.until(() => machine?.values.length === values.length, 'host 3 caught up')
    expect(machine?.values).toEqual(values)
  })

  it('drops a group whose snapshot cannot be restored from its host, and keeps the host and its other groups going', async () => {
    const c = snapshotting()
    const values = await c.write(1, 60, 'j')
    const dir3 = c.dirs[2] as string
    await c.until(() => snapshotFiles(dir3, 1).length > 0, 'host 3 took a snapshot')
    c.stop(3)
    // A flipped byte in the snapshot's data: its header and metadata still read, its chunk fails its checksum.
    const file = join(groupSnapshotDir(dir3, 1), snapshotFiles(dir3, 1).sort().at(-1) as string)
    const bytes = readFileSync(file)
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 0xff
    writeFileSync(file, bytes)
    const host3 = c.start(3)
    await c.until(() => host3.failedGroups.has(1), 'group 1 failed on host 3')
    expect(host3.failedGroups.get(1)?.code).toBe('ERR_CORRUPT')
    expect(host3.hasGroup(1)).toBe(false)
    expect(host3.failure).toBeUndefined()
    // Group 1 goes on with hosts 1 and 2; group 2 on all three.
    expect(await c.propose(1, 'after')).toMatch(/^applied/)
    expect(await c.propose(2, 'still')).toMatch(/^applied/)
    await c.until(() => c.machines.get('3/2')?.values.length === 1, 'host 3 applied group 2')
    expect(c.machines.get('3/2')?.values).toEqual(['still'])
    expect(c.machines.get('1/1')?.values).toEqual([...values, 'after'])
  })

  it('spreads many groups\' snapshot chunks to one peer over batches that hold at most maxSnapshotBytesPerBatch of them', async () => {
    const groups = Array.from({ length: 12 }, (_, i) => i + 1)
    // One chunk's worth (chunks are 1 MiB): batches seen holding 2 MiB of chunks without the bound.
    const bound = 1024 * 1024
    const c = hostCluster(3, {
      maxSnapshotBytesPerBatch: bound,
      snapshotEveryEntries: 20,
      snapshotTrailingEntries: 2,
      newMachine: () => new LargeRecorder(),
      groups: (host, machine) => {
        for (const group of groups) host.addGroup(group, [1, 2, 3], machine(group))
      },
    })
    cleanups.push(c.cleanup)
    // The snapshot bytes of every batch sent to host 3.
    const toHost3: number[] = []
    const transportFor = c.network.transportFor.bind(c.network)
    c.network.transportFor = (id) => {
      const transport = transportFor(id)
      return {
        send: (to, batch) => {
          if (to === 3) toHost3.push(batch.messages.reduce((sum, { message }) => sum + (message.type === 'SnapshotChunk' ? message.data.length : 0), 0))
          transport.send(to, batch)
        },
      }
    }
    for (const id of c.ids) c.start(id)
    c.stop(3)
    for (const group of groups) {
      const leader = c.hosts.get(await c.led(group)) as RaftHost
      await c.during(Promise.all(Array.from({ length: 25 }, (_, i) => leader.propose(group, Buffer.from(`k${i}`)))))
    }
    await c.until(() => groups.every((group) => (c.engines.get(c.leaderOf(group))?.firstIndex(group) ?? 0) > 1), 'every leader compacted')
    c.start(3)
    await c.until(() => groups.every((group) => c.machines.get(`3/${group}`)?.values.length === 25), 'host 3 caught up in every group')
    const sent = toHost3.filter((bytes) => bytes > 0)
    expect(sent.reduce((sum, bytes) => sum + bytes, 0)).toBeGreaterThan(12 * 2.5 * 1024 * 1024)
    expect(Math.max(...sent)).toBeLessThanOrEqual(bound)
  })
})
