// The keys of a store in byte order, for range reads, kept up to date for both ways a store is
// written. A few keys added or dropped between two reads are put in place one by one (a binary
// search and a splice each); many (a bulk load, a compaction that drops thousands) make the next
// read sort them all once. Sorting all of them at every read after one new key cost a lock 0.36
// ms per acquire of a new key (a lock not taken before by its lease) in a store of 11,000 keys:
// an acquire creates its key under the lock's prefix, and reads the prefix in the same transaction.

/**
 * Keys added or dropped since the last read, up to which they are put in place one by one: a
 * splice moves half the array (64 of them in a million keys: about 32 million pointer moves, a
 * few milliseconds), where a sort compares N log N strings (seconds for a million).
 */
const maxPendingChanges = 64

export class SortedKeys {
  /** The keys in byte order, as of the last read, or undefined: sort them all at the next. */
  private sorted: string[] | undefined = []
  /** Keys added since, not in `sorted`. */
  private readonly added = new Set<string>()
  /** Keys dropped since, still in `sorted`. */
  private readonly dropped = new Set<string>()
  private changes = 0

  /** `all`: every key now, in any order, for when they must all be sorted again. */
  constructor(private readonly all: () => Iterable<string>) {}

  /** `key` is new (it was not a key before). */
  add(key: string): void {
    if (this.sorted === undefined) return
    if (!this.dropped.delete(key)) this.added.add(key)
    this.sortAllIfMany()
  }

  /** `key` is gone (it was a key before). */
  drop(key: string): void {
    if (this.sorted === undefined) return
    if (!this.added.delete(key)) this.dropped.add(key)
    this.sortAllIfMany()
  }

  /** Every key changed at once (a snapshot loaded): sort them all at the next read. */
  reset(): void {
    this.sorted = undefined
    this.added.clear()
    this.dropped.clear()
  }

  /**
   * The keys in byte order. The array is changed in place by the next call after an add or drop
   * (or replaced after a reset): a caller that holds it across a write and another read sees
   * `version` move, and finds its place again.
   */
  keys(): string[] {
    if (this.sorted === undefined) {
      this.sorted = Array.from(this.all()).sort(byteOrder)
      this.changes++
      return this.sorted
    }
    const sorted = this.sorted
    if (this.dropped.size + this.added.size > 0) this.changes++
    for (const key of this.dropped) {
      const position = lowerBound(sorted, key)
      if (sorted[position] !== key) throw new Error(`SortedKeys: dropped key ${JSON.stringify(key)} is not among the keys`)
      sorted.splice(position, 1)
    }
    for (const key of this.added) sorted.splice(lowerBound(sorted, key), 0, key)
    this.dropped.clear()
    this.added.clear()
    return sorted
  }

  /** Moves each time keys() changes or replaces the array it answers. */
  get version(): number {
    return this.changes
  }

  private sortAllIfMany(): void {
    if (this.added.size + this.dropped.size > maxPendingChanges) this.reset()
  }
}

export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The first position in sorted `keys` whose key is not below `key`. */
export function lowerBound(keys: readonly string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((keys[middle] as string) < key) low = middle + 1
    else high = middle
  }
  return low
}

/** The first position in sorted `keys` whose key is above `key`. */
export function upperBound(keys: readonly string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((keys[middle] as string) <= key) low = middle + 1
    else high = middle
  }
  return low
}
