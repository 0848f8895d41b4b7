import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { checkLogDirectory, scanSegment, segmentFiles, withFileBytes, type FrameInfo } from '../log-reader.js'
import { frameHeaderSizeBytes } from '../../storage/segment-format.js'

const help = `Usage: raftlog dump DIR [--from I] [--to J] [--format text|json|hex]

Prints the entries of a log directory, one per line (hex: one block each). Never changes the
directory; refuses one that a running node has locked.

Options:
  --from I        first index to print (default: the first entry)
  --to J          last index to print, inclusive (default: the last entry)
  --format F      text (default): index, term, type, length and the payload as UTF-8 when it is
                  printable, else base64;
                  json: one JSON object per line {index, term, type, length, data (base64)};
                  hex: a header line, then a hexdump of the payload
  -h, --help      show this help

Example:
  raftlog dump ./raft_logs/node_1 --from 100 --to 120 --format json`

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

function format(frame: FrameInfo, data: Uint8Array, style: string): string {
  const type = typeNames[frame.type] ?? String(frame.type)
  const payload = Buffer.from(data.buffer, data.byteOffset, data.length)
  if (style === 'json') {
    return JSON.stringify({ index: frame.index, term: frame.term, type, length: frame.length, data: payload.toString('base64') })
  }
  const head = `${frame.index}\tterm ${frame.term}\t${type}\t${frame.length} bytes`
  if (style === 'hex') return data.length === 0 ? head : `${head}\n${hexdump(data)}`
  const text = payload.toString('utf8')
  return `${head}\t${isPrintable(text) ? JSON.stringify(text) : `base64:${payload.toString('base64')}`}`
}

/** An index asked for outside the log is a mistake worth saying, not an empty answer. */
function checkRange(dir: string, files: string[], from: number | undefined, to: number | undefined): void {
  if (from === undefined && to === undefined) return
  const first = files.length === 0 ? undefined : scanSegment(dir, files[0] as string, files.length === 1)
  const last = files.length === 0 ? undefined : scanSegment(dir, files[files.length - 1] as string, true)
  const firstIndex = first?.frames[0]?.index ?? first?.baseIndex ?? 1
  const lastIndex = last?.frames.at(-1)?.index ?? (last === undefined ? 0 : last.baseIndex - 1)
  const span = lastIndex < firstIndex ? 'the log is empty' : `the log holds ${firstIndex}..${lastIndex}`
  for (const [flag, index] of [['--from', from], ['--to', to]] as const) {
    if (index !== undefined && (index < firstIndex || index > lastIndex)) throw new UsageError(`${flag} ${index} is outside the log: ${span}`)
  }
}

export const dumpCommand: Command = {
  name: 'dump',
  summary: 'Print the entries of a log directory as text, JSON lines or hex (read-only)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('dump takes exactly one directory')
    const style = values.format ?? 'text'
    if (style !== 'text' && style !== 'json' && style !== 'hex') throw new UsageError(`--format must be text, json or hex, got '${style}'`)
    const from = parseIndex('--from', values.from) ?? 0
    const to = parseIndex('--to', values.to) ?? Number.MAX_SAFE_INTEGER
    if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`)
    checkLogDirectory(dir)
    const files = segmentFiles(dir)
    checkRange(dir, files, values.from === undefined ? undefined : from, values.to === undefined ? undefined : to)
    const out: string[] = []
    files.forEach((file, position) => {
      const scan = scanSegment(dir, file, position === files.length - 1)
      const wanted = scan.frames.filter((frame) => frame.index >= from && frame.index <= to)
      if (wanted.length === 0) return
      withFileBytes(join(dir, file), (bytes) => {
        for (const frame of wanted) {
          const start = frame.offset + frameHeaderSizeBytes
          out.push(format(frame, bytes.subarray(start, start + frame.length), style))
          if (out.length >= 1000) process.stdout.write(`${out.splice(0).join('\n')}\n`)
        }
      })
    })
    if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`)
    return 0
  },
}
