// A compact form for structured commands and answers that carry bytes: JSON for the shape, the
// bytes themselves after it, unencoded (a 1 MiB value stays 1 MiB in the log, not 1.4 MiB of
// base64). Each Uint8Array in the value becomes {"$b": n}, the n-th blob.
//
//   [json length u32][json utf-8][blob length u32][blob]...
import { RaftLogError } from '../errors.js'

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
  let parsed: unknown
  try {
    parsed = JSON.parse(bytes.toString('utf8', 4, 4 + jsonLength))
  } catch (error) {
    throw bad((error as Error).message)
  }
  return withBlobs(parsed, blobs, bad)
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
