// Draws the chart of a saved cluster benchmark again, from its JSON, beside it.
// Run: npm run bench:cluster:chart -- bench/results/cluster-<date>.json
import { readFileSync, writeFileSync } from 'node:fs'
import { clusterChartSvg } from './cluster/chart.js'
import type { ClusterBenchReport } from './cluster/report.js'

const path = process.argv[2]
if (path === undefined || !path.endsWith('.json')) {
  console.error('Usage: npm run bench:cluster:chart -- bench/results/cluster-<date>.json (writes the .svg beside it)')
  process.exitCode = 2
} else {
  const report = JSON.parse(readFileSync(path, 'utf8')) as ClusterBenchReport
  const svgPath = path.replace(/\.json$/, '.svg')
  writeFileSync(svgPath, clusterChartSvg(report))
  console.error(`wrote ${svgPath}`)
}
