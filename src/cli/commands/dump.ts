import { existsSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { isEngineDirectory, readEngineEntries } from '../../verify/engine-check.js'
import { UsageError, type Command } from '../command.js'
import { checkLog, type LogCheck } from '../../verify/log-check.js'
import { checkLogDirectory, withFileBytes, type FrameInfo } from '../../verify/log-reader.js'
import { describeLogStart } from '../../verify/log-start.js'
import { checkStateFile } from '../../verify/state-check.js'
import { RaftLogError } from '../../errors.js'
import { stateFileName } from '../../storage/raft-state-file.js'
import { frameHeaderSizeBytes } from '../../storage/segment-format.js'
import { describeKvEntry } from '../kv/describe-entry.js'
import { plural } from '../plural.js'

const help = `Usage: raftlog dump DIR [--from I] [--to J] [--format text|json|hex|kv]
       raftlog dump ENGINE_DIR --group G [--from I] [--to J] [--format text|json|hex|kv]

Prints the entries of a log directory, one per line (hex: one block each): those opening the log
would give. Never changes the directory; refuses one that a running node has locked, and one that
is not a raftlog directory. When the log is damaged it prints the entries it can read, then says
where the damage is and exits 1 (\`raftlog verify\` lists every problem).

When the log was compacted behind a snapshot (or the directory holds snapshots), a line on
stderr says where the log starts and that the entries before it live in snapshot N (its file);
an index below the log's first is refused with the same words.

A shared log engine's directory (a many-group node's host_<id>/) holds many groups: --group G
picks one (raftlog inspect lists them), and its entries are printed the same way.

Options:
  --group G       the group to print, in an engine directory
  --from I        first index to print (default: the first entry); one below the log's first
                  index is refused, naming the snapshot that holds it
  --to J          last index to print, inclusive (default: the last entry)
  --format F      text (default): index, term, type, length and the payload as UTF-8 when it is
                  printable, else base64;
                  json: one JSON object per line {index, term, type, length, data (base64)};
                  hex: a header line, then a hexdump of the payload;
                  kv: the entries of a \`raftlog node\` log decoded: sessions opened and
                  kept alive, and each key-value command (client, sequence number, put,
                  delete, cas or batch, with keys and values as JSON strings)
  -h, --help      show this help

Examples:
  raftlog dump ./raft_logs/node_1 --from 100 --to 120 --format json
  raftlog dump ./raft_logs/node_1 --format kv | grep '"greeting"'
  raftlog dump ./raft_logs/host_1 --group 3 --format kv`

const typeNames = ['normal', 'noop', 'config']

function parseIndex(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag} must be a whole number, got '${text}'`)
  return Number(text)
}

function isPrintable(text: string): boolean {
  // Tabs and newlines are escaped below; anything else outside printable text means binary.
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(text)
}

function hexdump(data: Uint8Array): string {
  const lines: string[] = []
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = data.subarray(offset, offset + 16)
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ')
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
    lines.push(`  ${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${ascii}|`)
  }
  return lines.join('\n')
}

function format(frame: Pick<FrameInfo, 'index' | 'term' | 'type' | 'length'>, data: Uint8Array, style: string): string {
  if (style === 'kv') return `${frame.index}\tterm ${frame.term}\t${describeKvEntry(frame.index, frame.type, data)}`
  const type = typeNames[frame.type] ?? String(frame.type)
  const payload = Buffer.from(data.buffer, data.byteOffset, data.length)
  if (style === 'json') {
    return JSON.stringify({ index: frame.index, term: frame.term, type, length: frame.length, data: payload.toString('base64') })
  }
  const head = `${frame.index}\tterm ${frame.term}\t${type}\t${plural(frame.length, 'byte')}`
  if (style === 'hex') return data.length === 0 ? head : `${head}\n${hexdump(data)}`
  const text = payload.toString('utf8')
  return `${head}\t${isPrintable(text) ? JSON.stringify(text) : `base64:${payload.toString('base64')}`}`
}

/**
 * An index asked for outside the log is a mistake worth saying, not an empty answer; one below
 * it says where the compacted entries went (`below`).
 */
function checkRange(log: LogCheck, from: number | undefined, to: number | undefined, below: string): void {
  const firstIndex = log.firstIndex ?? 1
  const lastIndex = log.lastIndex ?? 0
  const span = lastIndex < firstIndex ? 'the log is empty' : `the log holds ${firstIndex}..${lastIndex}`
  for (const [flag, index] of [['--from', from], ['--to', to]] as const) {
    if (index === undefined || (index >= firstIndex && index <= lastIndex)) continue
    throw new UsageError(`${flag} ${index} is outside the log: ${span}${index < firstIndex && below !== '' ? `; ${below}` : ''}`)
  }
}

/** Segment files none of which is a segment, and no state: something else under raftlog's names. */
function checkIsLog(dir: string, log: LogCheck): void {
  if (log.scans.some((scan) => scan.verdict.kind === 'written') || checkStateFile(dir).current !== undefined) return
  const first = log.problems[0]
  throw new RaftLogError(
    'ERR_NOT_RAFTLOG',
    `${dir} is not a raftlog directory: no segment file with a valid header${first === undefined ? '' : ` (${first.file}: ${first.problem})`}, no valid ${stateFileName}`,
    { dir },
  )
}

export const dumpCommand: Command = {
  name: 'dump',
  summary: 'Print the entries of a log directory as text, JSON lines, hex or key-value commands (read-only)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' }, group: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('dump takes exactly one directory')
    const style = values.format ?? 'text'
    if (style !== 'text' && style !== 'json' && style !== 'hex' && style !== 'kv') throw new UsageError(`--format must be text, json, hex or kv, got '${style}'`)
    const from = parseIndex('--from', values.from) ?? 0
    const to = parseIndex('--to', values.to) ?? Number.MAX_SAFE_INTEGER
    if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`)
    const group = parseIndex('--group', values.group)
    if (existsSync(dir) && statSync(dir).isDirectory() && isEngineDirectory(dir)) {
      if (group === undefined) throw new UsageError(`${dir} is a log engine's directory, which holds many groups: give --group G (raftlog inspect ${dir} lists them)`)
      return dumpEngineGroup(dir, group, from, to, style)
    }
    if (group !== undefined) throw new UsageError(`--group is for a log engine's directory (engine_*.log files); ${dir} is not one`)
    checkLogDirectory(dir)
    const log = checkLog(dir)
    checkIsLog(dir, log)
    const start = await describeLogStart(dir, log)
    checkRange(log, values.from === undefined ? undefined : from, values.to === undefined ? undefined : to, start.below)
    if (start.note !== undefined) process.stderr.write(`${start.note[0]?.toUpperCase()}${start.note.slice(1)}\n`)
    // The entries open() would give; all readable ones when it would refuse the log.
    const kept = log.outcome.kind === 'plan' ? new Set(log.outcome.kept.map((segment) => segment.name)) : undefined
    const out: string[] = []
    for (const scan of log.scans) {
      const wanted = kept === undefined || kept.has(scan.file) ? scan.frames.filter((frame) => frame.index >= from && frame.index <= to) : []
      if (wanted.length === 0) continue
      withFileBytes(scan.path, (bytes) => {
        for (const frame of wanted) {
          const start = frame.offset + frameHeaderSizeBytes
          out.push(format(frame, bytes.subarray(start, start + frame.length), style))
          if (out.length >= 1000) process.stdout.write(`${out.splice(0).join('\n')}\n`)
        }
      })
    }
    if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`)
    // Damaged entries were left out: say so, loudly.
    const [first, ...more] = log.problems
    if (first !== undefined) {
      throw new RaftLogError(
        'ERR_CORRUPT',
        `${first.file} is damaged at byte ${first.offset}${first.index === undefined ? '' : ` (index ${first.index})`}: ${first.problem}; what it holds there was not printed${more.length > 0 ? ` (${more.length} more problems)` : ''}: run raftlog verify ${dir}`,
        { dir },
      )
    }
    return 0
  },
}

/** dump of one group of an engine directory: its entries as opening the engine gives them. */
function dumpEngineGroup(dir: string, group: number, from: number, to: number, style: string): number {
  const out: string[] = []
  const { check, firstIndex, lastIndex } = readEngineEntries(dir, group, from, to, (entry) => {
    out.push(format({ index: entry.index, term: entry.term, type: entry.type, length: entry.data.length }, entry.data, style))
    if (out.length >= 1000) process.stdout.write(`${out.splice(0).join('\n')}\n`)
  })
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`)
  const [first] = check.problems
  if (first !== undefined) throw new RaftLogError('ERR_CORRUPT', `${first.file} is damaged at byte ${first.offset}: ${first.problem}; group ${group}'s records after it were not read: run raftlog verify ${dir}`, { dir })
  const span = lastIndex < firstIndex ? 'it holds no entry' : `it holds ${firstIndex}..${lastIndex}`
  if (out.length === 0 && lastIndex >= firstIndex && (from > lastIndex || to < firstIndex)) throw new UsageError(`--from and --to ask for no entry of group ${group}: ${span}`)
  return 0
}
