// A local 3-process cluster over gRPC with durable flushes: committed writes per second and
// linearizable reads (ReadIndex, any node) per second, with latency, at 1, 16 and 128 concurrent
// clients. Run: npm run bench:cluster [-- --seconds 5]
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ClusterClient } from '../src/net/cluster-client.js'
import { encodeKvCommand } from '../src/net/kv-state-machine.js'
import { packageRoot } from '../src/package-root.js'
import { percentile } from './stats.js'

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as { port: number }
      server.close(() => resolve(address.port))
    })
  })
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' } } })
  const seconds = Number(values.seconds ?? 3)
  const root = mkdtempSync(join(tmpdir(), 'raftlog-cluster-bench-'))
  const ports = [await freePort(), await freePort(), await freePort()]
  const config = join(root, 'cluster.yaml')
  writeFileSync(config, `nodes:\n${ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port} }`).join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n`)
  const cli = join(packageRoot(import.meta.url), 'dist', 'cli', 'main.js')
  const nodes: ChildProcess[] = [1, 2, 3].map((id) => spawn(process.execPath, [cli, 'node', '-n', String(id), '-c', config], { stdio: 'ignore' }))
  const client = new ClusterClient(ports.map((port) => `127.0.0.1:${port}`))
  try {
    await client.propose(encodeKvCommand({ op: 'put', key: 'warm-up', value: 'x' }), 20_000)
    console.log(`3 raftlog node processes on 127.0.0.1, gRPC, durable flushes, kv put of a 100 B value / linearizable kv get, ${seconds} s per row (Node ${process.version})\n`)
    console.log('| operation | concurrent clients | ops/s | latency p50 ms | latency p99 ms |')
    console.log('| --- | ---: | ---: | ---: | ---: |')
    const value = 'v'.repeat(100)
    for (const operation of ['put', 'get'] as const) {
      for (const clients of [1, 16, 128]) {
        const latencies: number[] = []
        const deadline = performance.now() + seconds * 1000
        const started = performance.now()
        await Promise.all(
          Array.from({ length: clients }, async (_, worker) => {
            for (let n = 0; performance.now() < deadline; n++) {
              const begun = performance.now()
              if (operation === 'put') await client.propose(encodeKvCommand({ op: 'put', key: `k${worker}-${n}`, value }), 10_000)
              else await client.read(`k${worker}-${n % 100}`, 10_000)
              latencies.push(performance.now() - begun)
            }
          }),
        )
        const elapsed = (performance.now() - started) / 1000
        console.log(`| ${operation} | ${clients} | ${Math.round(latencies.length / elapsed).toLocaleString('en-US')} | ${percentile(latencies, 0.5).toFixed(2)} | ${percentile(latencies, 0.99).toFixed(2)} |`)
      }
    }
  } finally {
    client.close()
    for (const node of nodes) node.kill('SIGTERM')
    await Promise.all(nodes.map((node) => new Promise((resolve) => (node.exitCode !== null ? resolve(null) : node.on('exit', resolve)))))
    rmSync(root, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
