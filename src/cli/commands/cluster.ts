import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Command } from '../command.js'
import { loadClusterConfig } from '../../net/cluster-config.js'
import { ClusterClient } from '../../net/cluster-client.js'
import { parentPipeVariable } from '../parent-pipe.js'

const help = `Usage: raftlog cluster [--config FILE]

Starts every node of the configuration as a child process on this machine (raftlog node -n ID),
shows their status lines, prints who leads whenever that changes, and stops them all on Ctrl-C.

Options:
  -c, --config FILE   the cluster configuration (default: cluster_config.yaml)
  -h, --help          show this help

Example (what npm start runs):
  raftlog cluster --config cluster_config.yaml
Then, in another terminal:
  raftlog kv put greeting hello
  raftlog kv get greeting
  raftlog status`

const mainPath = fileURLToPath(new URL('../main.js', import.meta.url))
const leaderPollMs = 500
/** How often to check whether every node has exited on its own. */
const watchdogMs = 200

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'Start every node of a configuration on this machine and watch the leader',
  help,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true })
    const configPath = values.config ?? 'cluster_config.yaml'
    const cluster = loadClusterConfig(configPath)
    console.log(`starting ${cluster.nodes.length} nodes from ${cluster.path}; Ctrl-C stops them all`)
    const children = new Map<number, ChildProcess>()
    let stopping = false
    for (const node of cluster.nodes) {
      // stdin stays an open pipe: its end tells the node this process is gone, even after a kill -9.
      const child = spawn(process.execPath, [mainPath, 'node', '--node-id', String(node.nodeId), '--config', configPath], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, [parentPipeVariable]: '1' },
      })
      children.set(node.nodeId, child)
      console.log(`cluster: node ${node.nodeId} is process ${child.pid}, serving ${node.address}`)
      createInterface({ input: child.stdout! }).on('line', (line) => console.log(line))
      createInterface({ input: child.stderr! }).on('line', (line) => console.error(`[node ${node.nodeId}] ${line}`))
      child.on('exit', (code, signal) => {
        children.delete(node.nodeId)
        if (!stopping) console.error(`[node ${node.nodeId}] exited (${signal ?? `code ${code}`})`)
      })
    }
    const client = new ClusterClient(
      cluster.nodes.map((node) => node.address),
      cluster.nodes.map((node) => node.nodeId),
    )
    let leader = 0
    const poll = setInterval(() => {
      client.statuses(leaderPollMs).then((statuses) => {
        const current = statuses.find((s) => s.reachable && s.role === 'leader')
        const id = current?.id ?? 0
        if (id !== leader) {
          leader = id
          console.log(id === 0 ? 'cluster: no leader at the moment' : `cluster: node ${id} leads (term ${current?.term}) at ${current?.address}`)
        }
      }, () => {})
    }, leaderPollMs)
    let byUser = false
    await new Promise<void>((resolve) => {
      let watchdog: NodeJS.Timeout | undefined
      const stop = (): void => {
        if (stopping) return
        stopping = true
        clearInterval(poll)
        clearInterval(watchdog)
        // A second Ctrl-C then ends this process at once, as a user pressing it again expects.
        process.removeListener('SIGINT', stopByUser)
        process.removeListener('SIGTERM', stopByUser)
        client.close()
        console.log('stopping every node')
        for (const child of children.values()) child.kill('SIGTERM')
        const check = setInterval(() => {
          if (children.size === 0) {
            clearInterval(check)
            resolve()
          }
        }, 50)
      }
      const stopByUser = (): void => {
        byUser = true
        stop()
      }
      process.on('SIGINT', stopByUser)
      process.on('SIGTERM', stopByUser)
      // If every node died on its own (a bad config, a taken port), stop too.
      watchdog = setInterval(() => {
        if (children.size === 0) {
          console.error('cluster: every node has exited')
          stop()
        }
      }, watchdogMs)
    })
    return byUser ? 0 : 1
  },
}
