// Real RaftNodes (real logs in temp directories, real timers) over one MemoryNetwork: the cluster
// the driver's tests share. Clusters started here are stopped after each test.
import { afterEach } from 'vitest'
import { join } from 'node:path'
import { RaftNode, type LogEntry, type RaftLogError, type RaftNodeOptions, type SnapshotInfo, type StateMachine } from '../../src/index.js'
import { MemoryNetwork } from '../../src/testing/index.js'
import { silentLogger } from './entries.js'
import { leaderAmong, waitFor } from './raft-nodes.js'
import { tempDir } from './temp-dir.js'

export interface MemoryClusterOptions<M extends StateMachine> {
  /** Voters 1..size, each in its own directory. */
  size: number
  /** A fresh state machine for node `id` (each start of a node gets a new one). */
  machine(id: number): M
  /** Options every node starts with (timers, segment size, snapshots…). */
  node?: Partial<RaftNodeOptions>
  /** The network's seed (message order, loss). */
  seed?: number
}

/** Errors after which a proposal may simply be made again through whoever leads now. */
const retryable = new Set(['ERR_NOT_LEADER', 'ERR_PROPOSAL_DROPPED', 'ERR_LEADERSHIP_TRANSFER', 'ERR_STOPPED'])

const running: MemoryCluster<StateMachine>[] = []
afterEach(async () => {
  for (const cluster of running.splice(0)) await cluster.stop()
})

export class MemoryCluster<M extends StateMachine> {
  readonly network: MemoryNetwork
  readonly root = tempDir('raftlog-cluster-')
  /** Every node's directory, by id: the cluster's members at start. */
  readonly dirs = new Map<number, string>()
  /** The running nodes. */
  readonly nodes = new Map<number, RaftNode>()
  /** Each node's state machine (its latest start's). */
  readonly machines = new Map<number, M>()
  private stopped = false

  private constructor(private readonly options: MemoryClusterOptions<M>) {
    this.network = new MemoryNetwork({ seed: options.seed ?? 7 })
    for (let id = 1; id <= options.size; id++) this.dirs.set(id, join(this.root, `node_${id}`))
  }

  static async start<M extends StateMachine>(options: MemoryClusterOptions<M>): Promise<MemoryCluster<M>> {
    const cluster = new MemoryCluster(options)
    running.push(cluster as unknown as MemoryCluster<StateMachine>)
    for (const id of cluster.dirs.keys()) await cluster.startNode(id)
    return cluster
  }

  /** Starts node `id` (again) with a fresh state machine; `peers` default to the members at start. */
  async startNode(id: number, extra: Partial<RaftNodeOptions> = {}, peers: number[] = [...this.dirs.keys()]): Promise<RaftNode> {
    if (!this.dirs.has(id)) this.dirs.set(id, join(this.root, `node_${id}`))
    const machine = this.options.machine(id)
    const node = await RaftNode.start({
      id,
      peers,
      dir: this.dirs.get(id) as string,
      stateMachine: machine,
      transport: this.network.endpoint(id),
      logger: silentLogger,
      ...this.options.node,
      ...extra,
    })
    this.nodes.set(id, node)
    this.machines.set(id, machine)
    return node
  }

  async stopNode(id: number): Promise<void> {
    await this.nodes.get(id)?.stop()
    this.nodes.delete(id)
  }

  /** The node leading in the highest term (not `except`), if any. */
  leader(except?: number): RaftNode | undefined {
    return leaderAmong(this.nodes.values(), except)
  }

  waitForLeader(except?: number, timeoutMs = 10_000): Promise<RaftNode> {
    return waitFor('a leader', () => this.leader(except), timeoutMs)
  }

  /**
   * Proposes `data` through whoever leads until one accepts it, and resolves with its result.
   * ERR_LEADERSHIP_LOST leaves the outcome unknown: `applied(data)` then says whether it took
   * effect after all (items must be unique for that); without it the error is thrown.
   */
  async propose(data: string, options: { except?: number; applied?: (data: string) => boolean; timeoutMs?: number } = {}): Promise<unknown> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000)
    for (;;) {
      const leader = await this.waitForLeader(options.except)
      try {
        return await leader.propose(Buffer.from(data))
      } catch (error) {
        const code = (error as RaftLogError).code
        if (Date.now() > deadline || this.stopped) throw error
        if (code === 'ERR_LEADERSHIP_LOST' && options.applied !== undefined) {
          // Whether it took effect is known once a leader has committed an entry of its own term
          // and applied up to it (what a ReadIndex read waits for): any entry of an earlier term
          // that survives is committed by then. A fixed pause was not enough on a loaded machine.
          if (await this.settledApplied(data, options.applied, deadline)) return undefined
        } else if (!retryable.has(code)) {
          throw error
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
  }

  /** After an unknown outcome: waits for a leader's read to go through, then says whether `data` was applied. */
  private async settledApplied(data: string, applied: (data: string) => boolean, deadline: number): Promise<boolean> {
    for (;;) {
      const leader = await this.waitForLeader()
      try {
        await leader.read()
        return applied(data)
      } catch (error) {
        if (Date.now() > deadline || this.stopped) throw error
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
  }

  /** Proposes every item, `inFlight` at a time, each through `propose` (so each is applied once). */
  async proposeAll(items: string[], options: { inFlight?: number; applied?: (data: string) => boolean; timeoutMs?: number } = {}): Promise<void> {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < items.length) await this.propose(items[next++] as string, options)
    }
    await Promise.all(Array.from({ length: options.inFlight ?? 1 }, worker))
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const node of this.nodes.values()) await node.stop().catch(() => undefined)
    this.network.close()
  }
}

/**
 * A state machine that is the list of what it applied; a snapshot is that list, one item per
 * line, streamed in uneven pieces (restore must not depend on where chunks are cut). `restores`
 * counts restores; applying an index at or below the last one throws.
 */
export class ListMachine {
  items: string[] = []
  lastIndex = 0
  restores = 0

  apply(entry: LogEntry): number {
    // No-op entries are not applied, so indexes may skip, but never go back or repeat.
    if (entry.index <= this.lastIndex) throw new Error(`applied index ${entry.index} after ${this.lastIndex}`)
    this.lastIndex = entry.index
    this.items.push(Buffer.from(entry.data).toString())
    return this.items.length
  }

  async *snapshot(): AsyncIterable<Uint8Array> {
    const copy = this.items.slice()
    for (let i = 0; i < copy.length; i += 37) yield Buffer.from(copy.slice(i, i + 37).map((item) => `${item}\n`).join(''))
  }

  async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotInfo): Promise<void> {
    const parts: Buffer[] = []
    for await (const chunk of chunks) parts.push(Buffer.from(chunk))
    const text = Buffer.concat(parts).toString()
    this.items = text === '' ? [] : text.slice(0, -1).split('\n')
    this.lastIndex = meta.index
    this.restores++
  }
}
