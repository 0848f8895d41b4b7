// A deterministic cluster simulator for RaftCore: a virtual clock in ticks, a seeded network
// that can drop, delay, reorder and partition, and crashes that keep only what a node persisted
// (its saved hard state and its flushed log). Safety is checked on every step.
import { EntryType, type LogEntry } from '../../src/storage/log-entry.js'
import { RaftCore, type HardState, type Ready } from '../../src/raft/raft-core.js'
import type { RaftMessage } from '../../src/raft/messages.js'
import { MemoryLogStore } from '../../src/raft/memory-log-store.js'
import { seededRandom } from '../../src/raft/seeded-random.js'

export interface SimulatorOptions {
  nodes: number
  seed: number
  electionTicks?: [number, number]
  heartbeatTicks?: number
  maxEntriesPerAppend?: number
}

interface SimNode {
  id: number
  core: RaftCore
  log: MemoryLogStore
  /** What the node saved: survives a crash. */
  hard: HardState
  alive: boolean
  /** Entries its state machine applied since its last start, in order. */
  applied: LogEntry[]
}

interface InFlight {
  at: number
  order: number
  message: RaftMessage
}

export class Simulator {
  readonly seed: number
  readonly nodes: SimNode[] = []
  time = 0
  dropRate = 0
  maxDelayTicks = 1
  readonly counts = { sent: 0, delivered: 0, appendRejections: 0 }
  /** Problems found by the safety checks: a test fails if this is not empty. */
  readonly violations: string[] = []
  /** index -> the entry applied there by anyone: every node must apply the same. */
  readonly committed = new Map<number, { term: number; data: string }>()
  private readonly random: () => number
  private readonly leaderOfTerm = new Map<number, number>()
  private queue: InFlight[] = []
  private order = 0
  private groups: number[][] | undefined
  private readonly options: Required<SimulatorOptions>

  constructor(options: SimulatorOptions) {
    this.options = { electionTicks: [10, 20], heartbeatTicks: 2, maxEntriesPerAppend: 64, ...options }
    this.seed = options.seed
    this.random = seededRandom(options.seed)
    for (let id = 1; id <= options.nodes; id++) {
      const log = new MemoryLogStore()
      const hard = { currentTerm: 0, votedFor: 0, commitIndex: 0 }
      this.nodes.push({ id, core: this.makeCore(id, log, hard), log, hard, alive: true, applied: [] })
    }
  }

  private makeCore(id: number, log: MemoryLogStore, hard: HardState): RaftCore {
    return new RaftCore({
      id,
      peers: Array.from({ length: this.options.nodes }, (_, i) => i + 1),
      log,
      hardState: hard,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks,
      random: seededRandom(this.seed * 31 + id + this.time * 7),
      maxEntriesPerAppend: this.options.maxEntriesPerAppend,
    })
  }

  node(id: number): SimNode {
    return this.nodes[id - 1] as SimNode
  }

  // --- the network -------------------------------------------------------------------------

  partition(...groups: number[][]): void {
    this.groups = groups
  }

  heal(): void {
    this.groups = undefined
  }

  private reachable(from: number, to: number): boolean {
    if (!this.node(from).alive || !this.node(to).alive) return false
    return this.groups === undefined || this.groups.some((group) => group.includes(from) && group.includes(to))
  }

  private send(message: RaftMessage): void {
    this.counts.sent++
    if (!this.reachable(message.from, message.to) || this.random() < this.dropRate) return
    const delay = 1 + Math.floor(this.random() * this.maxDelayTicks)
    this.queue.push({ at: this.time + delay, order: this.order++, message })
  }

  // --- nodes ---------------------------------------------------------------------------------

  crash(id: number): void {
    const node = this.node(id)
    node.alive = false
    node.log.crash()
  }

  restart(id: number): void {
    const node = this.node(id)
    node.core = this.makeCore(id, node.log, node.hard)
    node.applied = []
    node.alive = true
  }

  /** The live leader of the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined
    for (const node of this.nodes) {
      if (node.alive && node.core.role === 'leader' && (best === undefined || node.core.currentTerm > best.core.currentTerm)) best = node
    }
    return best
  }

  /** Proposes through the current leader; undefined when there is none. */
  propose(data: string): number | undefined {
    return this.leader()?.core.propose(Buffer.from(data))
  }

  // --- time ----------------------------------------------------------------------------------

  /** One tick: every live node ticks, due messages are delivered, every Ready is handled. */
  step(): void {
    this.time++
    for (const node of this.nodes) if (node.alive) node.core.tick()
    this.drainReadies()
    const due = this.queue.filter((item) => item.at <= this.time).sort((a, b) => a.at - b.at || a.order - b.order)
    this.queue = this.queue.filter((item) => item.at > this.time)
    for (const { message } of due) {
      if (!this.reachable(message.from, message.to)) continue
      this.counts.delivered++
      if (message.type === 'AppendEntriesResponse' && !message.success) this.counts.appendRejections++
      this.node(message.to).core.step(message)
      this.drainReadies()
    }
  }

  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.step()
  }

  /** Steps until `done()` or `maxTicks`; returns whether done. */
  runUntil(done: () => boolean, maxTicks: number): boolean {
    for (let i = 0; i < maxTicks; i++) {
      if (done()) return true
      this.step()
    }
    return done()
  }

  private drainReadies(): void {
    for (const node of this.nodes) {
      while (node.alive && node.core.hasReady()) this.handle(node, node.core.ready())
    }
  }

  private handle(node: SimNode, ready: Ready): void {
    if (ready.hardState !== undefined) node.hard = { ...ready.hardState }
    if (ready.mustFlush) node.log.flush()
    for (const message of ready.messages) this.send(message)
    for (const entry of ready.committedEntries) this.applyOn(node, entry)
    if (ready.role === 'leader') {
      const known = this.leaderOfTerm.get(ready.term)
      if (known !== undefined && known !== node.id) this.violations.push(`two leaders in term ${ready.term}: ${known} and ${node.id}`)
      this.leaderOfTerm.set(ready.term, node.id)
    }
    node.core.advance(ready)
  }

  private applyOn(node: SimNode, entry: LogEntry): void {
    const expectedIndex = (node.applied[node.applied.length - 1]?.index ?? 0) + 1
    if (entry.index !== expectedIndex) this.violations.push(`node ${node.id} applied index ${entry.index}, expected ${expectedIndex}`)
    node.applied.push(entry)
    const data = entry.type === EntryType.Normal ? Buffer.from(entry.data).toString() : `<${EntryType[entry.type]}>`
    const known = this.committed.get(entry.index)
    if (known === undefined) this.committed.set(entry.index, { term: entry.term, data })
    else if (known.term !== entry.term || known.data !== data) {
      this.violations.push(`node ${node.id} applied ${data}@${entry.term} at index ${entry.index}; another node applied ${known.data}@${known.term}`)
    }
  }

  /** Data of the Normal entries node `id` applied, in order. */
  appliedData(id: number): string[] {
    return this.node(id).applied.filter((entry) => entry.type === EntryType.Normal).map((entry) => Buffer.from(entry.data).toString())
  }

  /** True once every live node applied every data item in `items`. */
  allApplied(items: string[], ids = this.nodes.filter((n) => n.alive).map((n) => n.id)): boolean {
    return ids.every((id) => {
      const applied = new Set(this.appliedData(id))
      return items.every((item) => applied.has(item))
    })
  }

  describe(): string {
    return `seed ${this.seed} at tick ${this.time}: ${this.nodes
      .map((n) => `${n.id}:${n.alive ? n.core.role[0] : 'x'}@${n.core.currentTerm} log ${n.log.lastIndex} commit ${n.core.committed}`)
      .join(', ')}`
  }
}

/** The seed for a test: RAFT_SEED replays one; otherwise a fresh random one, printed on failure. */
export function testSeed(): number {
  return process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)
}
