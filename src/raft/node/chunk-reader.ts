// Reads exact byte counts from a stream of chunks cut anywhere (what restore() gets), and hands
// what is left on as a stream of its own.
/** Reads a snapshot file back in checked chunks, for sending it to a follower. */
export class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private buffer = Buffer.alloc(0)
  private ended = false

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.iterator = chunks[Symbol.asyncIterator]()
  }

  /** `length` bytes, or undefined when the stream ends first. */
  async take(length: number): Promise<Buffer | undefined> {
    while (this.buffer.length < length && !this.ended) {
      const next = await this.iterator.next()
      if (next.done === true) this.ended = true
      else this.buffer = this.buffer.length === 0 ? Buffer.from(next.value) : Buffer.concat([this.buffer, next.value])
    }
    if (this.buffer.length < length) return undefined
    const taken = this.buffer.subarray(0, length)
    this.buffer = this.buffer.subarray(length)
    return taken
  }

  /** A u32 length, then that many bytes. */
  async takeSized(): Promise<Buffer | undefined> {
    const size = await this.take(4)
    return size === undefined ? undefined : this.take(size.readUInt32LE(0))
  }

  /** Whatever follows, as a stream (the bytes already read ahead first). */
  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.buffer.length > 0) {
      const held = this.buffer
      this.buffer = Buffer.alloc(0)
      yield held
    }
    while (!this.ended) {
      const next = await this.iterator.next()
      if (next.done === true) this.ended = true
      else yield next.value
    }
  }
}
