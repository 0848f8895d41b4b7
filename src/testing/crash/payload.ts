// Entry payloads derived from (seed, index, term): the checker recomputes them instead of
// keeping a copy of everything the writer wrote.

import { seededRandom } from '../../raft/core/seeded-random.js'

/** The crash test's random source: the same seeded generator the Raft simulator uses. */
export const prng = seededRandom

/** Mixes numbers into one 32-bit seed. */
export function mixSeed(...parts: number[]): number {
  let hash = 0x811c9dc5
  for (const part of parts) {
    hash = Math.imul(hash ^ (part >>> 0), 0x01000193) >>> 0
    hash = Math.imul(hash ^ Math.floor(part / 2 ** 32), 0x01000193) >>> 0
  }
  return hash
}

export interface SizeRange {
  min: number
  max: number
}

/** The bytes the writer stores for `index` in `term`. */
export function entryPayload(seed: number, index: number, term: number, size: SizeRange): Uint8Array {
  const random = prng(mixSeed(seed, index, term))
  const length = size.min + Math.floor(random() * (size.max - size.min + 1))
  const bytes = new Uint8Array(length)
  for (let offset = 0; offset < length; offset += 4) {
    const word = Math.floor(random() * 4294967296)
    for (let k = 0; k < 4 && offset + k < length; k++) bytes[offset + k] = (word >>> (8 * k)) & 0xff
  }
  return bytes
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}
