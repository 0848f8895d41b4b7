// The key-value store's data with its history (etcd's data model): every committed write gets the
// next global revision (one per log entry that changes anything, however many keys it touches),
// every key keeps its create revision, mod revision and version, and a read may ask for any
// revision not yet compacted. Keys and values are binary strings (kv-bytes.ts).
//
// Each key holds the list of its changes, oldest first: a put (with its value) or a delete (a
// tombstone). A key's state at revision R is its last change at or below R. Compaction up to C
// keeps, per key, the last change at or below C (so C itself stays readable, as in etcd) and every
// later one, and drops a key whose last change at or below C deletes it.
//
// The changes of one write are numbered in the order it made them (etcd's sub-revision): a
// revision's events go out in that order, live and replayed, as etcd's do (a transaction that puts
// z then a reports z first).
import { RaftLogError } from '../errors.js'
import { lowerBound, SortedKeys, upperBound } from './sorted-keys.js'

/** One change of a key. Never mutated once made: a snapshot shares them. */
export interface KeyChange {
  /** The revision of the write that made it. */
  readonly mod: number
  /** Its place among the changes of its write, from 0 (etcd's sub-revision): a revision's events go in this order. */
  readonly sub: number
  /** The revision of the put that created the key (0 for a tombstone). */
  readonly create: number
  /** Puts since the key was created, this one included (0 for a tombstone). */
  readonly version: number
  /** The value put; undefined: the key was deleted at `mod`. */
  readonly value: string | undefined
  /** The lease the key is attached to (0: none, and always for a tombstone). */
  readonly lease: number
}

/**
 * One event of a key, as etcd's watch reports it: `change` made at its revision (a put, or a
 * delete when its value is undefined), and `prev`, the key's put just before it (undefined when
 * the key did not exist, or that put was compacted away).
 */
export interface KeyEvent {
  readonly key: string
  readonly change: KeyChange
  readonly prev: KeyChange | undefined
}

/**
 * Called after every write that changed something, with its revision and a function that gives
 * its events in the order the write made them (built only when asked: most writes have no one watching).
 */
export type WriteListener = (revision: number, events: () => KeyEvent[]) => void

/** A key as a read sees it at some revision. */
export interface KeyValueAt {
  key: string
  value: string
  createRevision: number
  modRevision: number
  version: number
}

/** The store's revision before any write, as etcd's. */
export const initialRevision = 1

export class MvccStore {
  private readonly keys = new Map<string, KeyChange[]>()
  /** Revision of the last write (initialRevision when none). */
  private rev = initialRevision
  /**
   * Revisions up to this one were compacted away; this one is still readable. -1 before the first
   * compaction, as etcd's: compacting up to 0 is accepted the first time, as there.
   */
  private compactedRev = -1
  /** The first revision whose events are all held (-1: every one): a watch may start here. */
  private eventsFromRev = -1
  /** Keys whose last change is a put. */
  private live = 0
  /**
   * Keys a compaction may trim: more than one change, or deleted. A key put once and never
   * changed needs nothing, so a compaction costs the keys written since, not the whole store.
   */
  private readonly historied = new Set<string>()
  /** Every key with history, in byte order, for range reads. */
  private readonly sorted = new SortedKeys(() => this.keys.keys())
  /** The revision the write in progress writes at (undefined: none in progress). */
  private writing: number | undefined
  private changedInWrite = false
  /** The sub-revision of the next change of the write in progress. */
  private nextSub = 0
  /** Keys the write in progress changed, in the order it first changed them. */
  private readonly touched = new Set<string>()
  /** How many changes each key the write in progress changed had before it (undefined: the key was not there): what undoes it. */
  private readonly changesBefore = new Map<string, number | undefined>()
  private listener: WriteListener | undefined

  /** Sets the one listener told of every write (see WriteListener); undefined removes it. */
  onWrite(listener: WriteListener | undefined): void {
    this.listener = listener
  }

  get revision(): number {
    return this.rev
  }

  /** Revisions below this one were compacted away (0: none, or up to 0 alone). */
  get compactRevision(): number {
    return Math.max(0, this.compactedRev)
  }

  /**
   * The first revision a watch can replay from: the compaction point, whose deletes compact keeps
   * (one past it for a store restored from a snapshot written before it kept them); 0 when
   * nothing was compacted.
   */
  get firstEventRevision(): number {
    return Math.max(0, this.eventsFromRev)
  }

  /** Keys that exist now. */
  get size(): number {
    return this.live
  }

  /**
   * Runs `body` as one write: every put and delete in it gets the same revision, the next one,
   * and the store's revision moves only when something changed. Reads inside see its writes.
   * When `body` throws, its changes are undone: a write is all or nothing.
   */
  write<T>(body: () => T): T {
    if (this.writing !== undefined) throw new Error('MvccStore.write: a write is already in progress')
    this.writing = this.rev + 1
    this.changedInWrite = false
    this.nextSub = 0
    this.touched.clear()
    this.changesBefore.clear()
    const liveBefore = this.live
    try {
      return body()
    } catch (error) {
      this.undoWrite(liveBefore)
      throw error
    } finally {
      const revision = this.writing
      this.writing = undefined
      if (this.changedInWrite) {
        this.rev = revision
        if (this.listener !== undefined) this.listener(revision, () => this.eventsOfWrite(revision))
      }
    }
  }

  /** Takes back every change of the write in progress: each key's list loses what the write added (a write only appends to it, or replaces what it appended). */
  private undoWrite(liveBefore: number): void {
    for (const [key, length] of this.changesBefore) {
      if (length === undefined) {
        this.keys.delete(key)
        this.historied.delete(key)
        this.sorted.drop(key)
      } else (this.keys.get(key) as KeyChange[]).length = length
    }
    this.live = liveBefore
    this.changedInWrite = false
  }

  /** The events of the write at `revision`, the last one: valid until the next write starts. */
  private eventsOfWrite(revision: number): KeyEvent[] {
    if (revision !== this.rev || this.writing !== undefined) throw new Error(`MvccStore: the events of revision ${revision} were asked for after another write began`)
    const events: KeyEvent[] = []
    for (const key of this.touched) keyEvents(key, this.keys.get(key) ?? [], revision, revision, events)
    return events.sort(bySub)
  }

  /**
   * The events of keys from `start` to `end` (as range() takes them) at revisions `from` to the
   * store's, in revision order and, within one revision, in the order the write made them (key
   * order for changes restored from a snapshot older than sub-revisions): what a watch from `from`
   * replays. ERR_COMPACTED when `from` is below the compaction point; from the compaction point
   * itself every event is still here (compact keeps its deletes), as etcd replays it: a client
   * told "compacted at R" starts again from R.
   */
  eventsSince(start: string, end: string | undefined, from: number): KeyEvent[] {
    if (from < this.eventsFromRev) throw new RaftLogError('ERR_COMPACTED', `Revision ${from} was compacted: events are kept from revision ${this.eventsFromRev}`)
    const events: KeyEvent[] = []
    if (from > this.rev) return events
    if (end === undefined) keyEvents(start, this.keys.get(start) ?? [], from, this.rev, events)
    else {
      const keys = this.sortedKeys()
      for (let position = lowerBound(keys, start); position < keys.length; position++) {
        const key = keys[position] as string
        if (end !== '' && key >= end) break
        keyEvents(key, this.keys.get(key) as KeyChange[], from, this.rev, events)
      }
    }
    // Stable: changes of an old snapshot (all sub 0) stay in key order within their revision.
    return events.sort((a, b) => a.change.mod - b.change.mod || a.change.sub - b.change.sub)
  }

  /** The revision a read sees now: inside a write that changed something, the write's own. */
  get readRevision(): number {
    return this.writing !== undefined && this.changedInWrite ? this.writing : this.rev
  }

  /** The key's value now, or undefined. */
  get(key: string): KeyChange | undefined {
    const last = this.keys.get(key)?.at(-1)
    return last?.value === undefined ? undefined : last
  }

  /** The key as of `revision` (a put), or undefined when it did not exist then. */
  getAt(key: string, revision: number): KeyChange | undefined {
    const changes = this.keys.get(key)
    if (changes === undefined) return undefined
    for (let i = changes.length - 1; i >= 0; i--) {
      const change = changes[i] as KeyChange
      if (change.mod <= revision) return change.value === undefined ? undefined : change
    }
    return undefined
  }

  /** ERR_COMPACTED or ERR_FUTURE_REVISION when `revision` cannot be read; 0 means now. */
  checkReadable(revision: number): void {
    if (revision > this.readRevision) throw new RaftLogError('ERR_FUTURE_REVISION', `Revision ${revision} is in the future: the store is at revision ${this.readRevision}`)
    if (revision > 0 && revision < this.compactedRev) throw new RaftLogError('ERR_COMPACTED', `Revision ${revision} was compacted: the oldest readable revision is ${this.compactedRev}`)
  }

  /**
   * Keys from `start` (inclusive) to `end` (exclusive; undefined: `start` alone; '' : no end)
   * that exist at `revision`, in byte order. Calls `each` per key until it returns false.
   */
  range(start: string, end: string | undefined, revision: number, each: (key: string, change: KeyChange) => boolean | void): void {
    if (end === undefined) {
      const change = this.getAt(start, revision)
      if (change !== undefined) each(start, change)
      return
    }
    let keys = this.sortedKeys()
    let version = this.sorted.version
    for (let position = lowerBound(keys, start); position < keys.length; position++) {
      const key = keys[position] as string
      if (end !== '' && key >= end) break
      const change = this.getAt(key, revision)
      if (change !== undefined && each(key, change) === false) break
      // `each` wrote and read again: the order moved under this loop. Go on after `key`.
      if (this.sorted.version !== version) {
        keys = this.sortedKeys()
        version = this.sorted.version
        position = upperBound(keys, key) - 1
      }
    }
  }

  /** Sets `key` to `value` in the write in progress; answers the change it replaced (undefined: the key was absent). */
  put(key: string, value: string, lease = 0): KeyChange | undefined {
    const mod = this.inWrite()
    const changes = this.keys.get(key)
    this.noteChange(key, changes)
    let before = changes?.at(-1)
    if (before?.value === undefined) before = undefined
    const change: KeyChange = { mod, sub: this.nextSub++, create: before?.create ?? mod, version: (before?.version ?? 0) + 1, value, lease }
    if (changes === undefined) {
      this.keys.set(key, [change])
      this.sorted.add(key)
    } else if (before !== undefined && before.mod === mod) {
      // The same key twice in one write: the later put wins, at its own place in the write; the history keeps one change per revision.
      changes[changes.length - 1] = { ...change, create: before.create, version: before.version }
    } else {
      changes.push(change)
      this.historied.add(key)
    }
    if (before === undefined) this.live++
    return before
  }

  /** Deletes `key` in the write in progress; answers what it held, or undefined (nothing changes). */
  delete(key: string): KeyChange | undefined {
    const changes = this.keys.get(key)
    const before = changes?.at(-1)
    if (changes === undefined || before?.value === undefined) return undefined
    const mod = this.inWrite()
    this.noteChange(key, changes)
    const tombstone: KeyChange = { mod, sub: this.nextSub++, create: 0, version: 0, value: undefined, lease: 0 }
    if (before.mod === mod) changes[changes.length - 1] = tombstone
    else changes.push(tombstone)
    this.historied.add(key)
    this.live--
    return before
  }

  /**
   * Forgets every change a read at `revision` or later does not need. ERR_COMPACTED when it was
   * compacted already, ERR_FUTURE_REVISION past the store's revision.
   */
  compact(revision: number): void {
    if (revision <= this.compactedRev) throw new RaftLogError('ERR_COMPACTED', `Revision ${revision} was compacted already: the store is compacted up to revision ${this.compactedRev}`)
    if (revision > this.rev) throw new RaftLogError('ERR_FUTURE_REVISION', `Cannot compact up to revision ${revision}: the store is at revision ${this.rev}`)
    for (const key of this.historied) {
      const changes = this.keys.get(key) as KeyChange[]
      let keep = changes.length
      while (keep > 0 && (changes[keep - 1] as KeyChange).mod > revision) keep--
      // keep - 1: the last change at or below `revision`, which a read at `revision` still needs.
      // A delete below `revision` is needed by nothing. Every change made at `revision` itself
      // stays (a delete, or a delete then a put of one write), for a watch from the compaction
      // point: all its events are still here.
      let from = keep - 1
      while (from > 0 && (changes[from - 1] as KeyChange).mod === revision) from--
      if (from >= 0 && (changes[from] as KeyChange).value === undefined && (changes[from] as KeyChange).mod < revision) from++
      if (from <= 0) continue
      if (from === changes.length) {
        this.keys.delete(key)
        this.historied.delete(key)
        this.sorted.drop(key)
        continue
      }
      const kept = changes.slice(from)
      this.keys.set(key, kept)
      if (kept.length === 1 && (kept[0] as KeyChange).value !== undefined) this.historied.delete(key)
    }
    this.compactedRev = revision
    this.eventsFromRev = revision
  }

  /** What a snapshot holds, captured now: later writes do not change it (changes are immutable, lists are copied). */
  capture(): MvccState {
    return { revision: this.rev, compacted: this.compactedRev, eventsFrom: this.eventsFromRev, keys: Array.from(this.keys, ([key, changes]) => [key, changes.slice()] as const) }
  }

  /** Replaces everything with `state` (a snapshot's). */
  load(state: MvccState): void {
    if (!Number.isSafeInteger(state.compacted) || state.compacted < -1 || state.compacted > state.revision) throw new Error(`MvccStore.load: the compaction point ${state.compacted} is not from -1 to the revision ${state.revision}`)
    const eventsFromRange = state.compacted < 0 ? [-1, -1] : [state.compacted, state.compacted + 1]
    if (state.eventsFrom !== eventsFromRange[0] && state.eventsFrom !== eventsFromRange[1]) throw new Error(`MvccStore.load: events kept from revision ${state.eventsFrom} with the compaction point at ${state.compacted}`)
    this.keys.clear()
    this.historied.clear()
    this.sorted.reset()
    this.live = 0
    for (const [key, changes] of state.keys) {
      if (changes.length === 0) continue
      this.keys.set(key, [...changes])
      const exists = (changes.at(-1) as KeyChange).value !== undefined
      if (exists) this.live++
      if (changes.length > 1 || !exists) this.historied.add(key)
    }
    this.rev = state.revision
    this.compactedRev = state.compacted
    this.eventsFromRev = state.eventsFrom
  }

  /** Every key with history, sorted: changed in place by the next call after a key is added or dropped (see SortedKeys.keys). */
  sortedKeys(): string[] {
    return this.sorted.keys()
  }

  /** `key` is about to change in the write in progress: remembered for its events, and for undoing it. */
  private noteChange(key: string, changes: KeyChange[] | undefined): void {
    this.touched.add(key)
    if (!this.changesBefore.has(key)) this.changesBefore.set(key, changes?.length)
  }

  private inWrite(): number {
    if (this.writing === undefined) throw new Error('MvccStore: a put or delete outside write()')
    this.changedInWrite = true
    return this.writing
  }
}

export interface MvccState {
  revision: number
  /** Revisions up to this one were compacted away; -1: never compacted. */
  compacted: number
  /** The first revision whose events are all held: `compacted`, or one past it in a store restored from a snapshot of version 4 or older; -1: never compacted. */
  eventsFrom: number
  keys: readonly (readonly [string, readonly KeyChange[]])[]
}

function bySub(a: KeyEvent, b: KeyEvent): number {
  return a.change.sub - b.change.sub
}

/** Appends to `events` the changes of `key` made at revisions `from` to `to`, each with the put before it. */
function keyEvents(key: string, changes: readonly KeyChange[], from: number, to: number, events: KeyEvent[]): void {
  let position = changes.length
  while (position > 0 && (changes[position - 1] as KeyChange).mod >= from) position--
  for (; position < changes.length; position++) {
    const change = changes[position] as KeyChange
    if (change.mod > to) break
    let before = position - 1
    // Two changes at one revision (a delete, then a put): both report the state before the write.
    while (before >= 0 && (changes[before] as KeyChange).mod === change.mod) before--
    const prev = before >= 0 ? changes[before] : undefined
    events.push({ key, change, prev: prev?.value === undefined ? undefined : prev })
  }
}
