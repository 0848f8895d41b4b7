// Clients of a replicated key-value store, played inside the deterministic simulator: each node
// runs the real KvStateMachine behind client sessions; clients put and cas through the leader
// with sessions (retrying the same entry while its outcome is unknown), and get through any node
// with ReadIndex. Every operation is recorded for the linearizability checker.
import { EntryType, type LogEntry } from '../../src/storage/log-entry.js'
import { KvStateMachine, decodeKvCommand, decodeKvResult, encodeKvCommand, type KvCommand } from '../../src/kv/kv-state-machine.js'
import { SessionStateMachine, clientIdOf } from '../../src/session/session-state-machine.js'
import { ClientSession } from '../../src/session/client-session.js'
import { encodeOpen, sessionSecretBytes } from '../../src/session/session-envelope.js'
import { randomBytes } from 'node:crypto'
import { HistoryRecorder, type OpHandle } from '../linearizability/history.js'
import { textValue, type KvInput, type KvOutput } from '../linearizability/kv-model.js'
import type { Simulator } from '../../src/testing/simulator.js'

/** Ticks a client waits for an answer before it sends the same entry again (or gives a read up). */
const answerTimeoutTicks = 20

interface NodeState {
  kv: CountingKv
  sessions: SessionStateMachine
  appliedIndex: number
  /** Proposals made on this node, by index: who waits for the entry of which term. */
  proposals: Map<number, { term: number; done: (outcome: { result: unknown } | { error: Error } | 'replaced') => void }>
  /** Reads confirmed here, waiting for the state machine to reach their index. */
  confirmedReads: { index: number; serve: () => void }[]
  /** Reads asked here, by request id. */
  asked: Map<number, (index: number | undefined) => void>
}

interface Client {
  id: number
  session: ClientSession | undefined
  /** Tick its session was asked to open, while that is unanswered. */
  openedAt: number | undefined
  pending: Pending | undefined
}

/** The key-value store, counting how many times each written value was applied. */
class CountingKv extends KvStateMachine {
  readonly applications = new Map<string, number>()
  override apply(entry: LogEntry): Uint8Array {
    const command = decodeKvCommand(entry.data)
    if (command.op === 'put' || command.op === 'cas') this.applications.set(command.value.toString(), (this.applications.get(command.value.toString()) ?? 0) + 1)
    return super.apply(entry)
  }
}

type Pending =
  | { kind: 'write'; handle: OpHandle; command: KvCommand; entry: Uint8Array; sequence: number; sentAt: number; node: number; index: number }
  | { kind: 'read'; handle: OpHandle; key: string; sentAt: number; node: number; requestId: number }

export interface KvSimulationOptions {
  clients: number
  keys: string[]
  /** The broken variant: the node that believes it leads answers reads from its own state, without ReadIndex. */
  readsWithoutReadIndex?: boolean
}

export class KvSimulation {
  readonly history = new HistoryRecorder<KvInput, KvOutput>()
  readonly nodes = new Map<number, NodeState>()
  private readonly clients: Client[] = []
  private nextRequestId = 1
  private nextValue = 1

  constructor(
    readonly sim: Simulator,
    private readonly options: KvSimulationOptions,
  ) {
    for (const node of sim.nodes) this.nodes.set(node.id, this.freshState())
    for (let id = 1; id <= options.clients; id++) this.clients.push({ id, session: undefined, openedAt: undefined, pending: undefined })
    sim.listener = {
      applied: (node, entry) => this.applied(node, entry),
      stateReset: (node, entries) => this.reset(node, entries),
      readState: (node, requestId, index) => this.nodes.get(node)!.asked.get(requestId)?.(index),
      droppedRead: (node, requestId) => this.nodes.get(node)!.asked.get(requestId)?.(undefined),
    }
  }

  /** A new node joins the simulation with an empty disk (added to the cluster by the caller). */
  addNode(id: number): void {
    this.sim.addNode(id)
    this.nodes.set(id, this.freshState())
  }

  /** One tick of the simulator, with every idle client starting an operation. */
  step(random: () => number): void {
    for (const client of this.clients) this.drive(client, random)
    this.sim.step()
  }

  /** Lets the clients finish what they started (no new operations). */
  settle(ticks: number, random: () => number): void {
    for (let i = 0; i < ticks && this.clients.some((c) => c.pending !== undefined); i++) {
      for (const client of this.clients) if (client.pending !== undefined) this.drive(client, random, false)
      this.sim.step()
    }
  }

  private freshState(): NodeState {
    const kv = new CountingKv()
    return { kv, sessions: new SessionStateMachine(kv, { sessionTimeoutMs: Number.MAX_SAFE_INTEGER }), appliedIndex: 0, proposals: new Map(), confirmedReads: [], asked: new Map() }
  }

  private applied(nodeId: number, entry: LogEntry): void {
    const node = this.nodes.get(nodeId)!
    let outcome: { result: unknown } | { error: Error } = { result: undefined }
    if (entry.type === EntryType.Normal) {
      try {
        outcome = { result: node.sessions.apply(entry) }
      } catch (error) {
        outcome = { error: error as Error }
      }
    }
    node.appliedIndex = entry.index
    const waiting = node.proposals.get(entry.index)
    if (waiting !== undefined) {
      node.proposals.delete(entry.index)
      waiting.done(waiting.term === entry.term ? outcome : 'replaced')
    }
    const ready = node.confirmedReads.filter((read) => read.index <= node.appliedIndex)
    node.confirmedReads = node.confirmedReads.filter((read) => read.index > node.appliedIndex)
    for (const read of ready) read.serve()
  }

  /** The node restarted or installed a snapshot: its state machine is rebuilt from `entries`. */
  private reset(nodeId: number, entries: readonly LogEntry[]): void {
    const before = this.nodes.get(nodeId)!
    const state = this.freshState()
    // Waiters of a restarted node hear nothing more: their clients time out and try again.
    state.proposals = before.proposals
    this.nodes.set(nodeId, state)
    for (const entry of entries) {
      if (entry.type !== EntryType.Normal) continue
      try {
        state.sessions.apply(entry)
      } catch {
        // Refused entries (an expired session, say) change nothing, as on the first apply.
      }
    }
    state.appliedIndex = entries[entries.length - 1]?.index ?? 0
  }

  /** Written values some node's state machine applied more than once: must stay empty. */
  appliedTwice(): string[] {
    const twice: string[] = []
    for (const [id, node] of this.nodes) for (const [value, count] of node.kv.applications) if (count > 1) twice.push(`node ${id} applied ${value} ${count} times`)
    return twice
  }

  private drive(client: Client, random: () => number, startNew = true): void {
    const leader = this.sim.leader()
    if (client.session === undefined) {
      // A lost open only costs a session: ask again after a while.
      if (client.openedAt !== undefined && this.sim.time - client.openedAt > answerTimeoutTicks) client.openedAt = undefined
      if (client.openedAt === undefined && leader !== undefined) this.openSession(client, leader.id)
      return
    }
    const pending = client.pending
    if (pending === undefined) {
      if (startNew) this.start(client, random)
      return
    }
    if (this.sim.time - pending.sentAt < answerTimeoutTicks) return
    // No answer in time: a read is given up (it changed nothing); a write is sent again, the
    // same entry, to whoever leads now.
    if (pending.kind === 'read') {
      this.nodes.get(pending.node)!.asked.delete(pending.requestId)
      this.history.fail(pending.handle)
      client.pending = undefined
      return
    }
    if (leader !== undefined) this.sendWrite(client, pending, leader.id)
  }

  private openSession(client: Client, leaderId: number): void {
    const node = this.sim.node(leaderId)
    const secret = randomBytes(sessionSecretBytes)
    const index = node.core.propose(encodeOpen(this.sim.time, secret))
    if (index === undefined) return
    client.openedAt = this.sim.time
    this.nodes.get(leaderId)!.proposals.set(index, {
      term: node.core.currentTerm,
      done: (outcome) => {
        if (client.session !== undefined || outcome === 'replaced' || !('result' in outcome)) return
        client.session = ClientSession.resume(clientIdOf(outcome.result), secret)
        client.openedAt = undefined
      },
    })
  }

  private start(client: Client, random: () => number): void {
    const key = this.options.keys[Math.floor(random() * this.options.keys.length)] as string
    const roll = random()
    if (roll < 0.5) {
      this.startRead(client, key, random)
      return
    }
    const value = `v${this.nextValue++}`
    const current = textValue(this.nodes.get(this.sim.leader()?.id ?? 1)!.kv.get(key))
    const command: KvInput & KvCommand = roll < 0.75 ? { op: 'put', key, value } : { op: 'cas', key, expected: current, value }
    const handle = this.history.invoke(client.id, command)
    const { sequence, entry } = client.session!.command(encodeKvCommand(command), this.sim.time)
    const pending: Pending = { kind: 'write', handle, command, entry, sequence, sentAt: this.sim.time, node: 0, index: 0 }
    client.pending = pending
    const leader = this.sim.leader()
    if (leader !== undefined) this.sendWrite(client, pending, leader.id)
  }

  private sendWrite(client: Client, pending: Extract<Pending, { kind: 'write' }>, leaderId: number): void {
    pending.sentAt = this.sim.time
    const node = this.sim.node(leaderId)
    const index = node.core.propose(pending.entry)
    if (index === undefined) return
    pending.node = leaderId
    pending.index = index
    this.nodes.get(leaderId)!.proposals.set(index, {
      term: node.core.currentTerm,
      done: (outcome) => {
        // Another entry took its index: this copy was never applied; the timeout sends it again.
        if (outcome === 'replaced' || client.pending !== pending) return
        client.pending = undefined
        client.session!.answered(pending.sequence)
        if ('error' in outcome) {
          this.history.unknown(pending.handle)
          return
        }
        const result = decodeKvResult(outcome.result as Uint8Array)
        this.history.ok(pending.handle, { ok: result.ok, value: textValue(result.value) })
      },
    })
  }

  private startRead(client: Client, key: string, random: () => number): void {
    const handle = this.history.invoke(client.id, { op: 'get', key })
    if (this.options.readsWithoutReadIndex === true) {
      // The broken variant: whoever believes it leads answers from its own state at once.
      const believers = this.sim.nodes.filter((n) => n.alive && !n.paused && n.core.role === 'leader')
      const believer = believers[Math.floor(random() * believers.length)]
      if (believer === undefined) this.history.fail(handle)
      else this.history.ok(handle, { ok: true, value: textValue(this.nodes.get(believer.id)!.kv.get(key)) })
      return
    }
    const alive = this.sim.nodes.filter((n) => n.alive && !n.paused)
    const node = alive[Math.floor(random() * alive.length)]
    if (node === undefined) {
      this.history.fail(handle)
      return
    }
    const requestId = this.nextRequestId++
    const pending: Pending = { kind: 'read', handle, key, sentAt: this.sim.time, node: node.id, requestId }
    client.pending = pending
    const state = this.nodes.get(node.id)!
    state.asked.set(requestId, (index) => {
      state.asked.delete(requestId)
      if (client.pending !== pending) return
      if (index === undefined) {
        client.pending = undefined
        this.history.fail(handle)
        return
      }
      const serve = (): void => {
        if (client.pending !== pending) return
        client.pending = undefined
        // Read the state machine of the node as it is now: the node that confirmed the read.
        this.history.ok(handle, { ok: true, value: textValue(this.nodes.get(node.id)!.kv.get(key)) })
      }
      if (this.nodes.get(node.id)!.appliedIndex >= index) serve()
      else this.nodes.get(node.id)!.confirmedReads.push({ index, serve })
    })
    if (!node.core.readIndex(requestId)) {
      state.asked.delete(requestId)
      client.pending = undefined
      this.history.fail(handle)
    }
  }


}
