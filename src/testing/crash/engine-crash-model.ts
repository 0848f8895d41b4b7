// The checker of the engine crash test: what the writer said it acknowledged, and what a reopened
// engine may hold after a crash. A crash keeps a prefix of the changes made, in their order, and
// every change made before the last acknowledgement: so each group must be, exactly, what its
// acknowledged changes made it, followed by some prefix of its changes said after them (an
// append's entries count one by one: each is a record, and a frame may end between two).
import type { LogEngine } from '../../engine/log-engine.js'
import { engineEntryPayload, hardStateNumber } from './engine-crash-config.js'
import { sameBytes, type SizeRange } from './payload.js'

/** A group as the model has it: first index, the term before it, the entries' terms, its hard state number. */
interface GroupModel {
  first: number
  prevTerm: number
  terms: number[]
  hard: number
}

type Change =
  | { kind: 'create' }
  | { kind: 'append'; at: number; last: number; term: number }
  | { kind: 'compact'; upTo: number }
  | { kind: 'hard'; s: number }

export interface EngineViolation {
  round: number
  group?: number
  problem: string
}

/** The durable boundary the writer last said: power loss may zero what is after it in the last file. */
export interface EngineBoundary {
  file: string
  bytes: number
}

export class EngineCrashModel {
  private acknowledged = new Map<number, GroupModel>()
  /** Changes said since the last acknowledgement, in order. */
  private pending: Array<{ group: number; change: Change }> = []
  boundary: EngineBoundary | undefined
  /** A purge was said and not acknowledged: it syncs as it goes, so the boundary may be stale. */
  purging = false
  /** Changes acknowledged since the start. */
  acknowledgedChanges = 0

  constructor(
    private readonly payloadSeed: number,
    private readonly entrySize: SizeRange,
  ) {}

  /** Takes one line of the writer's protocol. */
  observe(line: string): void {
    const [tag, ...fields] = line.split(' ')
    const numbers = fields.map(Number)
    const group = numbers[0] as number
    switch (tag) {
      case 'N':
        this.pending.push({ group, change: { kind: 'create' } })
        return
      case 'W':
        // Entry by entry: each is a record of its own, and a crash may keep a prefix of an append's.
        for (let index = numbers[1] as number; index <= (numbers[2] as number); index++) {
          this.pending.push({ group, change: { kind: 'append', at: index, last: index, term: numbers[3] as number } })
        }
        return
      case 'C':
        this.pending.push({ group, change: { kind: 'compact', upTo: numbers[1] as number } })
        return
      case 'H':
        this.pending.push({ group, change: { kind: 'hard', s: numbers[1] as number } })
        return
      case 'P':
        this.purging = true
        return
      case 'D':
        this.boundary = { file: fields[0] as string, bytes: Number(fields[1]) }
        return
      case 'A':
        for (const { group: id, change } of this.pending) {
          const state = applied(this.acknowledged.get(id), change)
          if (state !== undefined) this.acknowledged.set(id, state)
        }
        this.acknowledgedChanges += this.pending.length
        this.pending = []
        this.purging = false
        return
    }
  }

  /**
   * Checks the reopened engine: every group must be its acknowledged state followed by a prefix
   * of its pending changes, entry payloads byte-exact. Then the engine's state becomes the model's
   * acknowledged state for the next round. Returns the violations and the entries held.
   */
  check(engine: LogEngine, round: number): { violations: EngineViolation[]; entries: number } {
    const violations: EngineViolation[] = []
    const ids = new Set([...this.acknowledged.keys(), ...this.pending.map((change) => change.group), ...engine.groupIds()])
    let entries = 0
    const next = new Map<number, GroupModel>()
    for (const id of ids) {
      const candidates = this.candidates(id)
      const held = engine.hasGroup(id) ? this.read(engine, id, round, violations) : undefined
      if (held !== undefined) entries += held.terms.length
      if (!candidates.some((candidate) => sameGroup(candidate, held))) {
        violations.push({ round, group: id, problem: `group ${id} is ${describe(held)}; acknowledged: ${describe(candidates[0])}, then up to ${describe(candidates.at(-1))}` })
      }
      if (held !== undefined) next.set(id, held)
    }
    this.acknowledged = next
    this.pending = []
    this.purging = false
    return { violations, entries }
  }

  /** The states a group may be in: acknowledged, then after each of its pending changes. */
  private candidates(id: number): Array<GroupModel | undefined> {
    let state = this.acknowledged.get(id)
    const states = [state]
    for (const { group, change } of this.pending) {
      if (group !== id) continue
      state = applied(state, change)
      states.push(state)
    }
    return states
  }

  /** The group as the engine holds it, each payload checked against what the writer wrote. */
  private read(engine: LogEngine, id: number, round: number, violations: EngineViolation[]): GroupModel {
    const first = engine.firstIndex(id)
    const held: GroupModel = { first, prevTerm: engine.termAt(id, first - 1) ?? -1, terms: [], hard: engine.hardState(id).term }
    const expectedHard = hardStateNumber(id, held.hard)
    if (held.hard !== 0 && JSON.stringify(engine.hardState(id)) !== JSON.stringify(expectedHard)) {
      violations.push({ round, group: id, problem: `group ${id}'s hard state ${JSON.stringify(engine.hardState(id))} was never written` })
    }
    for (const entry of engine.entries(id, first)) {
      held.terms.push(entry.term)
      if (!sameBytes(entry.data, engineEntryPayload(this.payloadSeed, id, entry.index, entry.term, this.entrySize))) {
        violations.push({ round, group: id, problem: `group ${id}'s entry ${entry.index} of term ${entry.term} holds bytes never written` })
      }
    }
    return held
  }
}

function applied(state: GroupModel | undefined, change: Change): GroupModel | undefined {
  if (change.kind === 'create') return { first: 1, prevTerm: 0, terms: [], hard: 0 }
  if (state === undefined) return undefined
  const next = { ...state, terms: [...state.terms] }
  switch (change.kind) {
    case 'append':
      next.terms.splice(change.at - next.first)
      for (let index = change.at; index <= change.last; index++) next.terms.push(change.term)
      return next
    case 'compact':
      next.prevTerm = next.terms[change.upTo - next.first] ?? next.prevTerm
      next.terms.splice(0, change.upTo + 1 - next.first)
      next.first = change.upTo + 1
      return next
    case 'hard':
      next.hard = change.s
      return next
  }
}

function sameGroup(a: GroupModel | undefined, b: GroupModel | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.first === b.first && a.prevTerm === b.prevTerm && a.hard === b.hard && a.terms.length === b.terms.length && a.terms.every((term, i) => term === b.terms[i])
}

function describe(group: GroupModel | undefined): string {
  if (group === undefined) return 'absent'
  const last = group.first + group.terms.length - 1
  return `first ${group.first} (term before ${group.prevTerm}), last ${last} (term ${group.terms.at(-1) ?? group.prevTerm}), hard state ${group.hard}`
}
