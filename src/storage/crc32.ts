// CRC-32 (IEEE, the polynomial of zlib and the npm crc-32 package) over a range of a byte array,
// without allocating a view per call: the append path checksums every frame. Slicing-by-8 for
// short ranges; long ranges go to zlib's native crc32 where this Node has it.
import zlib from 'node:zlib'

const tables = buildTables()
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32
/** Above this many bytes one native call beats the JavaScript loop, view allocation included. */
const nativeThresholdBytes = 512

function buildTables(): Int32Array[] {
  const first = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    first[n] = c
  }
  const all = [first]
  for (let t = 1; t < 8; t++) {
    const previous = all[t - 1] as Int32Array
    const table = new Int32Array(256)
    for (let n = 0; n < 256; n++) table[n] = (previous[n] as number) >>> 8 ^ (first[(previous[n] as number) & 0xff] as number)
    all.push(table)
  }
  return all
}

const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array]

/** CRC-32 of bytes[start..end), continuing from `crc` (the CRC of what came before; 0 to start). */
export function crc32Range(bytes: Uint8Array, start: number, end: number, crc = 0): number {
  if (nativeCrc32 !== undefined && end - start >= nativeThresholdBytes) {
    // The whole array needs no view: the append path checksums each payload as the caller gave it.
    return nativeCrc32(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), crc >>> 0) >>> 0
  }
  let c = ~crc
  let i = start
  for (; i + 8 <= end; i += 8) {
    c ^= (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)
    c =
      (t7[c & 0xff] as number) ^
      (t6[(c >>> 8) & 0xff] as number) ^
      (t5[(c >>> 16) & 0xff] as number) ^
      (t4[c >>> 24] as number) ^
      (t3[bytes[i + 4] as number] as number) ^
      (t2[bytes[i + 5] as number] as number) ^
      (t1[bytes[i + 6] as number] as number) ^
      (t0[bytes[i + 7] as number] as number)
  }
  for (; i < end; i++) c = (c >>> 8) ^ (t0[(c ^ (bytes[i] as number)) & 0xff] as number)
  return ~c >>> 0
}

/**
 * CRC-32 of bytes[start..end) where `words` is a Uint32Array over the same memory and `start` is
 * a multiple of 4: two word loads per 8 bytes instead of eight byte loads (the append path
 * checksums each frame's header and small payload where it built them, 8-byte aligned).
 */
export function crc32Aligned(bytes: Uint8Array, words: Uint32Array, start: number, end: number, crc = 0): number {
  let c = ~crc
  let i = start
  let word = start >>> 2
  for (; i + 8 <= end; i += 8, word += 2) {
    c ^= words[word] as number
    const next = words[word + 1] as number
    c =
      (t7[c & 0xff] as number) ^
      (t6[(c >>> 8) & 0xff] as number) ^
      (t5[(c >>> 16) & 0xff] as number) ^
      (t4[c >>> 24] as number) ^
      (t3[next & 0xff] as number) ^
      (t2[(next >>> 8) & 0xff] as number) ^
      (t1[(next >>> 16) & 0xff] as number) ^
      (t0[next >>> 24] as number)
  }
  for (; i < end; i++) c = (c >>> 8) ^ (t0[(c ^ (bytes[i] as number)) & 0xff] as number)
  return ~c >>> 0
}
