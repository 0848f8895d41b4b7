// Many Raft groups on three RaftHosts over one LogEngine each and an in-memory network: every
// group elects and replicates, one engine flush serves a whole turn of many groups, idle groups go
// quiet (no ticks, no Raft messages: only one beat per host pair), a proposal wakes a quiet group,
// a host that stops hands its groups to the others, and a host reopened from its engine resumes.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { RaftHost } from '../../src/host/raft-host.js'
import { MemoryHostNetwork } from '../../src/testing/memory-host-network.js'
import type { LogEntry } from '../../src/storage/log-entry.js'

/** A state machine that keeps what it applied. */
class Recorder {
  readonly values: string[] = []
  apply(entry: LogEntry): string {
    const value = Buffer.from(entry.data).toString()
    if (value === 'refused') throw Object.assign(new Error(`entry ${entry.index} refused`), { code: 'ERR_REFUSED' })
    this.values.push(value)
    return `applied ${entry.index}`
  }
}

const hostIds = [1, 2, 3]
const dirs: string[] = []
const opened: LogEngine[] = []
const running: RaftHost[] = []

afterEach(() => {
  for (const host of running.splice(0)) host.stop()
  for (const engine of opened.splice(0)) engine.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function cluster(groups: number) {
  const network = new MemoryHostNetwork()
  const machines = new Map<string, Recorder>()
  const hostDirs = hostIds.map(() => {
    const dir = mkdtempSync(join(tmpdir(), 'raftlog-host-'))
    dirs.push(dir)
    return dir
  })
  const engines = new Map<number, LogEngine>()
  const start = (id: number): RaftHost => {
    const engine = LogEngine.open(hostDirs[id - 1] as string, { fileSize: 1024 * 1024 })
    opened.push(engine)
    engines.set(id, engine)
    const host = new RaftHost({ nodeId: id, hosts: hostIds, engine, transport: network.transportFor(id), electionTicks: [10, 20], quiesceAfterTicks: 30 })
    network.attach(host)
    running.push(host)
    for (let group = 1; group <= groups; group++) {
      const machine = new Recorder()
      machines.set(`${id}/${group}`, machine)
      host.addGroup(group, hostIds, machine)
    }
    return host
  }
  const hosts = hostIds.map(start)
  /** Ticks every running host `count` times, letting turns, flushes and deliveries run between ticks. */
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      for (const host of hosts) if (!network.down.has(host.nodeId)) host.tick()
      await settle()
    }
  }
  /** Delivers until nothing moves: ticks stand for time, and a slow disk must not make them outrun the hosts' turns. */
  const settle = async (): Promise<void> => {
    for (let round = 0; round < 1000; round++) {
      await new Promise((resolve) => setTimeout(resolve, 0))
      network.deliver()
      if (network.pending === 0 && hosts.every((host) => network.down.has(host.nodeId) || host.idle)) return
    }
  }
  const leaderOf = (group: number): number => {
    const seen = hosts.filter((host) => !network.down.has(host.nodeId)).map((host) => host.leaderOf(group))
    return seen.every((id) => id === seen[0]) && seen[0] !== 0 ? (seen[0] as number) : 0
  }
  const everyGroupLed = async (): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      if (Array.from({ length: groups }, (_, g) => leaderOf(g + 1)).every((id) => id !== 0 && !network.down.has(id))) return
      await run(1)
    }
    throw new Error('not every group elected a leader in 200 ticks')
  }
  /** Proposes `value` to each of `groups` at its leader, all at once, and ticks until every one is answered. */
  const proposeAll = async (groups: number[], value: string): Promise<unknown[]> => {
    let answered = 0
    for (let i = 0; i < 100 && groups.some((group) => leaderOf(group) === 0); i++) await run(1)
    const answers = groups.map((group) => {
      const answer = (hosts[leaderOf(group) - 1] as RaftHost).propose(group, Buffer.from(value))
      void answer.then(() => answered++, () => answered++)
      return answer
    })
    for (let i = 0; i < 100 && answered < groups.length; i++) await run(1)
    if (answered < groups.length) throw new Error(`${groups.length - answered} of ${groups.length} proposals not answered in 100 ticks`)
    return Promise.all(answers)
  }
  const propose = async (group: number, value: string): Promise<unknown> => (await proposeAll([group], value))[0]
  /** Stops host `id` and closes its engine, as a process that exits (start(id) opens it again). */
  const stop = (id: number): void => {
    hosts[id - 1]?.stop()
    const engine = engines.get(id) as LogEngine
    engine.close()
    opened.splice(opened.indexOf(engine), 1)
  }
  /** Holds back every flush of host `id`'s engine until the returned function is called. */
  const holdFlushes = (id: number): (() => void) => {
    const engine = engines.get(id) as LogEngine
    const flush = engine.flush.bind(engine)
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    engine.flush = () => gate.then(flush)
    return release
  }
  return { network, hosts, machines, run, leaderOf, everyGroupLed, propose, proposeAll, start, stop, holdFlushes }
}

describe('RaftHost', () => {
  it('elects a leader in every group, spread over the hosts, and applies proposals on every replica', async () => {
    const c = cluster(24)
    await c.everyGroupLed()
    const leaders = new Set(Array.from({ length: 24 }, (_, g) => c.leaderOf(g + 1)))
    expect(leaders.size).toBeGreaterThan(1)
    for (let group = 1; group <= 24; group++) expect(await c.propose(group, `g${group}`)).toMatch(/^applied \d+$/)
    await c.run(3)
    for (let group = 1; group <= 24; group++) for (const id of hostIds) expect(c.machines.get(`${id}/${group}`)?.values).toEqual([`g${group}`])
  })

  it("answers a proposal its state machine throws for with the error, and every host goes on applying", async () => {
    const c = cluster(4)
    await c.everyGroupLed()
    await expect(c.propose(2, 'refused')).rejects.toMatchObject({ code: 'ERR_REFUSED' })
    expect(await c.propose(2, 'after')).toMatch(/^applied \d+$/)
    await c.run(3)
    for (const host of c.hosts) expect(host.failure).toBeUndefined()
    for (const id of hostIds) expect(c.machines.get(`${id}/2`)?.values).toEqual(['after'])
  })

  it('makes a turn of many groups durable with one engine flush', async () => {
    const c = cluster(64)
    await c.everyGroupLed()
    const before = c.hosts.map((host) => host.counters.flushes)
    // One proposal to each of the 64 groups at once, at their leaders.
    await c.proposeAll(Array.from({ length: 64 }, (_, g) => g + 1), 'x')
    const flushes = c.hosts.map((host, i) => host.counters.flushes - (before[i] as number))
    // 64 groups written: a handful of turns each flush once, far from a flush per group.
    for (const count of flushes) expect(count).toBeLessThan(16)
  })

  it('applies a committed entry it holds durably without waiting for its flush of the next one', async () => {
    const c = cluster(1)
    await c.everyGroupLed()
    const leaderId = c.leaderOf(1)
    const leader = c.hosts[leaderId - 1] as RaftHost
    const releaseFollowers = hostIds.filter((id) => id !== leaderId).map((id) => c.holdFlushes(id))
    const answered: string[] = []
    const first = leader.propose(1, Buffer.from('durable-here')).then(() => answered.push('first'))
    const spin = async (until: () => boolean, deliver: boolean): Promise<void> => {
      for (let i = 0; i < 50 && !until(); i++) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        if (deliver) c.network.deliver()
      }
    }
    // The leader's own flush of it runs; the followers hold it unflushed, so none acknowledges.
    await spin(() => false, true)
    for (const release of releaseFollowers) release()
    await spin(() => c.network.pending > 0, false)
    // Their acknowledgements commit it, and a new proposal comes in the same turn: the turn's
    // flush (held back) covers only the new entry.
    const releaseLeader = c.holdFlushes(leaderId)
    c.network.deliver()
    const second = leader.propose(1, Buffer.from('still-flushing')).then(() => answered.push('second'))
    await spin(() => answered.length > 0, true)
    expect(answered).toEqual(['first'])
    expect(c.machines.get(`${leaderId}/1`)?.values).toEqual(['durable-here'])
    releaseLeader()
    await c.run(2)
    await Promise.all([first, second])
    expect(answered).toEqual(['first', 'second'])
  })

  it('lets idle groups go quiet: no group ticks, no Raft messages, one beat per host pair', async () => {
    const c = cluster(32)
    await c.everyGroupLed()
    for (let group = 1; group <= 32; group++) await c.propose(group, 'x')
    await c.run(60)
    expect(c.hosts.map((host) => host.quietGroups)).toEqual([32, 32, 32])
    const ticks = c.hosts.map((host) => host.counters.groupTicks)
    const { batches, messages } = c.network.counts
    await c.run(20)
    expect(c.hosts.map((host) => host.counters.groupTicks)).toEqual(ticks)
    expect(c.network.counts.messages - messages).toBe(0)
    // Three hosts, each beating to two peers once a tick.
    expect(c.network.counts.batches - batches).toBe(20 * 6)
    // A proposal wakes its group.
    expect(await c.propose(7, 'wake')).toMatch(/^applied/)
  })

  it('hands the groups of a host that stops to the others, even quiet ones', async () => {
    const c = cluster(16)
    await c.everyGroupLed()
    for (let group = 1; group <= 16; group++) await c.propose(group, 'before')
    await c.run(60)
    const victim = c.leaderOf(1)
    const led = Array.from({ length: 16 }, (_, g) => g + 1).filter((group) => c.leaderOf(group) === victim)
    c.network.down.add(victim)
    c.hosts[victim - 1]?.stop()
    await c.everyGroupLed()
    for (const group of led) {
      expect(c.leaderOf(group)).not.toBe(victim)
      expect(await c.propose(group, 'after')).toMatch(/^applied/)
    }
  })

  it('elects a leader of the quiet groups a host led within an election timeout when it restarts before its peers find it silent', async () => {
    const c = cluster(16)
    await c.everyGroupLed()
    for (let group = 1; group <= 16; group++) await c.propose(group, 'before')
    await c.run(60)
    expect(c.hosts.map((host) => host.quietGroups)).toEqual([16, 16, 16])
    const restarted = c.leaderOf(1)
    const led = Array.from({ length: 16 }, (_, g) => g + 1).filter((group) => c.leaderOf(group) === restarted)
    // The host stops and is back within the same tick: its peers' quiet followers still count it
    // alive, and heard from it as leader a moment ago (their lease of it never ran down: a quiet
    // group does not tick). Refusing its pre-votes as a would-be candidate's left those groups
    // without a leader until the followers' own timers ran out after its first pre-vote woke them.
    c.stop(restarted)
    c.hosts[restarted - 1] = c.start(restarted)
    let ticks = 0
    while (led.some((group) => c.leaderOf(group) === 0) && ticks < 100) {
      await c.run(1)
      ticks++
    }
    // electionTicks [10, 20]: the restarted host stands once its own timer runs out, and wins.
    expect(ticks).toBeLessThanOrEqual(21)
    for (const group of led) expect(await c.propose(group, 'after')).toMatch(/^applied/)
  })

  it('resumes a host from its engine: its groups replay their logs and catch up', async () => {
    const c = cluster(8)
    await c.everyGroupLed()
    for (let group = 1; group <= 8; group++) await c.propose(group, 'one')
    await c.run(3)
    // Host 3 stops; its engine closes and opens again, with new, empty state machines.
    c.network.down.add(3)
    c.stop(3)
    await c.everyGroupLed()
    for (let group = 1; group <= 8; group++) await c.propose(group, 'two')
    c.network.down.delete(3)
    c.hosts[2] = c.start(3)
    await c.run(40)
    for (let group = 1; group <= 8; group++) expect(c.machines.get(`3/${group}`)?.values).toEqual(['one', 'two'])
  })
})
