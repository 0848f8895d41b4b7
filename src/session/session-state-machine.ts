// Exactly-once commands (Raft dissertation §6.3): a state machine wrapped in client sessions.
// A client opens a session (an entry; its index is the client id), numbers its commands, and
// sends a retry with the same number; the wrapper applies each number once and answers a retry
// from the results it keeps. Results are kept until the client says it has them (lowestPending),
// so a client may have several commands in flight. Sessions expire after sessionTimeoutMs of log
// time (the leaders' clocks as stamped in entries, never each node's own), so every node expires
// the same sessions at the same entry; the table is part of every snapshot. A session belongs to
// the client that opened it: every command and keep-alive must carry the secret of its open, or
// it is refused (ERR_SESSION_FORBIDDEN) before anything of the session is looked at or changed.
import { timingSafeEqual } from 'node:crypto'
import type { LogEntry } from '../storage/log-entry.js'
import { RaftLogError } from '../errors.js'
import { halfSnapshotProblem, type SnapshotInfo, type StateMachine } from '../raft/state-machine.js'
import { decodeEnvelope, sessionSecretBytes } from './session-envelope.js'
import { ChunkReader } from '../raft/node/chunk-reader.js'
import { chunksOf, startNow, type SnapshotData } from '../raft/node/snapshot-stream.js'

export const defaultSessionTimeoutMs = 5 * 60_000
export const defaultMaxPendingPerSession = 1024
export const defaultMaxSessions = 100_000
/** Bytes of results kept over every session at most (see SessionOptions.maxKeptResultBytes). */
export const defaultMaxKeptResultBytes = 64 * 1024 * 1024

export interface SessionOptions {
  /** Log time in ms after which a silent session expires (default 5 minutes). */
  sessionTimeoutMs?: number
  /** Results kept per session for commands the client has not yet seen answered (default 1,024). */
  maxPendingPerSession?: number
  /** Sessions at most; opening one more expires the least recently active (default 100,000). */
  maxSessions?: number
  /**
   * Bytes of results kept for retries over every session at most (default 64 MiB). A command is
   * a few hundred bytes and its answer may be a whole range of the store, kept on every node
   * until the client has it: beyond this, an answer is sent once and its retry told it was applied.
   */
  maxKeptResultBytes?: number
}

type Cached = { kind: 'result'; bytes: Uint8Array | undefined } | { kind: 'error'; code: string; message: string }

interface Session {
  /** What every command must carry (undefined only for a session opened before sessions had secrets). */
  secret: Buffer | undefined
  lastActiveMs: number
  /** The client has the results of every command numbered below this. */
  lowestPending: number
  results: Map<number, Cached>
}

const snapshotMagic = Buffer.from('RSES', 'ascii')
/** 2: each session's secret after its fixed fields. 1 (read, never written): no secrets. */
const snapshotVersion = 2
/** Bytes of a session's fixed fields in a snapshot of each version: id, last active, lowest pending, result count; then, from 2, a secret flag and the secret. */
const sessionRecordBytes: Record<number, number> = { 1: 28, 2: 28 + 1 + sessionSecretBytes }

/**
 * Wraps an application's state machine in client sessions (Raft dissertation §6.3): each command of
 * a session is applied once, however often it is sent, and its answer is kept until the client has
 * it.
 */
export class SessionStateMachine implements StateMachine {
  readonly inner: StateMachine
  private readonly sessions = new Map<number, Session>()
  private readonly timeoutMs: number
  private readonly maxPending: number
  private readonly maxSessions: number
  private readonly maxKeptBytes: number
  /** Bytes of the results every session keeps: the same on every node at the same entry. */
  private keptBytes = 0
  /** The latest leader time seen in an entry: it never goes back. */
  private logTimeMs = 0
  private lastExpiryScanMs = 0

  constructor(inner: StateMachine, options: SessionOptions = {}) {
    this.inner = inner
    this.timeoutMs = options.sessionTimeoutMs ?? defaultSessionTimeoutMs
    this.maxPending = options.maxPendingPerSession ?? defaultMaxPendingPerSession
    this.maxSessions = options.maxSessions ?? defaultMaxSessions
    this.maxKeptBytes = options.maxKeptResultBytes ?? defaultMaxKeptResultBytes
    // Only a state machine that can be snapshotted makes this one snapshottable; one with half of
    // it is refused, as RaftNode.start refuses it (this wrapper would hide it from that check).
    const halfSnapshots = halfSnapshotProblem(inner)
    if (halfSnapshots !== undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', `The state machine ${halfSnapshots}`, { argument: 'stateMachine' })
    if (typeof inner.snapshot !== 'function') {
      this.snapshot = undefined
      this.restore = undefined
    }
  }

  /** Open sessions (for status and tests). */
  get size(): number {
    return this.sessions.size
  }

  /** Bytes of the results kept for retries, over every session. */
  get keptResultBytes(): number {
    return this.keptBytes
  }

  apply(entry: LogEntry): unknown {
    const envelope = decodeEnvelope(entry.data)
    switch (envelope.kind) {
      case 'plain':
        return this.inner.apply({ ...entry, data: envelope.payload })
      case 'open':
        this.advance(envelope.proposedAtMs)
        this.open(entry.index, envelope.secret)
        return clientIdBytes(entry.index)
      case 'keep-alive':
        this.advance(envelope.proposedAtMs)
        this.owned(envelope.clientId, envelope.secret).lastActiveMs = this.logTimeMs
        return undefined
      case 'command': {
        this.advance(envelope.proposedAtMs)
        // Checked before anything else: a foreign command must neither be answered from the
        // results kept for the owner nor make the session forget them.
        const session = this.owned(envelope.clientId, envelope.secret)
        session.lastActiveMs = this.logTimeMs
        if (envelope.lowestPending > session.lowestPending) {
          for (const [sequence, cached] of session.results) {
            if (sequence >= envelope.lowestPending) continue
            session.results.delete(sequence)
            this.keptBytes -= keptBytesOf(cached)
          }
          session.lowestPending = envelope.lowestPending
        }
        const cached = session.results.get(envelope.sequence)
        if (cached !== undefined) return replay(cached)
        if (envelope.sequence < session.lowestPending) {
          throw new RaftLogError('ERR_SESSION_STALE', `Client ${envelope.clientId} sent command ${envelope.sequence} again after saying it had its result`, { clientId: envelope.clientId })
        }
        if (session.results.size >= this.maxPending) {
          throw new RaftLogError('ERR_SESSION_WINDOW', `Client ${envelope.clientId} has ${session.results.size} commands without acknowledged results; the limit is ${this.maxPending}`, { clientId: envelope.clientId })
        }
        return this.applyOnce(session, envelope.sequence, { ...entry, data: envelope.payload })
      }
    }
  }

  snapshot?(): SnapshotData {
    const table = this.encodeTable()
    const inner = startNow((this.inner.snapshot as () => SnapshotData).call(this.inner))
    return (async function* () {
      yield table
      yield* chunksOf(inner)
    })()
  }

  async restore?(chunks: AsyncIterable<Uint8Array>, meta: SnapshotInfo): Promise<void> {
    const input = new ChunkReader(chunks)
    const bad = (problem: string): RaftLogError => new RaftLogError('ERR_CORRUPT', `Snapshot up to index ${meta.index} has no valid session table: ${problem}`, { index: meta.index })
    const head = await input.take(28)
    if (head === undefined || !head.subarray(0, 4).equals(snapshotMagic)) throw bad('it does not start with RSES')
    const version = head.readUInt32LE(4)
    const recordBytes = sessionRecordBytes[version]
    if (recordBytes === undefined) throw bad(`version ${version}`)
    const logTimeMs = Number(head.readBigUInt64LE(8))
    const lastExpiryScanMs = Number(head.readBigUInt64LE(16))
    const count = head.readUInt32LE(24)
    const sessions = new Map<number, Session>()
    for (let i = 0; i < count; i++) {
      const fixed = await input.take(recordBytes)
      if (fixed === undefined) throw bad('a session is cut short')
      const secret = version >= 2 && fixed[28] === 1 ? Buffer.from(fixed.subarray(29, 29 + sessionSecretBytes)) : undefined
      const session: Session = { secret, lastActiveMs: Number(fixed.readBigUInt64LE(8)), lowestPending: Number(fixed.readBigUInt64LE(16)), results: new Map() }
      for (let r = fixed.readUInt32LE(24); r > 0; r--) {
        const header = await input.take(9)
        if (header === undefined) throw bad('a result is cut short')
        const sequence = Number(header.readBigUInt64LE(0))
        if (header[8] === 0) session.results.set(sequence, { kind: 'result', bytes: undefined })
        else if (header[8] === 1) {
          const bytes = await input.takeSized()
          if (bytes === undefined) throw bad('a result is cut short')
          session.results.set(sequence, { kind: 'result', bytes: new Uint8Array(bytes) })
        } else {
          const code = await input.takeSized()
          const message = await input.takeSized()
          if (code === undefined || message === undefined) throw bad('an error result is cut short')
          session.results.set(sequence, { kind: 'error', code: code.toString(), message: message.toString() })
        }
      }
      sessions.set(Number(fixed.readBigUInt64LE(0)), session)
    }
    await (this.inner.restore as NonNullable<StateMachine['restore']>).call(this.inner, input.rest(), meta)
    this.sessions.clear()
    this.keptBytes = 0
    for (const [clientId, session] of sessions) {
      this.sessions.set(clientId, session)
      for (const cached of session.results.values()) this.keptBytes += keptBytesOf(cached)
    }
    this.logTimeMs = logTimeMs
    this.lastExpiryScanMs = lastExpiryScanMs
  }

  private applyOnce(session: Session, sequence: number, entry: LogEntry): unknown {
    const remember = (cached: Cached): unknown => {
      const bytes = keptBytesOf(cached)
      if (this.keptBytes + bytes <= this.maxKeptBytes) {
        session.results.set(sequence, cached)
        this.keptBytes += bytes
      } else session.results.set(sequence, notKept(sequence, bytes, this.maxKeptBytes))
      return replay(cached)
    }
    let result: unknown
    try {
      result = this.inner.apply(entry)
    } catch (error) {
      return remember(failure(error))
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (value) => remember(success(value)),
        (error: unknown) => remember(failure(error)),
      )
    }
    return remember(success(result))
  }

  private open(clientId: number, secret: Uint8Array | undefined): void {
    if (this.sessions.size >= this.maxSessions) {
      let oldest: number | undefined
      let oldestMs = Number.POSITIVE_INFINITY
      for (const [id, session] of this.sessions) {
        if (session.lastActiveMs < oldestMs) {
          oldest = id
          oldestMs = session.lastActiveMs
        }
      }
      if (oldest !== undefined) this.forget(oldest)
    }
    this.sessions.set(clientId, { secret: secret === undefined ? undefined : Buffer.from(secret), lastActiveMs: this.logTimeMs, lowestPending: 1, results: new Map() })
  }

  private session(clientId: number): Session {
    const session = this.sessions.get(clientId)
    if (session === undefined) throw new RaftLogError('ERR_SESSION_EXPIRED', `Client session ${clientId} is unknown or expired (after ${this.timeoutMs} ms of log time without a command)`, { clientId })
    return session
  }

  /** Session `clientId`, when `secret` is the one it was opened with. */
  private owned(clientId: number, secret: Uint8Array | undefined): Session {
    const session = this.session(clientId)
    if (!sameSecret(session.secret, secret)) {
      throw new RaftLogError('ERR_SESSION_FORBIDDEN', `Client session ${clientId} refused a command: it does not carry the session's secret (only the client that opened a session may write in it${secret === undefined ? '; this entry has no secret at all' : ''})`, { clientId })
    }
    return session
  }

  /** Log time moves to the leader's stamp (never back); now and then, silent sessions expire. */
  private advance(proposedAtMs: number): void {
    if (proposedAtMs > this.logTimeMs) this.logTimeMs = proposedAtMs
    if (this.logTimeMs - this.lastExpiryScanMs < this.timeoutMs / 8) return
    this.lastExpiryScanMs = this.logTimeMs
    for (const [clientId, session] of this.sessions) if (this.logTimeMs - session.lastActiveMs > this.timeoutMs) this.forget(clientId)
  }

  private forget(clientId: number): void {
    const session = this.sessions.get(clientId)
    if (session === undefined) return
    for (const cached of session.results.values()) this.keptBytes -= keptBytesOf(cached)
    this.sessions.delete(clientId)
  }

  private encodeTable(): Buffer {
    const parts: Buffer[] = []
    const head = Buffer.alloc(28)
    snapshotMagic.copy(head, 0)
    head.writeUInt32LE(snapshotVersion, 4)
    head.writeBigUInt64LE(BigInt(this.logTimeMs), 8)
    head.writeBigUInt64LE(BigInt(this.lastExpiryScanMs), 16)
    head.writeUInt32LE(this.sessions.size, 24)
    parts.push(head)
    for (const [clientId, session] of this.sessions) {
      const fixed = Buffer.alloc(sessionRecordBytes[snapshotVersion] as number)
      fixed.writeBigUInt64LE(BigInt(clientId), 0)
      fixed.writeBigUInt64LE(BigInt(session.lastActiveMs), 8)
      fixed.writeBigUInt64LE(BigInt(session.lowestPending), 16)
      fixed.writeUInt32LE(session.results.size, 24)
      if (session.secret !== undefined) {
        fixed[28] = 1
        session.secret.copy(fixed, 29)
      }
      parts.push(fixed)
      for (const [sequence, cached] of session.results) {
        const header = Buffer.alloc(9)
        header.writeBigUInt64LE(BigInt(sequence), 0)
        if (cached.kind === 'error') {
          header[8] = 2
          parts.push(header, sized(Buffer.from(cached.code)), sized(Buffer.from(cached.message)))
        } else if (cached.bytes === undefined) {
          header[8] = 0
          parts.push(header)
        } else {
          header[8] = 1
          parts.push(header, sized(cached.bytes))
        }
      }
    }
    return Buffer.concat(parts)
  }
}

/** Equal secrets, or both absent (a session and its commands from before secrets); compared in constant time. */
function sameSecret(expected: Buffer | undefined, given: Uint8Array | undefined): boolean {
  if (expected === undefined || given === undefined) return expected === given
  return given.length === expected.length && timingSafeEqual(expected, given)
}

function sized(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + bytes.length)
  out.writeUInt32LE(bytes.length, 0)
  out.set(bytes, 4)
  return out
}

function success(value: unknown): Cached {
  if (value !== undefined && !(value instanceof Uint8Array)) {
    return { kind: 'error', code: 'ERR_BAD_RESULT', message: `A state machine behind client sessions must answer with a Uint8Array or nothing, got ${typeof value}` }
  }
  return { kind: 'result', bytes: value }
}

function failure(error: unknown): Cached {
  return { kind: 'error', code: String((error as { code?: unknown }).code ?? 'ERR_APPLY'), message: (error as Error).message ?? String(error) }
}

/** The bytes a kept result counts against the budget: an answer's; an error's are a few words. */
function keptBytesOf(cached: Cached): number {
  return cached.kind === 'result' ? (cached.bytes?.length ?? 0) : 0
}

/** What a retry of a command whose answer did not fit the budget is told: it was applied, once. */
function notKept(sequence: number, bytes: number, maxBytes: number): Cached {
  return { kind: 'error', code: 'ERR_RESULT_NOT_KEPT', message: `Command ${sequence} of this session was applied once; its answer (${bytes} bytes) was not kept for a retry: the sessions keep ${maxBytes} bytes of answers at most. Read what it changed` }
}

function replay(cached: Cached): unknown {
  if (cached.kind === 'result') return cached.bytes
  throw new RaftLogError(cached.code, cached.message)
}

function clientIdBytes(clientId: number): Uint8Array {
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(BigInt(clientId), 0)
  return out
}

/** The client id in the result of opening a session. */
export function clientIdOf(result: unknown): number {
  if (!(result instanceof Uint8Array) || result.length !== 8) throw new RaftLogError('ERR_BAD_RESULT', 'Opening a session did not answer with a client id')
  return Number(Buffer.from(result.buffer, result.byteOffset, 8).readBigUInt64LE(0))
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
