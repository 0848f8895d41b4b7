// One cluster of `raftlog node` processes for a whole test file: started before its first test,
// killed and removed after its last (tempDir() would remove the directory after the first test).
import { afterAll, beforeAll } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exited, startNode, statuses, waitFor, writeConfig, type NodeProcess, type StatusLine } from './processes.js'

export interface FileCluster {
  dir: string
  /** The configuration file's path. */
  config: string
  ports: number[]
  /** By node id - 1; a test that kills one may put a new process in its place. */
  nodes: NodeProcess[]
  /** The leader once the cluster first elected one. */
  leader: StatusLine
}

/** Registers the hooks; the fields are filled in once beforeAll ran. */
export function clusterForFile(prefix: string, size = 3, settings: Record<string, string | number> = {}): FileCluster {
  const cluster = { nodes: [] as NodeProcess[] } as unknown as FileCluster
  beforeAll(async () => {
    cluster.dir = mkdtempSync(join(tmpdir(), prefix))
    const written = await writeConfig(cluster.dir, size, settings)
    cluster.config = written.path
    cluster.ports = written.ports
    for (let id = 1; id <= size; id++) cluster.nodes.push(startNode(cluster.config, id))
    cluster.leader = await waitFor('a leader', async () => (await statuses(cluster.config)).find((s) => s.reachable && s.role === 'leader'))
  })
  afterAll(async () => {
    for (const node of cluster.nodes) node.child.kill('SIGKILL')
    await Promise.all(cluster.nodes.map((node) => exited(node.child)))
    rmSync(cluster.dir, { recursive: true, force: true })
  })
  return cluster
}
