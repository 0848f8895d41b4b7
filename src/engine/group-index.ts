// One group's in-memory index in the shared log engine: where each of its entries lies (file and
// byte of its record), its first index and the term before it, its hard state, and which files it
// still needs. Appends, truncations, compactions and replay all change it through these methods.

/** A group's hard state: what Raft must keep across a restart besides the log. */
export interface GroupHardState {
  /** Current term. */
  term: number
  /** Node voted for in `term`; 0 for none. */
  vote: number
  /** Highest index known committed. */
  commit: number
}

/** Where one entry's record lies. */
export interface EntryLocation {
  /** Sequence of the engine file holding it. */
  file: number
  /** Byte offset of its record in that file. */
  offset: number
}

const initialCapacity = 8

/**
 * One group's index: entries first..last as parallel arrays (file, offset, term, payload length),
 * a count of live entries per file, and the files of its latest state and hard-state records.
 * The files it needs (minFile) decide which files the engine may free.
 */
export class GroupIndex {
  readonly id: number
  /** Index of the first entry held; last + 1 when it holds none. */
  first = 1
  /** Term of entry first − 1; 0 when there is none. */
  prevTerm = 0
  hardState: GroupHardState = { term: 0, vote: 0, commit: 0 }
  /** File of the latest Compact or Reset record: needed until it is written again later. -1 while replay has seen none. */
  stateFile = -1
  /** File of the latest HardState record; -1 when there is none. */
  hardStateFile = -1
  /** Payload bytes of the entries held: what a rewrite of the group would copy. */
  liveBytes = 0
  private files = new Uint32Array(initialCapacity)
  private offsets = new Uint32Array(initialCapacity)
  private terms = new Float64Array(initialCapacity)
  private sizes = new Uint32Array(initialCapacity)
  private start = 0
  private count = 0
  /** Live entries per file sequence. */
  private refs = new Map<number, number>()
  /** Indexes of the configuration entries held, ascending; undefined while there are none (most groups). */
  private configs: number[] | undefined

  constructor(id: number) {
    this.id = id
  }

  get last(): number {
    return this.first + this.count - 1
  }

  get entryCount(): number {
    return this.count
  }

  get lastTerm(): number {
    return this.count > 0 ? (this.terms[this.start + this.count - 1] as number) : this.prevTerm
  }

  /** Term at `index`, also answering first − 1; undefined outside that range. */
  termAt(index: number): number | undefined {
    if (index === this.first - 1) return this.prevTerm
    if (index < this.first || index > this.last) return undefined
    return this.terms[this.start + index - this.first]
  }

  /** Where the entry at `index` lies; the caller checked the range. */
  location(index: number): EntryLocation {
    const position = this.start + index - this.first
    return { file: this.files[position] as number, offset: this.offsets[position] as number }
  }

  payloadLength(index: number): number {
    return this.sizes[this.start + index - this.first] as number
  }

  /**
   * Adds the entry at `index` (first ≤ index ≤ last + 1), dropping any entries from it on first.
   * `config`: it is a configuration entry (EntryType.Config), which configIndexes() lists.
   */
  putEntry(index: number, term: number, file: number, offset: number, payloadLength: number, config = false): void {
    if (index < this.first || index > this.last + 1) throw new Error(`group ${this.id}: entry ${index} outside ${this.first}..${this.last + 1}`)
    this.dropFrom(index)
    if (this.start + this.count === this.files.length) this.makeRoom()
    const position = this.start + this.count
    this.files[position] = file
    this.offsets[position] = offset
    this.terms[position] = term
    this.sizes[position] = payloadLength
    this.count++
    this.liveBytes += payloadLength
    this.refs.set(file, (this.refs.get(file) ?? 0) + 1)
    if (config) (this.configs ??= []).push(index)
  }

  /** Indexes of the configuration entries held from `from` on, ascending: a replica's membership without reading its log. */
  configIndexes(from = this.first): number[] {
    return (this.configs ?? []).filter((index) => index >= from)
  }

  /** Drops the entries from `index` on (a Raft conflict); none before first. */
  dropFrom(index: number): void {
    const from = Math.max(index, this.first)
    while (this.last >= from) {
      const position = this.start + this.count - 1
      this.release(position)
      this.count--
    }
    this.forgetConfigs((config) => config >= from)
  }

  /**
   * The group starts at `first` with `prevTerm` before it: entries before it go; when first is
   * past the last entry, all go. Recorded in `file`.
   */
  compact(first: number, prevTerm: number, file: number): void {
    if (first > this.last + 1) {
      this.dropFrom(this.first)
      this.start = 0
    } else {
      while (this.first < first) {
        this.release(this.start)
        this.start++
        this.count--
        this.first++
      }
    }
    this.first = first
    this.prevTerm = prevTerm
    this.stateFile = file
    if (this.count === 0) this.start = 0
    this.forgetConfigs((config) => config < first)
  }

  /** Drops every entry: the next is `next`, with `prevTerm` before it. Recorded in `file`. */
  reset(next: number, prevTerm: number, file: number): void {
    this.dropFrom(this.first)
    this.start = 0
    this.first = next
    this.prevTerm = prevTerm
    this.stateFile = file
  }

  setHardState(hardState: GroupHardState, file: number): void {
    this.hardState = { ...hardState }
    this.hardStateFile = file
  }

  /** The oldest file this group still needs: its entries', its state record's, its hard state's. */
  minFile(): number {
    let min = this.stateFile
    if (this.hardStateFile >= 0 && this.hardStateFile < min) min = this.hardStateFile
    for (const file of this.refs.keys()) if (file < min) min = file
    return min
  }

  private forgetConfigs(gone: (index: number) => boolean): void {
    if (this.configs === undefined) return
    const kept = this.configs.filter((index) => !gone(index))
    this.configs = kept.length > 0 ? kept : undefined
  }

  private release(position: number): void {
    const file = this.files[position] as number
    const left = (this.refs.get(file) ?? 0) - 1
    if (left > 0) this.refs.set(file, left)
    else this.refs.delete(file)
    this.liveBytes -= this.sizes[position] as number
  }

  /** Room for one more at the end: slide down over compacted positions, or double. */
  private makeRoom(): void {
    const capacity = this.start > this.files.length / 2 ? this.files.length : this.files.length * 2
    const move = <T extends Uint32Array | Float64Array>(from: T, make: (size: number) => T): T => {
      if (capacity === from.length) {
        from.copyWithin(0, this.start, this.start + this.count)
        return from
      }
      const to = make(capacity)
      to.set(from.subarray(this.start, this.start + this.count), 0)
      return to
    }
    this.files = move(this.files, (size) => new Uint32Array(size))
    this.offsets = move(this.offsets, (size) => new Uint32Array(size))
    this.terms = move(this.terms, (size) => new Float64Array(size))
    this.sizes = move(this.sizes, (size) => new Uint32Array(size))
    this.start = 0
  }
}
