import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { checkLogDirectory, checkNeighbours, scanSegment, segmentFiles, type Problem, type SegmentScan } from '../log-reader.js'

const help = `Usage: raftlog verify DIR [--json]

Reads every frame of every segment in DIR and checks header checksums, frame checksums, that each
frame holds index base + position, sealed segments' offset tables, that segments follow each
other without gaps, previous terms, and that terms never go back. Never changes the directory;
refuses one that a running node has locked.

Non-zero bytes after the last valid frame of the open (last) segment are normal after a crash:
they are reported as information (recovery cuts them), not as a problem.

Options:
  --json       print the result as JSON
  -h, --help   show this help

Exit status: 0 when clean, 1 when a problem was found (or DIR cannot be read), 2 on bad usage.

Example:
  raftlog verify ./raft_logs/node_1`

export interface VerifyResult {
  dir: string
  ok: boolean
  segments: number
  entries: number
  firstIndex: number | undefined
  lastIndex: number | undefined
  tailBytes: number
  problems: Problem[]
}

export function verifyDirectory(dir: string, onSegment?: (done: number, total: number) => void): VerifyResult {
  checkLogDirectory(dir)
  const files = segmentFiles(dir)
  const scans: SegmentScan[] = []
  const problems: Problem[] = []
  files.forEach((file, position) => {
    const scan = scanSegment(dir, file, position === files.length - 1)
    const previous = scans.at(-1)
    if (previous !== undefined && !scan.resetBase) problems.push(...checkNeighbours(previous, scan))
    problems.push(...scan.problems)
    scans.push(scan)
    onSegment?.(position + 1, files.length)
  })
  const entries = scans.reduce((sum, scan) => sum + scan.frames.length, 0)
  const first = scans[0]
  const last = scans.at(-1)
  return {
    dir,
    ok: problems.length === 0,
    segments: scans.length,
    entries,
    firstIndex: first?.baseIndex,
    lastIndex: last === undefined ? undefined : last.baseIndex + last.frames.length - 1,
    tailBytes: last?.tailBytes ?? 0,
    problems,
  }
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Check every frame, checksum and segment of a log directory (read-only)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('verify takes exactly one directory')
    const progress = process.stderr.isTTY === true && values.json !== true
    const result = verifyDirectory(dir, (done, total) => {
      if (progress) process.stderr.write(`\rverifying segment ${done}/${total}${done === total ? '\n' : ''}`)
    })
    if (values.json === true) {
      console.log(JSON.stringify(result, null, 2))
    } else {
      for (const p of result.problems) console.log(`${p.file}: byte ${p.offset}${p.index === undefined ? '' : ` (index ${p.index})`}: ${p.problem}`)
      const range = result.entries === 0 ? 'empty' : `${result.firstIndex}..${result.lastIndex}`
      const tail = result.tailBytes > 0 ? `; ${result.tailBytes} bytes after the last entry would be cut by recovery` : ''
      console.log(
        result.ok
          ? `ok: ${result.segments} segments, ${result.entries} entries (${range})${tail}`
          : `${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${result.segments} segments, ${result.entries} readable entries${tail}`,
      )
    }
    return result.ok ? 0 : 1
  },
}
