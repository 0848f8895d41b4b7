// A deterministic cluster simulator for RaftCore: a virtual clock in ticks, a seeded network
// that can drop, duplicate, delay, reorder and partition, flushes that take time while the node
// goes on stepping messages, and crashes (also mid-flush) that keep only what a node persisted
// (its saved hard state, its flushed log, and perhaps a prefix of what it appended after).
// Safety is checked on every step.
import { EntryType, type LogEntry } from '../storage/log-entry.js'
import { RaftCore, type HardState, type RaftCoreOptions, type Ready } from '../raft/core/raft-core.js'
import { decodeConfiguration, type Configuration } from '../raft/core/configuration.js'
import type { MembershipChange } from '../raft/core/membership-change.js'
import type { RaftMessage } from '../raft/core/messages.js'
import { MemoryLogStore } from './memory-log-store.js'
import { seededRandom } from '../raft/core/seeded-random.js'

export interface SimulatorOptions {
  nodes: number
  seed: number
  electionTicks?: [number, number]
  heartbeatTicks?: number
  maxEntriesPerAppend?: number
  /** Take a snapshot every this many applied entries (0: never) and compact the log behind it. */
  snapshotEvery?: number
  /** Entries kept in the log behind a snapshot. */
  snapshotTrailing?: number
  /** Any other core option, for every node. */
  core?: Partial<RaftCoreOptions>
}

interface SimNode {
  id: number
  core: RaftCore
  log: MemoryLogStore
  /** What the node saved: survives a crash. */
  hard: HardState
  alive: boolean
  /** Stopped, not crashed (SIGSTOP, a long pause): no ticks, no messages handled; memory kept. */
  paused: boolean
  /** Entries its state machine holds, in order (restored from a snapshot, then applied). */
  applied: LogEntry[]
  /** Its newest durable snapshot: the state machine (and the configuration) as of `index`. */
  snapshot: { index: number; term: number; applied: LogEntry[]; config: Configuration } | undefined
  /** The last snapshot received from a leader while it held a newer one of its own. */
  received?: SimNode['snapshot']
  /** Every flush of this node takes this many ticks (overrides maxFlushTicks). */
  flushTicks: number | undefined
  /**
   * Readies whose flush is in progress, oldest first: their answers wait for it, as a real
   * driver's do, while the node goes on taking new Readies (flushes pipeline).
   */
  flushing: { ready: Ready; covered: readonly LogEntry[] | undefined; doneAt: number }[]
  /** While its core is paused on a full disk: when the driver looks for room next, and the pause before the one after. */
  diskRetry: { at: number; ticks: number } | undefined
}

/** What a harness on top of the simulator (clients, state machines) hears of each node. */
export interface SimulatorListener {
  /** Node `node` applied `entry` (the next one after what it held). */
  applied?(node: number, entry: LogEntry): void
  /** Node `node`'s state machine was replaced by exactly `entries` (a restart, or a snapshot installed). */
  stateReset?(node: number, entries: readonly LogEntry[]): void
  /** A read asked on `node` may be served once it applied up to `index`. */
  readState?(node: number, requestId: number, index: number): void
  /** A read asked on `node` will get no answer. */
  droppedRead?(node: number, requestId: number): void
}

interface InFlight {
  at: number
  order: number
  message: RaftMessage
}

/**
 * A deterministic cluster of RaftCores on a simulated network, with a virtual clock, crashes,
 * pauses and slow disks; safety checked on every step.
 */
export class Simulator {
  readonly seed: number
  readonly nodes: SimNode[] = []
  time = 0
  dropRate = 0
  /** Probability that a message is delivered twice. */
  duplicateRate = 0
  maxDelayTicks = 1
  /** A flush takes 0..maxFlushTicks ticks (0: done at once); the node keeps stepping meanwhile. */
  maxFlushTicks = 0
  /** On a crash, a random prefix of the unflushed entries survives (the kernel wrote it back). */
  crashKeepsUnflushed = false
  /** Extra ticks before a message is delivered (a slow link, a message held back): 0 for none. */
  extraDelay: (message: RaftMessage) => number = () => 0
  readonly counts = { sent: 0, delivered: 0, appendRejections: 0, entriesSent: 0, snapshotsTaken: 0, snapshotsInstalled: 0 }
  /** Payload bytes of entries sent to each node. */
  readonly bytesSentTo = new Map<number, number>()
  /** How many times each index was sent to each node: `${to}:${index}` -> copies. */
  readonly copiesSent = new Map<string, number>()
  /** Harness hooks; see SimulatorListener. */
  listener: SimulatorListener = {}
  /** Problems found by the safety checks: a test fails if this is not empty. */
  readonly violations: string[] = []
  /** index -> the entry applied there by anyone: every node must apply the same. */
  readonly committed = new Map<number, { term: number; data: string }>()
  private readonly random: () => number
  private readonly leaderOfTerm = new Map<number, number>()
  private queue: InFlight[] = []
  private pendingTransfers: { at: number; sender: number; senderCore: RaftCore; message: Extract<RaftMessage, { type: 'InstallSnapshot' }>; snapshot: NonNullable<SimNode['snapshot']>; lost: boolean }[] = []
  private order = 0
  /** Nodes that start as joiners (no configuration of their own) although their id founded the cluster. */
  private readonly joiners = new Set<number>()
  private groups: number[][] | undefined
  private readonly options: Required<SimulatorOptions>

  constructor(options: SimulatorOptions) {
    this.options = { electionTicks: [10, 20], heartbeatTicks: 2, maxEntriesPerAppend: 64, snapshotEvery: 0, snapshotTrailing: 10, core: {}, ...options }
    this.seed = options.seed
    this.random = seededRandom(options.seed)
    for (let id = 1; id <= options.nodes; id++) {
      const log = new MemoryLogStore()
      const hard = { currentTerm: 0, votedFor: 0, commitIndex: 0 }
      this.nodes.push({ id, core: this.makeCore(id, log, hard), log, hard, alive: true, applied: [], snapshot: undefined, flushing: [], flushTicks: undefined, paused: false, diskRetry: undefined })
    }
  }

  private makeCore(id: number, log: MemoryLogStore, hard: HardState, snapshot?: SimNode['snapshot']): RaftCore {
    // As the driver does: the configurations are the snapshot's and the log's Config entries;
    // the first nodes bootstrap from the initial members, a node added later from nothing.
    const configurations: { index: number; config: Configuration }[] = []
    if (snapshot !== undefined) configurations.push({ index: snapshot.index, config: snapshot.config })
    if (log.lastIndex >= log.firstIndex) for (const entry of log.slice(log.firstIndex)) if (entry.type === EntryType.Config) configurations.push({ index: entry.index, config: decodeConfiguration(entry.data) })
    return new RaftCore({
      ...(snapshot === undefined ? {} : { snapshot: { index: snapshot.index, term: snapshot.term }, appliedIndex: snapshot.index }),
      id,
      peers: id <= this.options.nodes && !this.joiners.has(id) ? Array.from({ length: this.options.nodes }, (_, i) => i + 1) : [],
      configurations,
      log,
      hardState: hard,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks,
      random: seededRandom(this.seed * 31 + id + this.time * 7),
      maxEntriesPerAppend: this.options.maxEntriesPerAppend,
      snapshotTrailingEntries: this.options.snapshotTrailing,
      ...this.options.core,
    })
  }

  node(id: number): SimNode {
    const node = this.nodes.find((candidate) => candidate.id === id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  // --- the network -------------------------------------------------------------------------

  partition(...groups: number[][]): void {
    this.groups = groups
  }

  heal(): void {
    this.groups = undefined
  }

  private reachable(from: number, to: number): boolean {
    // A member that was never started (a voter added before its machine runs) hears nothing.
    const alive = (id: number): boolean => this.nodes.find((node) => node.id === id)?.alive === true
    if (!alive(from) || !alive(to)) return false
    return this.groups === undefined || this.groups.some((group) => group.includes(from) && group.includes(to))
  }

  private send(message: RaftMessage): void {
    this.counts.sent++
    if (message.type === 'AppendEntries') {
      this.counts.entriesSent += message.entries.length
      for (const entry of message.entries) {
        this.bytesSentTo.set(message.to, (this.bytesSentTo.get(message.to) ?? 0) + entry.data.length)
        const key = `${message.to}:${entry.index}`
        this.copiesSent.set(key, (this.copiesSent.get(key) ?? 0) + 1)
      }
    }
    if (!this.reachable(message.from, message.to) || this.random() < this.dropRate) return
    const copies = this.random() < this.duplicateRate ? 2 : 1
    for (let copy = 0; copy < copies; copy++) {
      const delay = 1 + Math.floor(this.random() * this.maxDelayTicks) + this.extraDelay(message)
      this.queue.push({ at: this.time + delay, order: this.order++, message })
    }
  }

  // --- nodes ---------------------------------------------------------------------------------

  crash(id: number): void {
    const node = this.node(id)
    node.alive = false
    node.flushing = []
    const survivors = this.crashKeepsUnflushed ? Math.floor(this.random() * (node.log.unflushedCount + 1)) : 0
    node.log.crash(survivors)
  }

  /** A new node with an empty disk: it knows no configuration until the leader sends it one. */
  addNode(id: number): void {
    if (this.nodes.some((node) => node.id === id)) throw new Error(`node ${id} exists`)
    const log = new MemoryLogStore()
    const hard = { currentTerm: 0, votedFor: 0, commitIndex: 0 }
    const node: SimNode = { id, core: undefined as unknown as RaftCore, log, hard, alive: true, applied: [], snapshot: undefined, flushing: [], flushTicks: undefined, paused: false, diskRetry: undefined }
    this.nodes.push(node)
    this.nodes.sort((a, b) => a.id - b.id)
    node.core = this.makeCore(id, log, hard)
  }

  /** Asks the current leader for a membership change; returns the error code when it refuses. */
  changeMembership(change: MembershipChange): string | undefined {
    const leader = this.leader()
    if (leader === undefined) return 'ERR_NOT_LEADER'
    try {
      leader.core.proposeMembership(change)
      this.drainReadies()
      return undefined
    } catch (error) {
      return (error as { code?: string }).code ?? String(error)
    }
  }

  /** Stops the node without losing anything (SIGSTOP): it believes what it believed. */
  pause(id: number): void {
    this.node(id).paused = true
  }

  resume(id: number): void {
    this.node(id).paused = false
  }

  /** The node's disk fills: its log takes no more entries (appends throw ENOSPC) until freeDisk(). */
  fillDisk(id: number): void {
    this.node(id).log.full = true
  }

  /**
   * Space is freed on the node's disk (room for `entries` more, default no limit): its driver
   * finds out on its next look (with backoff), as RaftNode's does.
   */
  freeDisk(id: number, entries = Number.POSITIVE_INFINITY): void {
    this.node(id).log.room = entries
  }

  /** The node's disk is replaced: log and saved state are gone (it restarts empty). */
  wipe(id: number): void {
    const node = this.node(id)
    node.alive = false
    node.flushing = []
    node.log = new MemoryLogStore()
    node.hard = { currentTerm: 0, votedFor: 0, commitIndex: 0 }
    node.snapshot = undefined
  }

  /**
   * The node's disk is replaced and it starts again as a node that joins (an operator who
   * re-adds a removed id with an empty directory): it knows no configuration of its own.
   */
  rejoinEmpty(id: number): void {
    this.wipe(id)
    this.joiners.add(id)
    this.restart(id)
  }

  restart(id: number): void {
    const node = this.node(id)
    const snapshot = node.snapshot
    // As the driver does: the state machine starts from the newest snapshot, and a log that
    // does not hold the snapshot's last entry was left by an interrupted install.
    if (snapshot !== undefined && node.log.termAt(snapshot.index) !== snapshot.term) node.log.reset(snapshot.index + 1, snapshot.term)
    node.core = this.makeCore(id, node.log, node.hard, snapshot)
    node.applied = snapshot === undefined ? [] : [...snapshot.applied]
    node.alive = true
    this.listener.stateReset?.(id, node.applied)
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
  propose(data: string | Uint8Array): number | undefined {
    return this.leader()?.core.propose(typeof data === 'string' ? Buffer.from(data) : data)
  }

  // --- time ----------------------------------------------------------------------------------

  /** One tick: every live node ticks, due messages are delivered, every Ready is handled. */
  step(): void {
    this.time++
    for (const node of this.nodes) if (node.alive && !node.paused) node.core.tick()
    // As the driver's timer does, a few ms after a commit no proposal carried: a commit notice.
    for (const node of this.nodes) if (node.alive && !node.paused && node.core.commitNotifyDue) node.core.notifyCommitNow()
    for (const node of this.nodes) if (node.alive && !node.paused) this.retryWrites(node)
    for (const node of this.nodes) {
      // In order: a flush completes only after every earlier one.
      while (!node.paused && node.flushing.length > 0 && (node.flushing[0] as { doneAt: number }).doneAt <= this.time) {
        const flushing = node.flushing.shift() as { ready: Ready; covered: readonly LogEntry[] | undefined }
        if (flushing.covered !== undefined) node.log.completeFlush(flushing.covered)
        this.finish(node, flushing.ready)
      }
    }
    this.drainReadies()
    this.deliverSnapshots()
    // Messages to a paused node wait for it, as in its socket buffer.
    const isDue = (item: InFlight): boolean => item.at <= this.time && this.nodes.find((node) => node.id === item.message.to)?.paused !== true
    const due = this.queue.filter(isDue).sort((a, b) => a.at - b.at || a.order - b.order)
    this.queue = this.queue.filter((item) => !isDue(item))
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

  /**
   * As RaftNode's driver does for a core paused on a full disk: look for room after a pause that
   * doubles (2 ticks, then up to 32), and resume the core once there is.
   */
  private retryWrites(node: SimNode): void {
    if (node.core.diskFull === undefined) {
      node.diskRetry = undefined
      return
    }
    node.diskRetry ??= { at: this.time + 2, ticks: 2 }
    if (this.time < node.diskRetry.at) return
    if (!node.log.full) node.core.resumeWrites()
    const ticks = Math.min(32, node.diskRetry.ticks * 2)
    node.diskRetry = node.core.diskFull === undefined ? undefined : { at: this.time + ticks, ticks }
  }

  private drainReadies(): void {
    for (const node of this.nodes) {
      while (node.alive && !node.paused && node.core.hasReady()) this.handle(node, node.core.ready())
    }
  }

  private handle(node: SimNode, ready: Ready): void {
    if (ready.hardState !== undefined) node.hard = { ...ready.hardState }
    // What the core decided about the log and the state machine, carried out as a driver does.
    if (ready.compactTo !== undefined) node.log.compact(ready.compactTo)
    if (ready.restore !== undefined) {
      const restoreIndex = ready.restore.index
      const snapshot = [node.snapshot, node.received].find((held) => held?.index === restoreIndex)
      if (snapshot === undefined) throw new Error(`node ${node.id} must restore snapshot ${restoreIndex}, which it does not hold`)
      node.applied = [...snapshot.applied]
      this.listener.stateReset?.(node.id, node.applied)
    }
    // As the driver does: the leader's replication goes out before its own flush (§10.2.1), and
    // what is committed and already durable here applies before it.
    this.sendMessages(node, ready, true)
    this.applyUpTo(node, ready.durableCommitIndex)
    const ticks = ready.mustFlush ? (node.flushTicks ?? Math.floor(this.random() * (this.maxFlushTicks + 1))) : 0
    const previous = node.flushing[node.flushing.length - 1]
    if (ticks === 0 && previous === undefined) {
      if (ready.mustFlush) node.log.flush()
      this.finish(node, ready)
      return
    }
    // Behind an earlier flush, or one of its own: done no earlier than the one before it.
    const doneAt = Math.max(this.time + ticks, previous?.doneAt ?? 0)
    node.flushing.push({ ready, covered: ready.mustFlush ? node.log.beginFlush() : undefined, doneAt })
  }

  private sendMessages(node: SimNode, ready: Ready, early: boolean): void {
    for (const message of ready.messages) {
      if ((message.type === 'AppendEntries' || message.type === 'InstallSnapshot') !== early) continue
      if (message.type === 'InstallSnapshot') this.transferSnapshot(node, message)
      else this.send(message)
    }
  }

  /** After the flush: send the answers, apply what is committed, advance. */
  private finish(node: SimNode, ready: Ready): void {
    this.sendMessages(node, ready, false)
    this.applyUpTo(node, ready.commitIndex)
    this.maybeSnapshot(node)
    for (const read of ready.readStates) this.listener.readState?.(node.id, read.requestId, read.index)
    for (const requestId of ready.droppedReads) this.listener.droppedRead?.(node.id, requestId)
    if (ready.role === 'leader') {
      const known = this.leaderOfTerm.get(ready.term)
      if (known !== undefined && known !== node.id) this.violations.push(`two leaders in term ${ready.term}: ${known} and ${node.id}`)
      this.leaderOfTerm.set(ready.term, node.id)
    }
    node.core.advance(ready)
  }

  /** The driver's job in the simulator: take a snapshot now and then, compact behind it. */
  private maybeSnapshot(node: SimNode): void {
    const every = this.options.snapshotEvery
    const last = node.applied[node.applied.length - 1]
    if (every === 0 || last === undefined || last.index - (node.snapshot?.index ?? 0) < every) return
    node.snapshot = { index: last.index, term: last.term, applied: [...node.applied], config: node.core.configurationAt(last.index) }
    // The core decides what of the log may go (Ready.compactTo).
    node.core.snapshotTaken({ index: last.index, term: last.term })
    this.counts.snapshotsTaken++
  }

  /**
   * Moves the sender's snapshot to the follower, as the driver's chunks would: it arrives after
   * a few ticks, or is lost with the link (then the sender reports the transfer failed).
   */
  private transferSnapshot(sender: SimNode, message: Extract<RaftMessage, { type: 'InstallSnapshot' }>): void {
    // As the driver's sender does: the snapshot asked for, or a newer one.
    const snapshot = sender.snapshot
    if (snapshot === undefined || snapshot.index < message.lastIncludedIndex) throw new Error(`node ${sender.id} sent a snapshot it does not have: ${message.lastIncludedIndex}`)
    if (snapshot.index !== message.lastIncludedIndex) message = { ...message, lastIncludedIndex: snapshot.index, lastIncludedTerm: snapshot.term }
    const at = this.time + 2 + Math.floor(this.random() * this.maxDelayTicks * 3)
    this.pendingTransfers.push({ at, sender: sender.id, senderCore: sender.core, message, snapshot, lost: this.random() < this.dropRate })
  }

  private deliverSnapshots(): void {
    const due = this.pendingTransfers.filter((transfer) => transfer.at <= this.time)
    this.pendingTransfers = this.pendingTransfers.filter((transfer) => transfer.at > this.time)
    for (const transfer of due) {
      const sender = this.node(transfer.sender)
      const stillSender = sender.alive && sender.core === transfer.senderCore
      const target = this.node(transfer.message.to)
      // A full disk takes no snapshot file (the driver's inbox refuses one that does not fit the
      // free space), nor does a node paused on one: it would hold a file its core never installs.
      const noRoom = target.log.full || target.core.diskFull !== undefined
      if (transfer.lost || noRoom || !this.reachable(transfer.sender, target.id)) {
        if (stillSender) sender.core.reportSnapshot(target.id, false)
        continue
      }
      this.counts.snapshotsInstalled++
      // Durable on the target first (the file), then stepped into its core. A node that holds a
      // newer one of its own keeps it as its newest, and the received one beside it (the driver
      // keeps both files): the core may still ask to restore from the received one.
      if ((target.snapshot?.index ?? 0) < transfer.snapshot.index) target.snapshot = transfer.snapshot
      else target.received = transfer.snapshot
      // Stepped in; the Ready says whether the state machine is restored from it.
      target.core.step({ ...transfer.message, configuration: transfer.snapshot.config })
      this.drainReadies()
      if (stillSender) sender.core.reportSnapshot(target.id, true)
    }
    this.drainReadies()
  }

  private applyUpTo(node: SimNode, index: number): void {
    const from = (node.applied[node.applied.length - 1]?.index ?? 0) + 1
    // A snapshot stepped in while this Ready's flush ran replaced the log: the restore its own
    // Ready asks for brings the state machine past these entries (the driver's applier waits,
    // paused, for that restore the same way).
    const replaced = from < node.log.firstIndex
    if (index >= from && !replaced) for (const entry of node.log.slice(from, index + 1)) this.applyOn(node, entry)
  }

  private applyOn(node: SimNode, entry: LogEntry): void {
    const expectedIndex = (node.applied[node.applied.length - 1]?.index ?? 0) + 1
    if (entry.index !== expectedIndex) this.violations.push(`node ${node.id} applied index ${entry.index}, expected ${expectedIndex}`)
    // A node applies only what its own log holds durably (Ready.durableCommitIndex, then after the flush).
    if (entry.index > node.log.durableLastIndex) this.violations.push(`node ${node.id} applied index ${entry.index}, past its durable log (${node.log.durableLastIndex})`)
    node.applied.push(entry)
    this.listener.applied?.(node.id, entry)
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
