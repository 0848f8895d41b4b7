// The pairs of a `kv load` file: JSON lines ({"key": "...", "value": "..."}) or key<TAB>value
// lines, either kind on any line; blank lines are skipped. A key given twice keeps its last
// value, as loading the lines one by one would: puts run side by side, so their order is not kept.
import { RaftLogError } from '../../storage/errors.js'

export interface LoadPair {
  key: string
  value: string
  /** 1-based line number in the file, for messages. */
  line: number
}

function bad(name: string, line: number, problem: string): RaftLogError {
  return new RaftLogError('ERR_BAD_ARGUMENT', `${name} line ${line}: ${problem}`, { file: name, line })
}

function parseLine(text: string, name: string, line: number): LoadPair {
  if (text.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw bad(name, line, `not valid JSON (${(error as Error).message})`)
    }
    const { key, value } = (parsed ?? {}) as { key?: unknown; value?: unknown }
    if (typeof key !== 'string' || typeof value !== 'string') throw bad(name, line, 'a JSON line needs a string "key" and a string "value"')
    return { key, value, line }
  }
  const tab = text.indexOf('\t')
  if (tab === -1) throw bad(name, line, 'neither a JSON object nor key<TAB>value')
  return { key: text.slice(0, tab), value: text.slice(tab + 1), line }
}

/** The pairs to write, each key once (its last value, at its last line), and how many lines were overwritten by a later one. */
export function parseLoadFile(text: string, name: string): { pairs: LoadPair[]; duplicates: number } {
  const byKey = new Map<string, LoadPair>()
  let duplicates = 0
  const lines = text.split('\n')
  for (const [position, raw] of lines.entries()) {
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (content.trim() === '') continue
    const pair = parseLine(content, name, position + 1)
    if (byKey.delete(pair.key)) duplicates++
    byKey.set(pair.key, pair)
  }
  return { pairs: [...byKey.values()], duplicates }
}
