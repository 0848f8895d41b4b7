// Moving a group's replica between RaftHosts with the group's own membership changes: a learner
// on the new host catches up (by snapshot: the leader's log is compacted), is promoted, the old
// host loses leadership first if it led, is removed, and drops its replica and log. Proposals go
// on meanwhile and every acknowledged one reaches the new replica; the new membership survives a
// restart; a move cut short by a crash is finished by asking again.
import { afterEach, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { groupSnapshotDir } from '../../src/host/host-snapshots.js'
import { moveReplica } from '../../src/host/move-replica.js'
import type { RaftHost } from '../../src/host/raft-host.js'
import { hostCluster } from '../helpers/host-cluster.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** Four hosts; group 1 starts on hosts 1-3 (host 4 holds nothing), snapshots every 30 entries. */
function fourHosts() {
  const started = new Set<number>()
  const c = hostCluster(4, {
    snapshotEveryEntries: 30,
    snapshotTrailingEntries: 5,
    groups: (host, machine) => {
      // A restarted host takes up what its engine holds; at the first start, hosts 1-3 found the group.
      const held = c.engines.get(host.nodeId)?.hasGroup(1) === true
      const first = !started.has(host.nodeId)
      started.add(host.nodeId)
      if (held && host.nodeId === 4) host.joinGroup(1, machine(1))
      else if (held || (first && host.nodeId <= 3)) host.addGroup(1, [1, 2, 3], machine(1))
    },
  })
  cleanups.push(c.cleanup)
  for (const id of c.ids) c.start(id)
  const move = (from: number, to: number) =>
    moveReplica(1, from, to, {
      hosts: c.ids,
      host: (id) => (c.network.down.has(id) ? undefined : c.hosts.get(id)),
      startReplica: (id, group) => (c.hosts.get(id) as RaftHost).joinGroup(group, c.machine(id, group)),
      pauseMs: 1,
    })
  /** Proposes one value after another at the group's leader until stop(); keeps those acknowledged. */
  const writer = () => {
    const acknowledged: string[] = []
    let stopped = false
    let n = 0
    const loop = (async () => {
      while (!stopped) {
        const leader = c.leaderOf(1)
        const value = `w${n++}`
        try {
          if (leader === 0) throw new Error('no leader')
          await (c.hosts.get(leader) as RaftHost).propose(1, Buffer.from(value))
          acknowledged.push(value)
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 1))
        }
      }
    })()
    return {
      acknowledged,
      stop: async () => {
        stopped = true
        await c.during(loop)
      },
    }
  }
  return { ...c, move, writer }
}

/** Whether `values` holds every one of `wanted`, in order (other values between them allowed). */
function holdsInOrder(values: readonly string[], wanted: readonly string[]): boolean {
  let at = 0
  for (const value of values) if (value === wanted[at]) at++
  return at === wanted.length
}

describe('moving a group replica between hosts', () => {
  it('moves the leader\'s replica while proposals go on: every acknowledged write is on the new host, the old one holds nothing', async () => {
    const c = fourHosts()
    const from = await c.led(1)
    for (let i = 0; i < 60; i++) await c.propose(1, `p${i}`)
    // Which host proposed the removal: never `from` (its leadership moves off first).
    const removedBy: number[] = []
    for (const host of c.hosts.values()) {
      const change = host.changeMembership.bind(host)
      host.changeMembership = (group, asked) => {
        if (asked.remove !== undefined) removedBy.push(host.nodeId)
        return change(group, asked)
      }
    }
    const writes = c.writer()
    const config = await c.during(c.move(from, 4))
    await writes.stop()
    await c.until(() => c.machines.get('4/1')?.restoredFrom !== undefined && c.leaderOf(1) !== 0, 'host 4 restored and a leader known')
    await c.run(10)
    expect(config.voters).toEqual([1, 2, 3, 4].filter((id) => id !== from))
    expect(removedBy.length).toBeGreaterThan(0)
    expect(removedBy).not.toContain(from)
    expect(writes.acknowledged.length).toBeGreaterThan(0)
    const moved = c.machines.get('4/1')
    // It caught up by a snapshot (the leader's log was compacted past what it lacked).
    expect(moved?.restoredFrom).toBeDefined()
    expect(holdsInOrder(moved?.values ?? [], [...Array.from({ length: 60 }, (_, i) => `p${i}`), ...writes.acknowledged])).toBe(true)
    for (const id of config.voters) expect(c.machines.get(`${id}/1`)?.values).toEqual(moved?.values)
    // The old host dropped its replica and freed its log and snapshots.
    expect(c.hosts.get(from)?.hasGroup(1)).toBe(false)
    expect(c.engines.get(from)?.hasGroup(1)).toBe(false)
    expect(existsSync(groupSnapshotDir(c.dirs[from - 1] as string, 1))).toBe(false)
    expect(c.leaderOf(1)).not.toBe(from)
    expect(await c.propose(1, 'after')).toMatch(/^applied/)
  })

  it('keeps the group\'s new membership across a restart of every host, from the snapshot once the log no longer holds it', async () => {
    const c = fourHosts()
    await c.led(1)
    await c.propose(1, 'one')
    await c.during(c.move(1, 4))
    // Enough entries after the move for snapshots to compact its configuration entries away: the snapshot's metadata then holds it.
    const configIndex = c.hosts.get(2)?.configurationIndexOf(1) ?? 0
    const more: string[] = []
    for (let i = 0; i < 70; i++) more.push(`m${i}`)
    for (const value of more) await c.propose(1, value)
    await c.until(() => [2, 3, 4].every((id) => (c.engines.get(id)?.firstIndex(1) ?? 0) > configIndex), 'every replica compacted past the configuration entries')
    for (const id of c.ids) c.stop(id)
    // Every host starts again with addGroup's old peers (1, 2, 3): the log's configuration wins.
    for (const id of c.ids) c.start(id)
    expect(c.hosts.get(1)?.hasGroup(1)).toBe(false)
    for (const id of [2, 3, 4]) expect(c.hosts.get(id)?.configurationOf(1).voters).toEqual([2, 3, 4])
    c.stop(2)
    // Hosts 3 and 4 are a majority of the new voters only.
    expect(await c.propose(1, 'two')).toMatch(/^applied/)
    await c.run(5)
    expect(c.machines.get('4/1')?.values).toEqual(['one', ...more, 'two'])
  })

  it('finishes a move cut short by a crash of the new host, then of the old one, when asked again', async () => {
    const c = fourHosts()
    await c.led(1)
    for (let i = 0; i < 40; i++) await c.propose(1, `p${i}`)
    const leader = c.leaderOf(1)
    const from = [1, 2, 3].find((id) => id !== leader) as number
    // The move's first step by hand: host 4 joins as a learner, then crashes before its promotion.
    ;(c.hosts.get(4) as RaftHost).joinGroup(1, c.machine(4, 1))
    await c.during((c.hosts.get(leader) as RaftHost).changeMembership(1, { addLearners: [{ id: 4, address: '' }] }))
    await c.run(3)
    c.stop(4)
    await c.propose(1, 'while 4 was down')
    c.start(4)
    // The old host crashes too, and stays down while the move goes on.
    c.stop(from)
    const config = await c.during(c.move(from, 4))
    expect(config.voters).toEqual([1, 2, 3, 4].filter((id) => id !== from))
    // Back up, the old host still holds its replica (nobody could tell it); asked again, the move drops it.
    c.start(from)
    expect(c.hosts.get(from)?.hasGroup(1)).toBe(true)
    await c.during(c.move(from, 4))
    expect(c.hosts.get(from)?.hasGroup(1)).toBe(false)
    expect(c.engines.get(from)?.hasGroup(1)).toBe(false)
    expect(await c.propose(1, 'after')).toMatch(/^applied/)
    await c.run(5)
    expect(c.machines.get('4/1')?.values).toEqual([...Array.from({ length: 40 }, (_, i) => `p${i}`), 'while 4 was down', 'after'])
  })

  it('refuses a move that names no host or the same host twice, before changing anything', async () => {
    const c = fourHosts()
    await c.led(1)
    await expect(c.move(2, 2)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    await expect(c.move(2, 9)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    await expect(c.move(0, 4)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    expect(c.hosts.get(4)?.hasGroup(1)).toBe(false)
  })

  it('finishes a move whose leader crashes in the middle of it, under a new leader', async () => {
    const c = fourHosts()
    const leader = await c.led(1)
    for (let i = 0; i < 10; i++) await c.propose(1, `p${i}`)
    const from = [1, 2, 3].find((id) => id !== leader) as number
    const moving = c.move(from, 4)
    // Once host 4 is a member (a learner, or further), the leader crashes.
    await c.until(() => (c.hosts.get(leader)?.configurationOf(1).learners.includes(4) ?? false) || (c.hosts.get(leader)?.configurationOf(1).voters.includes(4) ?? false), 'host 4 added')
    c.stop(leader)
    const config = await c.during(moving)
    expect(config.voters).toEqual([1, 2, 3, 4].filter((id) => id !== from))
    expect(c.hosts.get(from)?.hasGroup(1)).toBe(false)
    // The crashed leader is still a voter: with it down, the two others of the three voters commit.
    expect(await c.propose(1, 'after')).toMatch(/^applied/)
    await c.until(() => c.machines.get('4/1')?.values.at(-1) === 'after', 'host 4 applied the last entry')
    expect(c.machines.get('4/1')?.values).toEqual([...Array.from({ length: 10 }, (_, i) => `p${i}`), 'after'])
  })
})
