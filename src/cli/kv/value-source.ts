// A value for `kv put` from a file or standard input, as bytes, exactly; or a `kv load` file, as
// text (its lines are JSON or KEY<TAB>VALUE), where bytes that are not UTF-8 are refused rather
// than read mangled.
import { readFileSync } from 'node:fs'
import { RaftLogError } from '../../errors.js'
import { maxCommandBytes } from '../../net/config/request-limits.js'

/** Largest value read from a file or standard input: the most any node's max_request_bytes allows (the node says when its own is lower). */
export const maxValueBytes = maxCommandBytes
/** Largest `kv load` file: it is read whole before the first put, so that a bad line stops nothing half done. */
export const maxLoadFileBytes = 512 * 1024 * 1024

function tooLarge(name: string, maxBytes: number): RaftLogError {
  return new RaftLogError('ERR_BAD_ARGUMENT', `${name} holds more than ${maxBytes} bytes, the most this command takes`)
}

/** Everything on standard input, as bytes. */
async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw tooLarge('Standard input', maxBytes)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function readFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    const { code } = error as { code?: string }
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message
    throw new RaftLogError('ERR_BAD_ARGUMENT', `Cannot read ${path}: ${why}`, { file: path })
  }
}

/**
 * The bytes in `source` (a file path, or '-' for standard input), exact, final newline included;
 * at most `maxBytes` (default: the largest value a node accepts).
 */
export async function readBytes(source: string, maxBytes = maxValueBytes): Promise<Buffer> {
  const name = source === '-' ? 'Standard input' : source
  const bytes = source === '-' ? await readStdin(maxBytes) : readFile(source)
  if (bytes.length > maxBytes) throw tooLarge(name, maxBytes)
  return bytes
}

/** The UTF-8 text in `source` (as readBytes), refused when it is not UTF-8. */
export async function readText(source: string, maxBytes: number): Promise<string> {
  const name = source === '-' ? 'Standard input' : source
  const bytes = await readBytes(source, maxBytes)
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${name} is not UTF-8 text: a load file is JSON lines or KEY<TAB>VALUE lines (with --encoding hex or base64 for keys and values that are not text)`)
  }
}
