// The primitives of raftlog's packed forms (kv-txn-codec.ts, kv-txn-outcome-codec.ts): a writer
// into a buffer measured beforehand, and a reader that checks every length against what is left.
// Numbers are little-endian; bytes are [length u32][bytes]; whole numbers travel as f64, which
// holds every safe integer exactly.

export class PackWriter {
  constructor(
    readonly out: Buffer,
    public offset: number,
  ) {}

  u8(value: number): void {
    this.out[this.offset++] = value
  }

  u32(value: number): void {
    this.out.writeUInt32LE(value, this.offset)
    this.offset += 4
  }

  f64(value: number): void {
    // + 0 makes -0 a 0, as JSON did: a -0 kept in one replica's store and a 0 restored from a snapshot in another's would answer different bytes.
    this.out.writeDoubleLE(value + 0, this.offset)
    this.offset += 8
  }

  bytes(value: Uint8Array): void {
    this.u32(value.length)
    this.out.set(value, this.offset)
    this.offset += value.length
  }
}

export class PackReader {
  offset: number

  constructor(
    readonly source: Buffer,
    readonly bad: (problem: string) => Error,
    offset = 0,
  ) {
    this.offset = offset
  }

  /** Throws unless every byte was read. */
  end(what: string): void {
    if (this.offset !== this.source.length) throw this.bad(`${this.source.length - this.offset} bytes after the ${what}`)
  }

  /** A count of items at least `each` bytes long: one larger than what is left can only be damage. */
  count(each: number): number {
    const count = this.u32()
    if (count * each > this.source.length - this.offset) throw this.bad(`${count} items at byte ${this.offset - 4} run past the end`)
    return count
  }

  /** One of `names`, by its index in a byte. */
  pick<T>(names: readonly T[], what: string): T {
    const code = this.u8()
    const name = names[code]
    if (name === undefined) throw this.bad(`an unknown ${what} ${code} at byte ${this.offset - 1}`)
    return name
  }

  u8(): number {
    this.need(1)
    return this.source[this.offset++] as number
  }

  u32(): number {
    this.need(4)
    const value = this.source.readUInt32LE(this.offset)
    this.offset += 4
    return value
  }

  f64(): number {
    this.need(8)
    // A -0 packed by hand reads as 0 too.
    const value = this.source.readDoubleLE(this.offset) + 0
    this.offset += 8
    return value
  }

  /** A view of the next bytes (no copy). */
  bytes(): Buffer {
    const length = this.u32()
    this.need(length)
    const value = this.source.subarray(this.offset, this.offset + length)
    this.offset += length
    return value
  }

  private need(bytes: number): void {
    if (bytes > this.source.length - this.offset) throw this.bad(`cut short at byte ${this.offset}`)
  }
}
