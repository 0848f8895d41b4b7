// The chart of ops/s per case, raftlog's bar beside etcd's, drawn as SVG text from the results
// the way bench/report.ts draws the storage bench's chart (no charting package is used).
import { summarize, type ClusterBenchReport } from './report.js'
import type { SystemName } from './kv-cluster.js'
import { caseName } from './workload.js'

const labelWidthPx = 250
const plotWidthPx = 520
const valueWidthPx = 150
const barHeightPx = 12
const caseGapPx = 10
const topPx = 54
const bottomPx = 30
const colors: Record<SystemName, string> = { raftlog: '#2f6db5', etcd: '#e0892b' }

/** Horizontal bars on a log scale: the mean over rounds, a whisker from the lowest to the highest round. */
export function clusterChartSvg(report: ClusterBenchReport): string {
  const cases = summarize(report)
  const systems = (['raftlog', 'etcd'] as const).filter((system) => cases.some((c) => c.opsPerSecond[system] !== undefined))
  const values = cases.flatMap((c) => systems.flatMap((system) => [c.opsPerSecond[system]?.min, c.opsPerSecond[system]?.max])).filter((v): v is number => v !== undefined && v > 0)
  const lowDecade = Math.floor(Math.log10(Math.min(...values)))
  const highDecade = Math.max(lowDecade + 1, Math.ceil(Math.log10(Math.max(...values))))
  const x = (value: number): number => labelWidthPx + ((Math.log10(value) - lowDecade) / (highDecade - lowDecade)) * plotWidthPx
  const groupHeight = systems.length * barHeightPx + caseGapPx
  const height = topPx + cases.length * groupHeight + bottomPx
  const width = labelWidthPx + plotWidthPx + valueWidthPx
  const rounds = report.settings.rounds
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="16" font-size="13" font-weight="bold">${escapeXml(`Cluster ops/s per case, ${systems.join(' vs ')} (3 members each, same machine, log scale)`)}</text>`,
    `<text x="8" y="32">${escapeXml(`Bar: mean over ${rounds} round${rounds === 1 ? '' : 's'}; whisker: lowest to highest round; (×): raftlog's mean ÷ etcd's. ${report.date.slice(0, 10)}, \`${report.command}\``)}</text>`,
  ]
  systems.forEach((system, i) => {
    const legendX = labelWidthPx + plotWidthPx - 150 + i * 75
    parts.push(`<rect x="${legendX}" y="38" width="10" height="10" fill="${colors[system]}"/>`, `<text x="${legendX + 14}" y="47">${system}</text>`)
  })
  for (let decade = lowDecade; decade <= highDecade; decade++) {
    const gridX = x(10 ** decade).toFixed(1)
    parts.push(
      `<line x1="${gridX}" y1="${topPx - 4}" x2="${gridX}" y2="${height - bottomPx + 4}" stroke="#ddd"/>`,
      `<text x="${gridX}" y="${height - bottomPx + 16}" text-anchor="middle">${(10 ** decade).toLocaleString('en-US')}</text>`,
    )
  }
  parts.push(`<text x="${labelWidthPx + plotWidthPx / 2}" y="${height - 4}" text-anchor="middle">operations per second</text>`)
  cases.forEach((c, i) => {
    const groupY = topPx + i * groupHeight
    const clients = `${c.clients} ${c.operation === 'watch' ? 'watcher' : 'client'}${c.clients === 1 ? '' : 's'}`
    parts.push(`<text x="8" y="${groupY + (systems.length * barHeightPx) / 2 + 4}">${escapeXml(`${caseName(c)}, ${clients}`)}</text>`)
    systems.forEach((system, j) => {
      const stats = c.opsPerSecond[system]
      if (stats === undefined) return
      const barY = groupY + j * barHeightPx
      const middle = barY + barHeightPx / 2
      const etcd = c.opsPerSecond.etcd
      const ratio = system === 'raftlog' && etcd !== undefined ? ` (${(stats.mean / etcd.mean).toFixed(2)}×)` : ''
      parts.push(
        `<rect x="${labelWidthPx}" y="${barY + 1}" width="${Math.max(1, x(stats.mean) - labelWidthPx).toFixed(1)}" height="${barHeightPx - 2}" fill="${colors[system]}"/>`,
        `<line x1="${x(stats.min).toFixed(1)}" y1="${middle}" x2="${x(stats.max).toFixed(1)}" y2="${middle}" stroke="#222"/>`,
        `<text x="${(x(stats.max) + 4).toFixed(1)}" y="${barY + barHeightPx - 2}">${escapeXml(`${Math.round(stats.mean).toLocaleString('en-US')}${ratio}`)}</text>`,
      )
    })
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
