// A compact form for structured commands and answers that carry bytes: JSON for the shape, the
// bytes themselves after it, unencoded (a 1 MiB value stays 1 MiB in the log, not 1.4 MiB of
// base64). Each Uint8Array in the value becomes {"$b": n}, the n-th blob.
//
//   [json length u32][json utf-8][blob length u32][blob]...
import { RaftLogError } from '../errors.js'

/**
 * Arrays and objects inside one another at most: about 60 nested transactions. Parsing and
 * applying recurse, and a stack overflow would not fail alike on every node (its depth depends
 * on what is compiled and what called): a command nested deeper is refused by this count, the
 * same everywhere, before anything recurses.
 */
export const maxNestingDepth = 200

export function encodeBlobJson(value: unknown, head: Uint8Array = new Uint8Array(0)): Buffer {
  const blobs: Uint8Array[] = []
  const json = Buffer.from(JSON.stringify(withRefs(value, blobs)), 'utf8')
  const parts: Uint8Array[] = [head, u32(json.length), json]
  for (const blob of blobs) parts.push(u32(blob.length), blob)
  return Buffer.concat(parts)
}

/** The value back, its blobs as Buffers (views over `bytes`). ERR_BAD_COMMAND when the bytes are not one. */
export function decodeBlobJson(bytes: Buffer): unknown {
  const bad = (problem: string): RaftLogError => new RaftLogError('ERR_BAD_COMMAND', `Not a structured key-value command or answer (${bytes.length} bytes): ${problem}`)
  if (bytes.length < 4) throw bad('shorter than its length word')
  const jsonLength = bytes.readUInt32LE(0)
  if (jsonLength > bytes.length - 4) throw bad(`its length ${jsonLength} runs past the end`)
  const blobs: Buffer[] = []
  let offset = 4 + jsonLength
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw bad('a blob length cut short')
    const length = bytes.readUInt32LE(offset)
    if (length > bytes.length - offset - 4) throw bad(`blob length ${length} runs past the end`)
    blobs.push(bytes.subarray(offset + 4, offset + 4 + length))
    offset += 4 + length
  }
  const json = bytes.toString('utf8', 4, 4 + jsonLength)
  const depth = nestingDepth(json)
  if (depth > maxNestingDepth) throw bad(`nested ${depth} levels deep, more than ${maxNestingDepth}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (error) {
    throw bad((error as Error).message)
  }
  return withBlobs(parsed, blobs, bad)
}

/** The deepest nesting of arrays and objects in `json`, counted without recursion (brackets inside strings aside). */
function nestingDepth(json: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const code = json.charCodeAt(i)
    if (inString) {
      if (code === 0x5c) i++ // a backslash: the next character is escaped
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) deepest = Math.max(deepest, ++depth)
    else if (code === 0x5d || code === 0x7d) depth--
  }
  return deepest
}

function withRefs(value: unknown, blobs: Uint8Array[]): unknown {
  if (value instanceof Uint8Array) {
    blobs.push(value)
    return { $b: blobs.length - 1 }
  }
  if (Array.isArray(value)) return value.map((item) => withRefs(item, blobs))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = withRefs(item, blobs)
    return out
  }
  return value
}

function withBlobs(value: unknown, blobs: Buffer[], bad: (problem: string) => RaftLogError): unknown {
  if (Array.isArray(value)) return value.map((item) => withBlobs(item, blobs, bad))
  if (value !== null && typeof value === 'object') {
    const ref = (value as { $b?: unknown }).$b
    if (ref !== undefined) {
      const blob = typeof ref === 'number' ? blobs[ref] : undefined
      if (blob === undefined) throw bad(`a reference to blob ${String(ref)} of ${blobs.length}`)
      return blob
    }
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = withBlobs(item, blobs, bad)
    return out
  }
  return value
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32LE(value)
  return bytes
}
