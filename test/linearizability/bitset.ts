// The set of operations a search has linearized so far: one bit per operation of a partition,
// with a hash kept up to date on every change, so that memoizing (set, state) pairs costs a
// clone and a word-by-word compare only when two hashes meet, never a pass to hash the set.

const bitsPerWord = 32

export class Bitset {
  private readonly words: Uint32Array
  /** XOR of bitHash(i) over every member (Zobrist hashing): setting or clearing a bit is one XOR. */
  private currentHash = 0

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`A bitset needs a whole, non-negative size, not ${size}`)
    this.words = new Uint32Array(Math.ceil(size / bitsPerWord))
  }

  get hash(): number {
    return this.currentHash
  }

  has(bit: number): boolean {
    this.check(bit)
    return ((this.words[bit >>> 5] as number) & (1 << (bit & 31))) !== 0
  }

  set(bit: number): void {
    if (this.has(bit)) return
    this.words[bit >>> 5] = (this.words[bit >>> 5] as number) | (1 << (bit & 31))
    this.currentHash = (this.currentHash ^ bitHash(bit)) >>> 0
  }

  clear(bit: number): void {
    if (!this.has(bit)) return
    this.words[bit >>> 5] = (this.words[bit >>> 5] as number) & ~(1 << (bit & 31))
    this.currentHash = (this.currentHash ^ bitHash(bit)) >>> 0
  }

  equals(other: Bitset): boolean {
    if (other.size !== this.size || other.currentHash !== this.currentHash) return false
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== other.words[i]) return false
    return true
  }

  /** Whether every member of this set is in `other` too. */
  isSubsetOf(other: Bitset): boolean {
    if (other.size !== this.size) return false
    for (let i = 0; i < this.words.length; i++) if (((this.words[i] as number) & ~(other.words[i] as number)) !== 0) return false
    return true
  }

  clone(): Bitset {
    const copy = new Bitset(this.size)
    copy.words.set(this.words)
    copy.currentHash = this.currentHash
    return copy
  }

  private check(bit: number): void {
    if (!Number.isInteger(bit) || bit < 0 || bit >= this.size) throw new RangeError(`Bit ${bit} is outside a bitset of ${this.size}`)
  }
}

/** A well-spread 32-bit value per bit index (the murmur3 finalizer of i + 1): no table, no seed. */
function bitHash(bit: number): number {
  let h = (bit + 1) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
