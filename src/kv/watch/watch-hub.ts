// The watches of one node over its key-value store (etcd's watchable store): each watch covers a
// key or a range and reports, from its start revision, every event of its keys exactly once, in
// revision order, with no gap, a revision's events together and in the order its write made them
// (etcd's sub-revisions: the store keeps that order, live and in its history).
//
// A new watch first replays what the history holds from its start revision, then hears live
// writes as they are applied. Both run on the event loop between two applies, so nothing falls
// between them: the replay reads up to the store's revision and the watch then waits for the
// next. When a snapshot replaces the store (a follower far behind), each watch replays again from
// its next revision out of the snapshot's history, or is cancelled as compacted when that history
// no longer reaches back so far: never a silent gap.
import type { KeyEvent } from '../mvcc-store.js'
import type { KvStateMachine } from '../kv-state-machine.js'
import { span } from '../kv-txn.js'
import { RangeIndex } from './range-index.js'

export interface WatchSpec {
  key: Buffer
  /** As a range's: empty, the key alone; "\0", every key from `key` up; else the keys in [key, rangeEnd). */
  rangeEnd: Buffer
  /** The first revision to report; 0: the next write. */
  startRevision: number
  /** Leave out puts / deletes (etcd's NOPUT, NODELETE filters). */
  noPut: boolean
  noDelete: boolean
}

/** What a watch is told. Called on the event loop; must not throw (a throw cancels the watch). */
export interface WatchSink {
  /** Events of one or more whole revisions, in revision order, a revision's in the order its write made them. */
  events(events: KeyEvent[]): void
  /** The watch ends: the history no longer holds its next revision (`compactRevision`: the first revision it holds every event of, where a watch can start again). */
  compacted(compactRevision: number): void
}

export interface Watch {
  /** The next revision this watch will report. */
  readonly nextRevision: number
  /** Stops the watch: no call to its sink after this. */
  cancel(): void
}

interface Watcher {
  start: string
  /** undefined: the key alone; '': no end. */
  end: string | undefined
  spec: WatchSpec
  sink: WatchSink
  next: number
  active: boolean
}

export class WatchHub {
  /** Watches of one key, by key: a write finds them without looking at the others. */
  private readonly byKey = new Map<string, Set<Watcher>>()
  /** Watches of a range, by the keys they cover: a write finds those of its keys without passing the others. */
  private readonly ranges = new RangeIndex<Watcher>()
  /**
   * The revision of the last write heard. Every watch kept heard every write up to it: one not of
   * its keys leaves its `next` behind, which a replay after a snapshot must not start from.
   */
  private heard = 0
  /** Stops listening to the store; undefined while no watch is kept (then writes build no events for it). */
  private stopListening: (() => void) | undefined

  constructor(private readonly kv: KvStateMachine) {}

  /** Watches in this hub. */
  get size(): number {
    let count = this.ranges.size
    for (const watchers of this.byKey.values()) count += watchers.size
    return count
  }

  /**
   * Starts a watch: replays the history from `spec.startRevision` to the store's revision into
   * `sink` at once, then reports each write as it is applied. When the start revision was compacted
   * the sink hears `compacted` at once and the watch is not kept.
   */
  watch(spec: WatchSpec, sink: WatchSink): Watch {
    const [start, end] = span(spec.key, spec.rangeEnd)
    // 0 is now; a negative start is below every revision kept, so compacted (as etcd answers it).
    const watcher: Watcher = { start, end, spec, sink, next: spec.startRevision !== 0 ? spec.startRevision : this.kv.revision + 1, active: true }
    const handle: Watch = {
      get nextRevision() {
        return watcher.next
      },
      cancel: () => this.remove(watcher),
    }
    if (!this.catchUp(watcher)) return handle
    if (end === undefined) {
      let watchers = this.byKey.get(start)
      if (watchers === undefined) this.byKey.set(start, (watchers = new Set()))
      watchers.add(watcher)
    } else this.ranges.add(watcher, start, end)
    this.stopListening ??= this.kv.onChange({
      changed: (revision, events) => this.changed(revision, events),
      reset: () => this.reset(),
    })
    return handle
  }

  /** Stops every watch and stops listening to the store. */
  close(): void {
    for (const watcher of this.all()) watcher.active = false
    this.byKey.clear()
    this.ranges.clear()
    this.stopListening?.()
    this.stopListening = undefined
  }

  /** Replays the history from the watcher's next revision; false (and the sink told) when it was compacted. */
  private catchUp(watcher: Watcher): boolean {
    let events: KeyEvent[]
    try {
      events = this.kv.eventsSince(watcher.spec.key, watcher.spec.rangeEnd, watcher.next)
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_COMPACTED') throw error
      this.remove(watcher)
      watcher.sink.compacted(this.kv.firstEventRevision)
      return false
    }
    watcher.next = Math.max(watcher.next, this.kv.revision + 1)
    this.deliver(watcher, events)
    return watcher.active
  }

  private changed(revision: number, events: KeyEvent[]): void {
    this.heard = revision
    const touched = new Set<Watcher>()
    for (const event of events) for (const watcher of this.byKey.get(event.key) ?? []) touched.add(watcher)
    for (const watcher of this.ranges.covering(events.map((event) => event.key))) touched.add(watcher)
    for (const watcher of touched) {
      if (!watcher.active || watcher.next > revision) continue
      watcher.next = revision + 1
      const mine = events.filter((event) => covers(watcher, event.key))
      this.deliver(watcher, mine)
    }
  }

  private reset(): void {
    for (const watcher of this.all()) {
      if (!watcher.active) continue
      watcher.next = Math.max(watcher.next, this.heard + 1)
      this.catchUp(watcher)
    }
  }

  private deliver(watcher: Watcher, events: KeyEvent[]): void {
    const { noPut, noDelete } = watcher.spec
    const kept = noPut || noDelete ? events.filter((event) => (event.change.value === undefined ? !noDelete : !noPut)) : events
    if (kept.length === 0) return
    try {
      watcher.sink.events(kept)
    } catch {
      // A sink that throws is broken (a closed stream): it must not stop the apply that called it.
      this.remove(watcher)
    }
  }

  private remove(watcher: Watcher): void {
    watcher.active = false
    if (watcher.end === undefined) {
      const watchers = this.byKey.get(watcher.start)
      watchers?.delete(watcher)
      if (watchers?.size === 0) this.byKey.delete(watcher.start)
    } else this.ranges.remove(watcher)
    if (this.byKey.size === 0 && this.ranges.size === 0) {
      this.stopListening?.()
      this.stopListening = undefined
    }
  }

  private all(): Watcher[] {
    return [...this.ranges.values(), ...Array.from(this.byKey.values(), (set) => [...set]).flat()]
  }
}

function covers(watcher: Watcher, key: string): boolean {
  if (watcher.end === undefined) return key === watcher.start
  return key >= watcher.start && (watcher.end === '' || key < watcher.end)
}
