// The pairs of a `kv load` file: JSON lines ({"key": "...", "value": "..."}) or key<TAB>value
// lines, either kind on any line; blank lines are skipped. A key given twice keeps its last
// value, as loading the lines one by one would: puts run side by side, so their order is not kept.
// Keys and values are text in the --encoding given (kv scan --json with the same one loads back).
import { RaftLogError } from '../../errors.js'
import { bytesFrom, type KvEncoding } from './encoding.js'

export interface LoadPair {
  key: Buffer
  value: Buffer
  /** 1-based line number in the file, for messages. */
  line: number
}

function bad(name: string, line: number, problem: string): RaftLogError {
  return new RaftLogError('ERR_BAD_ARGUMENT', `${name} line ${line}: ${problem}`, { file: name, line })
}

function parseLine(text: string, name: string, line: number, encoding: KvEncoding): LoadPair {
  const [key, value] = textPair(text, name, line)
  try {
    return { key: bytesFrom(key, encoding, 'key'), value: bytesFrom(value, encoding, 'value'), line }
  } catch (error) {
    throw bad(name, line, (error as Error).message)
  }
}

function textPair(text: string, name: string, line: number): [string, string] {
  if (text.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw bad(name, line, `not valid JSON (${(error as Error).message})`)
    }
    const { key, value } = (parsed ?? {}) as { key?: unknown; value?: unknown }
    if (typeof key !== 'string' || typeof value !== 'string') throw bad(name, line, 'a JSON line needs a string "key" and a string "value"')
    return [key, value]
  }
  const tab = text.indexOf('\t')
  if (tab === -1) throw bad(name, line, 'neither a JSON object nor key<TAB>value')
  return [text.slice(0, tab), text.slice(tab + 1)]
}

/** The pairs to write, each key once (its last value, at its last line), and how many lines were overwritten by a later one. */
export function parseLoadFile(text: string, name: string, encoding: KvEncoding = 'utf8'): { pairs: LoadPair[]; duplicates: number } {
  const byKey = new Map<string, LoadPair>()
  let duplicates = 0
  const lines = text.split('\n')
  for (const [position, raw] of lines.entries()) {
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (content.trim() === '') continue
    const pair = parseLine(content, name, position + 1, encoding)
    const key = pair.key.toString('latin1')
    if (byKey.delete(key)) duplicates++
    byKey.set(key, pair)
  }
  return { pairs: [...byKey.values()], duplicates }
}
