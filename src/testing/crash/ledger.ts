// The state machine of the crash test's snapshot rounds: a ledger of every proposal applied, by
// id, with the index it was applied at and how many times. Deterministic and small; its snapshot
// is the whole ledger. A proposal applied twice (an entry replayed over a snapshot that already
// held it) shows as `times` 2, which the checker flags.
import type { LogEntry } from '../../storage/log-entry.js'
import type { SnapshotInfo, StateMachine } from '../../raft/state-machine.js'

export interface LedgerLine {
  index: number
  times: number
}

/** A proposal's bytes: its id, a newline, then padding (so entries fill segments at a chosen rate). */
export function proposalData(id: string, padding: Uint8Array): Uint8Array {
  const head = Buffer.from(`${id}\n`)
  return Buffer.concat([head, padding])
}

export function proposalId(data: Uint8Array): string {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length)
  const end = bytes.indexOf(0x0a)
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end)
}

/** The snapshot rounds' state machine: every proposal applied, by id, with its index and how often; its snapshot is the whole ledger. */
export class Ledger implements StateMachine {
  readonly lines = new Map<string, LedgerLine>()
  /** Index of the last entry applied (or the snapshot restored). */
  lastIndex = 0
  /** Entries applied out of order: noted, not thrown, so that the checker sees them all. */
  readonly outOfOrder: string[] = []

  apply(entry: LogEntry): number {
    // Entries come in log order, each once: anything else is the bug this test looks for.
    if (entry.index <= this.lastIndex) this.outOfOrder.push(`entry ${entry.index} applied after entry ${this.lastIndex}`)
    const id = proposalId(entry.data)
    const line = this.lines.get(id)
    if (line === undefined) this.lines.set(id, { index: entry.index, times: 1 })
    else line.times++
    this.lastIndex = Math.max(this.lastIndex, entry.index)
    return entry.index
  }

  /** The whole ledger, copied now: later applies do not change the bytes handed out. */
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ lastIndex: this.lastIndex, lines: [...this.lines] }))
  }

  async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotInfo): Promise<void> {
    const parts: Buffer[] = []
    for await (const chunk of chunks) parts.push(Buffer.from(chunk))
    const state = JSON.parse(Buffer.concat(parts).toString()) as { lastIndex: number; lines: [string, LedgerLine][] }
    if (state.lastIndex > meta.index) throw new Error(`Ledger: snapshot ${meta.index} holds entries up to ${state.lastIndex}`)
    this.lines.clear()
    for (const [id, line] of state.lines) this.lines.set(id, line)
    this.lastIndex = meta.index
  }
}
