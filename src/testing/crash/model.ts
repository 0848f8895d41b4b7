// What the crash-test parent knows from the writer's lines, and the check of a recovered log
// against it: every acknowledged entry present and byte-exact, nothing that was never written,
// indexes contiguous, terms non-decreasing.
import type { RaftLog } from '../../storage/raft-log.js'
import { entryPayload, sameBytes, type SizeRange } from './payload.js'

export interface Violation {
  round: number
  index?: number
  problem: string
}

/** The durable end the writer last reported: bytes after it may be lost in a power failure. */
export interface DurableBoundary {
  file: string
  bytes: number
}

/** The crash test's knowledge of what each writer wrote and acknowledged (fed its lines), and the check of a recovered log against it. */
export class CrashModel {
  /** index → term of entries that must survive. */
  private acknowledged = new Map<number, number>()
  /** index → the term last written there. */
  private latest = new Map<number, number>()
  /** index → every term ever written there (in flight or not). */
  private written = new Map<number, Set<number>>()
  /** Entries at or below this may have been compacted away. */
  private compactedUpTo = 0
  acknowledgedCount = 0
  boundary: DurableBoundary | undefined

  constructor(
    private readonly payloadSeed: number,
    private readonly entrySize: SizeRange,
  ) {}

  /** Feeds one line of the writer's protocol. */
  observe(line: string): void {
    const [kind, a = '', b = '', c = ''] = line.trim().split(' ')
    switch (kind) {
      case 'W':
        for (let index = Number(a); index <= Number(b); index++) this.noteWritten(index, Number(c))
        break
      case 'A': {
        // Everything written through `last` is durable now, with the terms the W lines gave.
        const last = Number(a)
        for (let index = last; index >= 1; index--) {
          const term = this.latest.get(index) ?? (index === last ? Number(b) : undefined)
          if (term === undefined || this.acknowledged.get(index) === term) break
          if (!this.acknowledged.has(index)) this.acknowledgedCount++
          this.acknowledged.set(index, term)
        }
        break
      }
      case 'T?':
        // From the start of a truncation, the entries after it are no longer promised.
        for (const index of [...this.acknowledged.keys()]) if (index > Number(a)) this.acknowledged.delete(index)
        for (const index of [...this.latest.keys()]) if (index > Number(a)) this.latest.delete(index)
        break
      case 'T':
        // Returned, so durable: what was after it must never come back.
        for (const index of [...this.written.keys()]) if (index > Number(a)) this.written.delete(index)
        break
      case 'C?':
        this.compactedUpTo = Math.max(this.compactedUpTo, Number(a))
        break
      case 'D':
        this.boundary = { file: a, bytes: Number(b) }
        break
      default:
        break
    }
  }

  private noteWritten(index: number, term: number): void {
    this.latest.set(index, term)
    let terms = this.written.get(index)
    if (terms === undefined) {
      terms = new Set()
      this.written.set(index, terms)
    }
    terms.add(term)
  }

  /** Checks a recovered log; afterwards its entries are the new durable truth (recovery synced them). */
  check(log: RaftLog, round: number): { violations: Violation[]; recovered: number } {
    const violations: Violation[] = []
    const first = log.firstIndex
    const entries = log.slice(first)
    let previousTerm = log.termAt(first - 1) ?? 0
    entries.forEach((entry, position) => {
      if (entry.index !== first + position) violations.push({ round, index: entry.index, problem: `index not contiguous (expected ${first + position})` })
      if (entry.term < previousTerm) violations.push({ round, index: entry.index, problem: `term ${entry.term} is lower than the term before it (${previousTerm})` })
      previousTerm = entry.term
      if (!(this.written.get(entry.index)?.has(entry.term) ?? false)) {
        violations.push({ round, index: entry.index, problem: `entry in term ${entry.term} was never written` })
      } else if (!sameBytes(entry.data, entryPayload(this.payloadSeed, entry.index, entry.term, this.entrySize))) {
        violations.push({ round, index: entry.index, problem: `payload differs from what was written in term ${entry.term}` })
      }
    })
    const last = first + entries.length - 1
    for (const [index, term] of this.acknowledged) {
      if (index < first) {
        if (index > this.compactedUpTo) violations.push({ round, index, problem: `acknowledged entry lost: the log starts at ${first}` })
        continue
      }
      if (index > last) violations.push({ round, index, problem: `acknowledged entry lost: the log ends at ${last}` })
      else if (entries[index - first]?.term !== term) {
        violations.push({ round, index, problem: `acknowledged entry of term ${term} now has term ${entries[index - first]?.term}` })
      }
    }
    // Recovery synced what it kept and wiped the rest: only these entries can ever be read again.
    this.acknowledged.clear()
    this.latest.clear()
    this.written.clear()
    for (const entry of entries) {
      this.acknowledged.set(entry.index, entry.term)
      this.latest.set(entry.index, entry.term)
      this.written.set(entry.index, new Set([entry.term]))
    }
    return { violations, recovered: entries.length }
  }
}
