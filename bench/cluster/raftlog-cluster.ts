// Three `raftlog node` processes (dist/cli/main.js) on 127.0.0.1 from a temporary YAML
// configuration with the default settings (durable flushes), and a ClusterClient.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parentPipeVariable } from '../../src/cli/parent-pipe.js'
import { KvClient } from '../../src/kv/kv-client.js'
import { defaultClusterSettings } from '../../src/net/config/cluster-config.js'
import { encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import { packageRoot } from '../../src/package-root.js'
import { freePorts } from './free-port.js'
import { operationTimeoutMs, startupTimeoutMs, type KvCluster } from './kv-cluster.js'
import type { ServerProcesses } from './server-processes.js'

const nodeIds = [1, 2, 3]

/** With `profileDir`, every node writes a V8 CPU profile (.cpuprofile) there when it stops. */
export async function startRaftlogCluster(servers: ServerProcesses, dir: string, profileDir?: string): Promise<KvCluster> {
  const cli = join(packageRoot(import.meta.url), 'dist', 'cli', 'main.js')
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build:ts (npm run bench:cluster does it first)`)
  mkdirSync(dir, { recursive: true })
  const ports = await freePorts(nodeIds.length)
  const config = join(dir, 'cluster.yaml')
  const nodes = nodeIds.map((id, i) => `  - { node_id: ${id}, ip_address: "127.0.0.1", port: ${ports[i]} }`)
  writeFileSync(config, `nodes:\n${nodes.join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n`)
  // The parent pipe stops a node cleanly when this driver dies in any way, kill -9 included.
  const env = { ...process.env, [parentPipeVariable]: '1' }
  const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
  const processes = nodeIds.map((id) =>
    servers.start(`raftlog node ${id}`, process.execPath, [...profile, cli, 'node', '--node-id', String(id), '--config', config], join(dir, `node_${id}.log`), { env, stdinPipe: true }),
  )
  const endpoints = ports.map((port) => `127.0.0.1:${port}`)
  // raftlog's best setup, as etcd's: reads at the leader (found by the first put), one hop.
  const client = new KvClient(endpoints, nodeIds, { reads: 'leader' })
  const put = (key: string, value: string): Promise<unknown> => client.propose(encodeKvCommand({ op: 'put', key, value }), operationTimeoutMs)
  try {
    // The client itself waits for a leader, up to its timeout.
    await client.propose(encodeKvCommand({ op: 'put', key: 'bench-ready', value: 'x' }), startupTimeoutMs)
  } catch (error) {
    servers.assertAlive()
    throw new Error(`The raftlog cluster did not commit a first put within ${startupTimeoutMs} ms (logs in ${dir}): ${(error as Error).message}`)
  }
  const { heartbeat_interval: heartbeatMs, election_timeout_range: election } = defaultClusterSettings
  return {
    system: 'raftlog',
    description:
      `3 \`raftlog node\` processes, default settings (gRPC, durable flushes, heartbeat ${heartbeatMs} ms, election timeout ${election.min}–${election.max} ms); ` +
      'one KvClient (a ClusterClient: one client session) shared by every client loop, every call at the leader (reads too: KvClient option reads: \'leader\'); gets by ClusterClient.read (ReadIndex, linearizable), ranges by KvClient.range (etcd\'s Range, after a ReadIndex), txns by KvClient.txn (one log entry, in the session)',
    pids: processes.map((server) => server.pid),
    put,
    get: (key) => client.read(key, operationTimeoutMs),
    range: (key) => client.range({ key }, operationTimeoutMs),
    txn: async (key, value) => {
      const outcome = await client.txn({ compare: [{ key, target: 'value', result: 'equal', operand: value }], success: [{ put: { key, value } }] }, operationTimeoutMs)
      if (!outcome.succeeded) throw new Error(`the compare of ${key} failed`)
    },
    async etcdApi() {
      // A node serves etcd's API on its own port.
      const leader = (await client.statuses(operationTimeoutMs)).find((status) => status.role === 'leader')
      if (leader === undefined || leader.id === null) throw new Error('raftlog names no leader')
      return { leader: endpoints[nodeIds.indexOf(leader.id)] as string, members: endpoints }
    },
    async leader() {
      const leader = (await client.statuses(operationTimeoutMs)).find((status) => status.role === 'leader')
      return leader === undefined ? 'none' : `node ${leader.id}`
    },
    close: () => client.close(),
  }
}
