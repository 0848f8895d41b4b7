// Cluster identity with real processes: two clusters founded from the same file (the quick start
// run twice) get different ids once their first leaders chose the random part, and a node
// directory copied from one into the other is refused at start instead of churning terms among
// strangers.
import { afterEach, describe, expect, it } from 'vitest'
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { loadClusterConfig } from '../../src/net/config/cluster-config.js'
import { deriveClusterId } from '../../src/raft/node/cluster-identity.js'
import { votersOnly } from '../../src/raft/core/configuration.js'

const nodes: NodeProcess[] = []
afterEach(() => {
  for (const node of nodes.splice(0)) node.child.kill('SIGKILL')
})

/** Starts nodes 1-3 of `config`, waits for a leader and a committed cluster token; returns the cluster id. */
async function found(config: string): Promise<string> {
  const started = [1, 2, 3].map((id) => startNode(config, id))
  nodes.push(...started)
  // Three processes starting on a loaded machine can take longer than kv's 5 s without a leader.
  await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
  const written = await runCli(['kv', 'put', 'k', 'v', '--config', config])
  expect(written).toMatchObject({ status: 0, stdout: 'OK\n' })
  // Until its token is committed a cluster's id is its founding id (the same for one file).
  const cluster = loadClusterConfig(config)
  const foundingId = deriveClusterId(votersOnly([1, 2, 3], Object.fromEntries(cluster.nodes.map((node) => [node.nodeId, node.address]))))
  return waitFor('every node to know the same random cluster id', async () => {
    const ids = new Set((await statuses(config)).map((s) => (s as unknown as { clusterId?: string }).clusterId))
    const [id] = [...ids]
    return ids.size === 1 && id !== undefined && id !== foundingId ? id : undefined
  })
}

async function stopAll(): Promise<void> {
  for (const node of nodes) node.child.kill('SIGTERM')
  await Promise.all(nodes.map((node) => exited(node.child)))
  nodes.splice(0)
}

describe('cluster identity', () => {
  it('two clusters founded from the same file differ, and a directory copied across is refused at start', async () => {
    const dir = tempDir('raftlog-identity-')
    const { path: config } = await writeConfig(dir, 3)
    const first = await found(config)
    await stopAll()
    // The same file, founded again in another log directory: the same node list and addresses.
    cpSync(join(dir, 'logs'), join(dir, 'logs-a'), { recursive: true })
    rmSync(join(dir, 'logs'), { recursive: true })
    const second = await found(config)
    expect(second).not.toBe(first)
    expect(second).toMatch(/^[0-9a-f]{32}$/)
    // Node 3 of the second cluster is replaced by node 3's directory of the first.
    const third = nodes[2]!
    third.child.kill('SIGTERM')
    await exited(third.child)
    rmSync(join(dir, 'logs', 'node_3'), { recursive: true })
    cpSync(join(dir, 'logs-a', 'node_3'), join(dir, 'logs', 'node_3'), { recursive: true })
    const copied = startNode(config, 3)
    nodes.push(copied)
    expect(await exited(copied.child)).toBe(1)
    const said = copied.output.join('\n')
    expect(said).toContain(`belongs to cluster ${first}, but node`)
    expect(said).toContain(`belongs to cluster ${second}`)
    // inspect names the directory's cluster too.
    const inspect = await runCli(['inspect', join(dir, 'logs-a', 'node_3')])
    expect(inspect.stdout).toContain(`cluster ${first}`)
  }, 90_000)
})
