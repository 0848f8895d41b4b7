// Turns results into the Markdown table, the JSON file and the SVG chart of ratios.
import type { CaseResult } from './side-by-side.js'
import type { MachineLimits } from './machine-limits.js'
import type { RaftlogOnlyResults } from './raftlog-only.js'
import { manyGroupsMarkdown, type ManyGroupsRow } from './many-groups.js'

export interface BenchReport {
  date: string
  command: string
  node: string
  machine: MachineLimits
  cases: CaseResult[]
  raftlogOnly: RaftlogOnlyResults | undefined
  /** The shared log engine against one RaftLog per group (many-groups.ts). */
  manyGroups?: ManyGroupsRow[] | undefined
}

function number(value: number): string {
  if (!Number.isFinite(value)) return '-'
  if (value >= 100) return Math.round(value).toLocaleString('en-US')
  if (value >= 1) return value.toFixed(2)
  return value.toPrecision(2)
}

/** raftlog's entries/s over each peer's, case by case. */
export function ratios(cases: CaseResult[]): { case: string; peer: string; ratio: number }[] {
  const out: { case: string; peer: string; ratio: number }[] = []
  for (const name of [...new Set(cases.map((c) => c.case))]) {
    const rows = cases.filter((c) => c.case === name)
    const ours = rows.find((c) => c.engine === 'raftlog')
    if (ours === undefined) continue
    for (const peer of rows) if (peer.engine !== 'raftlog') out.push({ case: name, peer: peer.engine, ratio: ours.entriesPerSecond / peer.entriesPerSecond })
  }
  return out
}

export function markdown(report: BenchReport): string {
  const lines = [
    `Command: \`${report.command}\` (${report.date}, Node ${report.node})`,
    '',
    '| case | engine | entries/s | MB/s | p50 ms | p99 ms | write amp. | raftlog × |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const ratioOf = new Map(ratios(report.cases).map((r) => [`${r.case}|${r.peer}`, r.ratio]))
  for (const row of report.cases) {
    const ratio = row.engine === 'raftlog' ? '' : `${number(ratioOf.get(`${row.case}|${row.engine}`) ?? Number.NaN)}×`
    const amplification = row.writeAmplification === undefined ? '' : number(row.writeAmplification)
    lines.push(`| ${row.case} | ${row.engine} | ${number(row.entriesPerSecond)} | ${number(row.megabytesPerSecond)} | ${number(row.p50Ms)} | ${number(row.p99Ms)} | ${amplification} | ${ratio} |`)
  }
  const m = report.machine
  lines.push(
    '',
    'Latency: per batch for appends (append and, when durable, its flush); for gets, the mean per get over iterations of 1000 gets. Write amp.: bytes the process sent toward the device (/proc/self/io write_bytes, the journal aside) per payload byte appended.',
    '',
    `Machine: fdatasync of 4 KiB appended to a growing file p50 ${number(m.fdatasync4KiBp50Ms)} ms, p99 ${number(m.fdatasync4KiBp99Ms)} ms; of 4 KiB into a block written before (the floor) p50 ${number(m.fdatasyncWritten4KiBp50Ms ?? Number.NaN)} ms, p99 ${number(m.fdatasyncWritten4KiBp99Ms ?? Number.NaN)} ms; sequential write ${number(m.sequentialWriteMBps)} MB/s; buffered writes into a new file (new page-cache pages) ${number(m.pageCacheFirstGBps ?? Number.NaN)} GB/s over the first 256 MiB, ${number(m.pageCacheSlowestGBps ?? Number.NaN)} GB/s over the slowest; memcpy ${number(m.memcpyGBps)} GB/s; CRC-32 ${m.crc32
      .map((c) => `${c.implementation} ${c.bytes >= 1024 * 1024 ? '1 MiB' : `${c.bytes} B`} ${number(c.GBps)} GB/s`)
      .join(', ')}.`,
  )
  const r = report.raftlogOnly
  if (r !== undefined) {
    lines.push(
      '',
      `raftlog only: open of a cleanly closed ${number(r.logBytes / 2 ** 20)} MiB log (${r.segments} segments) ${number(r.openCleanMs)} ms; ` +
        `open after a crash tore its open segment ${number(r.openAfterCrashMs)} ms (cut ${r.cutBytesAfterCrash} bytes); ` +
        `truncateAfter (up to 1000 entries back) ${number(r.truncateAfterMs)} ms; compact of one segment ${number(r.compactMs)} ms; ` +
        `index memory ${number(r.indexBytesPerEntry)} bytes per entry over ${r.indexEntries.toLocaleString('en-US')} entries; ` +
        `one 100 B entry made durable p50 ${number(r.flushSyncP50Ms)} ms with flushSync(), ${number(r.flushAsyncP50Ms)} ms with flush() (fdatasync on the thread pool).` +
        (r.steadyEntriesPerSecond === undefined
          ? ''
          : ` Steady state (1 KiB × 1,024 durable, ${number((r.steadySegmentBytes ?? 0) / 2 ** 20)} MiB segments compacted behind to the last two): ${number(r.steadyEntriesPerSecond)} entries/s, write amplification ${number(r.steadyWriteAmplification ?? Number.NaN)}.`),
    )
  }
  if (report.manyGroups !== undefined) {
    lines.push(
      '',
      'Many groups, one node: each turn every group appends one 100 B entry, then the turn is made durable: the engine with one flush for all groups, one RaftLog per group with every log\'s flush (their fdatasyncs overlapping on the thread pool).',
      '',
      manyGroupsMarkdown(report.manyGroups),
    )
  }
  return lines.join('\n')
}

/** Horizontal bars of log2(ratio) around the 1× line: right of it raftlog is faster. */
export function svg(report: BenchReport): string {
  const rows = ratios(report.cases)
  const rowHeight = 16
  const labelWidth = 420
  const chartWidth = 420
  const maxLog = Math.max(1, ...rows.map((r) => Math.abs(Math.log2(r.ratio))).filter(Number.isFinite))
  const scale = chartWidth / 2 / maxLog
  const center = labelWidth + chartWidth / 2
  const height = rows.length * rowHeight + 50
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + chartWidth + 80}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="8" y="16" font-size="13" font-weight="bold">raftlog entries/s ÷ peer entries/s (log scale; right of the line raftlog is faster)</text>`,
    `<line x1="${center}" y1="26" x2="${center}" y2="${height - 8}" stroke="#333"/>`,
  ]
  rows.forEach((row, i) => {
    const y = 30 + i * rowHeight
    const length = Math.log2(row.ratio) * scale
    const x = length >= 0 ? center : center + length
    const color = row.ratio >= 1 ? '#2a7' : '#d54'
    parts.push(
      `<text x="8" y="${y + 11}">${escapeXml(`${row.case} vs ${row.peer}`)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y + 2}" width="${Math.max(1, Math.abs(length)).toFixed(1)}" height="${rowHeight - 4}" fill="${color}"/>`,
      `<text x="${(length >= 0 ? center + length + 4 : center + 4).toFixed(1)}" y="${y + 11}">${row.ratio.toFixed(2)}×</text>`,
    )
  })
  parts.push('</svg>')
  return parts.join('\n')
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
