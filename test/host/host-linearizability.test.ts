// Many groups on three RaftHosts under a nemesis (a host cut off, a host paused, a host stopped
// and started again from its engine), with clients on every group running puts, gets and
// compare-and-sets through the log, and gets through the log or as ReadIndex reads at any host: the history of every group's keys must be linearizable, and
// every replica of a group must hold the same state. The groups share hosts, engines and
// batches, so one group's turn or flush must never leak into another's.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { RaftHost } from '../../src/host/raft-host.js'
import { MemoryHostNetwork } from '../../src/testing/memory-host-network.js'
import { decodeKvResult, encodeKvCommand, encodeKvResult, KvStateMachine, type KvCommand } from '../../src/kv/kv-state-machine.js'
import type { RaftLogError } from '../../src/errors.js'
import { seededRandom } from '../../src/raft/core/seeded-random.js'
import { HistoryRecorder } from '../linearizability/history.js'
import { checkLinearizable } from '../linearizability/checker.js'
import { kvModel, textValue, type KvInput, type KvOutput } from '../linearizability/kv-model.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)
const hostIds = [1, 2, 3]
const groupCount = 12
const totalTicks = 400
/** A proposal not answered within this many ticks has an unknown outcome. */
const answerTicks = 60

const dirs: string[] = []
const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Without snapshots (the default threshold is never reached), and with one every 15 entries: hosts that were cut off, paused or restarted then catch up by snapshot. */
const variants = [
  { name: 'log only', options: {} },
  { name: 'snapshots every 15 entries', options: { snapshotEveryEntries: 15, snapshotTrailingEntries: 3, purgeEveryTicks: 10 } },
]

describe(`many groups on three hosts under a nemesis (RAFT_SEED=${seed})`, () => {
  it.each(variants)('every group\'s history is linearizable and its replicas agree ($name)', async ({ options }) => {
    const random = seededRandom(seed)
    const network = new MemoryHostNetwork()
    const hostDirs = hostIds.map(() => {
      const dir = mkdtempSync(join(tmpdir(), 'raftlog-host-nemesis-'))
      dirs.push(dir)
      return dir
    })
    const machines = new Map<string, KvStateMachine>()
    const engines = new Map<number, LogEngine>()
    const hosts = new Map<number, RaftHost>()
    const start = (id: number): void => {
      const engine = LogEngine.open(hostDirs[id - 1] as string, { fileSize: 1024 * 1024 })
      const host = new RaftHost({ nodeId: id, hosts: hostIds, engine, transport: network.transportFor(id), electionTicks: [10, 20], quiesceAfterTicks: 30, seed: seed + id, ...options })
      for (let group = 1; group <= groupCount; group++) {
        const machine = new KvStateMachine({ historyRevisions: 0 })
        machines.set(`${id}/${group}`, machine)
        host.addGroup(group, hostIds, machine)
      }
      network.attach(host)
      engines.set(id, engine)
      hosts.set(id, host)
    }
    /** Snapshots taken and received, over every host's lives. */
    const snapshots = { taken: 0, received: 0 }
    const count = (host: RaftHost | undefined): void => {
      snapshots.taken += host?.counters.snapshotsTaken ?? 0
      snapshots.received += host?.counters.snapshotsReceived ?? 0
    }
    const stop = (id: number): void => {
      count(hosts.get(id))
      hosts.get(id)?.stop()
      engines.get(id)?.close()
      engines.delete(id)
    }
    cleanups.push(() => {
      for (const id of [...engines.keys()]) stop(id)
    })
    for (const id of hostIds) start(id)

    /** Delivers until nothing moves (what paused hosts hold aside): a slow disk must not let ticks outrun the hosts' turns. */
    const settle = async (): Promise<void> => {
      for (let round = 0; round < 1000; round++) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        const moved = network.deliver()
        const busy = [...hosts].some(([id, host]) => !network.down.has(id) && !network.paused.has(id) && !host.idle)
        if (moved === 0 && !busy) return
      }
    }
    let tick = 0
    const waiters: { at: number; resolve: () => void }[] = []
    let done = false
    const ticks = (count: number): Promise<void> => (done ? Promise.resolve() : new Promise((resolve) => waiters.push({ at: tick + count, resolve })))
    const history = new HistoryRecorder<KvInput, KvOutput>()
    const leaderOf = (group: number): RaftHost | undefined => {
      for (const host of hosts.values()) {
        if (network.down.has(host.nodeId) || network.isolated.has(host.nodeId) || network.paused.has(host.nodeId)) continue
        const leader = host.leaderOf(group)
        if (leader !== 0 && !network.down.has(leader)) return hosts.get(leader)
      }
      return undefined
    }

    const client = async (clientId: number, group: number): Promise<void> => {
      const pick = seededRandom(seed * 31 + clientId)
      let next = 1
      while (!done) {
        const host = leaderOf(group)
        if (host === undefined) {
          await ticks(2)
          continue
        }
        const key = `${group}/${pick() < 0.5 ? 'a' : 'b'}`
        const roll = pick()
        const value = `${clientId}.${next++}`
        const command: KvInput & KvCommand = roll < 0.4 ? { op: 'get', key } : roll < 0.8 ? { op: 'put', key, value } : { op: 'cas', key, expected: pick() < 0.5 ? null : `${clientId}.${next - 2}`, value }
        // Half the gets are ReadIndex reads at any live host, answered from its own replica.
        const reader = command.op === 'get' && pick() < 0.5 ? [...hosts.values()].filter((h) => !network.down.has(h.nodeId))[Math.floor(pick() * 3) % 3] : undefined
        const op = history.invoke(clientId, command)
        const seen: { outcome: 'ok' | 'fail' | 'unknown'; result: KvOutput } = { outcome: 'unknown', result: {} }
        const sent =
          reader === undefined
            ? host.propose(group, encodeKvCommand(command))
            : reader.read(group).then(() => {
                const value = (machines.get(`${reader.nodeId}/${group}`) as KvStateMachine).get(key)
                return encodeKvResult({ ok: true, value })
              })
        const answer = sent.then(
          (bytes) => {
            const decoded = decodeKvResult(bytes as Uint8Array)
            seen.outcome = 'ok'
            seen.result = command.op === 'put' ? { ok: true } : { ok: decoded.ok, value: textValue(decoded.value ?? null) }
          },
          (error: RaftLogError) => {
            // Refused before it entered the log (or a read that was not served): certainly not applied.
            seen.outcome = error.code === 'ERR_NOT_LEADER' || error.code === 'ERR_STOPPED' || reader !== undefined ? 'fail' : 'unknown'
          },
        )
        await Promise.race([answer, ticks(answerTicks)])
        if (seen.outcome === 'ok') history.ok(op, seen.result)
        else if (seen.outcome === 'fail') history.fail(op)
        else history.unknown(op)
        await ticks(1 + Math.floor(pick() * 3))
      }
    }

    const nemesis: string[] = []
    const disturb = async (): Promise<void> => {
      while (tick < totalTicks - 80) {
        await ticks(30 + Math.floor(random() * 20))
        const victim = hostIds[Math.floor(random() * hostIds.length)] as number
        const roll = random()
        if (roll < 0.33) {
          network.isolated.add(victim)
          await ticks(25 + Math.floor(random() * 15))
          network.isolated.delete(victim)
          nemesis.push(`cut off ${victim}`)
        } else if (roll < 0.66) {
          network.paused.add(victim)
          await ticks(15 + Math.floor(random() * 15))
          network.paused.delete(victim)
          nemesis.push(`paused ${victim}`)
        } else {
          network.down.add(victim)
          stop(victim)
          await ticks(10 + Math.floor(random() * 10))
          network.down.delete(victim)
          start(victim)
          nemesis.push(`restarted ${victim}`)
        }
      }
    }

    const clients = Array.from({ length: groupCount * 2 }, (_, i) => client(i + 1, (i % groupCount) + 1))
    const chaos = disturb()
    for (; tick < totalTicks; tick++) {
      for (const [id, host] of hosts) if (!network.down.has(id) && !network.paused.has(id)) host.tick()
      await settle()
      for (const waiter of waiters.filter((w) => w.at <= tick)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
    done = true
    for (const waiter of waiters.splice(0)) waiter.resolve()
    await chaos
    await Promise.all(clients)
    // Heal and let every replica catch up.
    network.isolated.clear()
    network.paused.clear()
    for (let i = 0; i < 120; i++) {
      for (const host of hosts.values()) host.tick()
      await settle()
    }

    expect(nemesis.length).toBeGreaterThan(3)
    for (const host of hosts.values()) count(host)
    if ('snapshotEveryEntries' in options) expect(snapshots.taken).toBeGreaterThan(0)
    const operations = history.history()
    expect(operations.filter((o) => o.output !== undefined).length).toBeGreaterThan(200)
    const result = checkLinearizable(kvModel, operations, { timeoutMs: 30_000 })
    expect(result.timedOut).toBeUndefined()
    expect(result.ok, result.counterexample?.explanation).toBe(true)
    for (let group = 1; group <= groupCount; group++) {
      const states = hostIds.map((id) => {
        const machine = machines.get(`${id}/${group}`) as KvStateMachine
        return JSON.stringify(['a', 'b'].map((k) => machine.get(`${group}/${k}`)?.toString() ?? null))
      })
      expect(new Set(states).size, `group ${group}'s replicas: ${states.join(' ')}`).toBe(1)
    }
  }, 120_000)
})
