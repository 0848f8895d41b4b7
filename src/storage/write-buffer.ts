// Frames appended to an open segment and not yet written to its file. append() builds frames
// here, in memory the process owns (no page fault, no dirty page per store), and a flush writes
// them to the file with one pwrite. Reads of these frames are served from here until then.
/** The buffer starts small and doubles as batches need, up to this; past it, it is written out. */
const initialSizeBytes = 64 * 1024
export const writeBufferMaxBytes = 256 * 1024

/** Frames of one open segment not yet written to its file: built, read and then written from here (at most writeBufferMaxBytes). */
export class WriteBuffer {
  bytes: Buffer
  words: Uint32Array
  /** File offset of bytes[0]: every frame from here on is in this buffer. */
  from: number
  /** Bytes of frames held, from `from`. */
  used = 0

  constructor(from: number) {
    this.from = from
    this.bytes = Buffer.alloc(initialSizeBytes)
    this.words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >>> 2)
  }

  /** The file offset after the last frame held. */
  get end(): number {
    return this.from + this.used
  }

  /**
   * Makes room for a frame of `frameBytes`, growing the buffer if it may; false when the frames
   * held must be written out first. A frame larger than the largest buffer gets one of its own.
   */
  reserve(frameBytes: number): boolean {
    const needed = this.used + frameBytes
    if (needed <= this.bytes.length) return true
    if (needed > writeBufferMaxBytes && this.used > 0) return false
    let size = this.bytes.length
    while (size < needed) size *= 2
    const grown = Buffer.alloc(Math.max(needed, Math.min(size, writeBufferMaxBytes)))
    this.bytes.copy(grown, 0, 0, this.used)
    this.bytes = grown
    this.words = new Uint32Array(grown.buffer, grown.byteOffset, grown.length >>> 2)
    return true
  }

  /**
   * The frames held were written to the file: start again after them. The bytes are zeroed, as
   * writeFrame expects (padding and reserved bytes are not stored), and a buffer grown for one
   * large frame goes back to the usual size.
   */
  written(): void {
    this.from += this.used
    if (this.bytes.length > writeBufferMaxBytes) {
      this.bytes = Buffer.alloc(initialSizeBytes)
      this.words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >>> 2)
    } else {
      this.bytes.fill(0, 0, this.used)
    }
    this.used = 0
  }

  /** Drops the frames held from file offset `offset` on (a truncation); frames before it stay. */
  dropFrom(offset: number): void {
    if (offset >= this.end) return
    if (offset <= this.from) {
      this.bytes.fill(0, 0, this.used)
      this.used = 0
      this.from = offset
      return
    }
    this.bytes.fill(0, offset - this.from, this.used)
    this.used = offset - this.from
  }
}
