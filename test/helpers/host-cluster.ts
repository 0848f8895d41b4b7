// RaftHosts over one LogEngine each and a MemoryHostNetwork, driven tick by tick, for the host
// tests: hosts start, stop (their engine closed, as a crash after the last flush) and start
// again from their directory; each replica applies to a SnapshotRecorder.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine, type LogEngineOptions } from '../../src/engine/log-engine.js'
import { RaftHost, type RaftHostOptions } from '../../src/host/raft-host.js'
import { MemoryHostNetwork } from '../../src/testing/memory-host-network.js'
import type { LogEntry } from '../../src/storage/log-entry.js'
import type { SnapshotInfo } from '../../src/raft/state-machine.js'

/** A state machine that keeps the values it applied, with snapshot() and restore(). */
export class SnapshotRecorder {
  values: string[] = []
  restoredFrom: SnapshotInfo | undefined
  apply(entry: LogEntry): string {
    this.values.push(Buffer.from(entry.data).toString())
    return `applied ${entry.index}`
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.values))
  }
  async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotInfo): Promise<void> {
    const parts: Buffer[] = []
    for await (const chunk of chunks) parts.push(Buffer.from(chunk))
    this.values = JSON.parse(Buffer.concat(parts).toString()) as string[]
    this.restoredFrom = meta
  }
}

/** A recorder whose snapshots carry 2.5 MiB more: three chunks of at most 1 MiB on the way. */
export class LargeRecorder extends SnapshotRecorder {
  override snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ values: this.values, padding: '.'.repeat(2.5 * 1024 * 1024) }))
  }
  override async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotInfo): Promise<void> {
    const parts: Buffer[] = []
    for await (const chunk of chunks) parts.push(Buffer.from(chunk))
    this.values = (JSON.parse(Buffer.concat(parts).toString()) as { values: string[] }).values
    this.restoredFrom = meta
  }
}

export type HostOptions = Partial<Omit<RaftHostOptions, 'nodeId' | 'hosts' | 'engine' | 'transport'>>

/** `count` hosts (ids 1..count); groups are added by the test (or by `groups` at each start). */
export function hostCluster(count: number, options: HostOptions & { groups?: (host: RaftHost, machines: (group: number) => SnapshotRecorder) => void; engine?: LogEngineOptions; newMachine?: () => SnapshotRecorder } = {}) {
  const ids = Array.from({ length: count }, (_, i) => i + 1)
  const network = new MemoryHostNetwork()
  const dirs = ids.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-')))
  const engines = new Map<number, LogEngine>()
  const hosts = new Map<number, RaftHost>()
  const machines = new Map<string, SnapshotRecorder>()
  const { groups, engine: engineOptions, newMachine, ...hostOptions } = options
  const machine = (id: number, group: number): SnapshotRecorder => {
    const made = newMachine?.() ?? new SnapshotRecorder()
    machines.set(`${id}/${group}`, made)
    return made
  }
  const start = (id: number): RaftHost => {
    const engine = LogEngine.open(dirs[id - 1] as string, { fileSize: 1024 * 1024, ...engineOptions })
    const host = new RaftHost({ nodeId: id, hosts: ids, engine, transport: network.transportFor(id), electionTicks: [10, 20], quiesceAfterTicks: 30, logger: process.env.HOST_LOG === undefined ? { warn: () => {} } : console, ...hostOptions })
    engines.set(id, engine)
    hosts.set(id, host)
    network.attach(host)
    network.down.delete(id)
    groups?.(host, (group) => machine(id, group))
    return host
  }
  /** Stops host `id` and closes its engine: what it flushed stays, as after kill -9. */
  const stop = (id: number): void => {
    network.down.add(id)
    hosts.get(id)?.stop()
    engines.get(id)?.close()
    engines.delete(id)
  }
  const up = (): RaftHost[] => [...hosts.values()].filter((host) => !network.down.has(host.nodeId))
  const settle = async (): Promise<void> => {
    for (let round = 0; round < 1000; round++) {
      await new Promise((resolve) => setTimeout(resolve, 0))
      const moved = network.deliver()
      if (moved === 0 && network.pending === 0 && up().every((host) => host.idle)) return
    }
  }
  /** Ticks every running host `count` times, letting turns, flushes and deliveries run between ticks. */
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      for (const host of up()) host.tick()
      await settle()
    }
  }
  /** The leader every running holder of `group` agrees on (0: none agreed). */
  const leaderOf = (group: number): number => {
    const seen = up()
      .filter((host) => host.hasGroup(group))
      .map((host) => host.leaderOf(group))
    return seen.length > 0 && seen.every((id) => id === seen[0]) && seen[0] !== 0 && !network.down.has(seen[0] as number) ? (seen[0] as number) : 0
  }
  const led = async (group: number): Promise<number> => {
    for (let i = 0; i < 300; i++) {
      const leader = leaderOf(group)
      if (leader !== 0) return leader
      await run(1)
    }
    throw new Error(`group ${group} elected no leader in 300 ticks`)
  }
  /** Proposes `value` to `group` at its leader, ticking until it is answered; undefined when it was not acknowledged. */
  const propose = async (group: number, value: string): Promise<unknown> => {
    const leader = await led(group)
    let settled = false
    const answer = (hosts.get(leader) as RaftHost).propose(group, Buffer.from(value)).finally(() => {
      settled = true
    })
    for (let i = 0; i < 100 && !settled; i++) await run(1)
    return answer
  }
  /** Runs `work` while the hosts tick, until it settles (or `maxTicks` pass). */
  const during = async <T>(work: Promise<T>, maxTicks = 2000): Promise<T> => {
    let settled = false
    void work.then(
      () => (settled = true),
      () => (settled = true),
    )
    for (let i = 0; i < maxTicks && !settled; i++) await run(1)
    if (!settled) throw new Error(`not settled within ${maxTicks} ticks`)
    return work
  }
  /**
   * Ticks until `condition` holds (at most `maxTicks`): snapshot files are written and synced
   * beside the ticks, by real file I/O that settling does not wait for. Throws when it never holds.
   */
  const until = async (condition: () => boolean, what: string, maxTicks = 300): Promise<void> => {
    for (let i = 0; i < maxTicks; i++) {
      if (condition()) return
      await run(1)
    }
    if (!condition()) throw new Error(`${what}: not within ${maxTicks} ticks`)
  }
  const cleanup = (): void => {
    for (const id of [...engines.keys()]) stop(id)
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
  return { ids, network, dirs, engines, hosts, machines, machine, start, stop, run, settle, leaderOf, led, propose, during, until, cleanup }
}
