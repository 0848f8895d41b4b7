import { createHash } from 'node:crypto'

/** Payload bytes derived from index and term, so a reader can check them without a copy. */
export function payloadFor(index: number, term: number, length = 16 + (index % 41)): Uint8Array {
  const out = new Uint8Array(length)
  let block = createHash('sha256').update(`${index}:${term}`).digest()
  for (let offset = 0; offset < length; offset += block.length) {
    out.set(block.subarray(0, Math.min(block.length, length - offset)), offset)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

export const silentLogger = { warn(): void {} }
