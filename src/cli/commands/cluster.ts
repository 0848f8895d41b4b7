import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Command } from '../command.js'
import { loadClusterConfig, type NodeConfig } from '../../net/cluster-config.js'
import { ClusterClient } from '../../net/cluster-client.js'
import { parentPipeVariable } from '../parent-pipe.js'
import { RestartBackoff, restartMaxMs, restartMinMs, restartStableMs } from '../restart-backoff.js'

const help = `Usage: raftlog cluster [--config FILE] [--restart]

Starts every node of the configuration as a child process on this machine (raftlog node -n ID),
shows their status lines, prints who leads whenever that changes, and stops them all on Ctrl-C.
A node that dies stays down unless --restart is given; to bring one back by hand, run
raftlog node -n ID -c FILE in another terminal: it recovers its log and catches up.

Options:
  -c, --config FILE   the cluster configuration (default: cluster_config.yaml)
  --restart           start a node again when it exits on its own (a crash, kill -9, a storage
                      failure), after a pause: ${restartMinMs / 1000} s, doubling up to ${restartMaxMs / 1000} s while it keeps
                      dying within ${restartStableMs / 1000} s of its start
  -h, --help          show this help

Examples (the first is what npm start runs):
  raftlog cluster --config cluster_config.yaml
  raftlog cluster --restart
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
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, restart: { type: 'boolean' } }, strict: true })
    const configPath = values.config ?? 'cluster_config.yaml'
    const cluster = loadClusterConfig(configPath)
    console.log(`starting ${cluster.nodes.length} nodes from ${cluster.path}; Ctrl-C stops them all`)
    const children = new Map<number, ChildProcess>()
    /** Nodes waiting for their restart, with its timer. */
    const restarts = new Map<number, NodeJS.Timeout>()
    const backoffs = new Map(cluster.nodes.map((node) => [node.nodeId, new RestartBackoff()]))
    let stopping = false
    const startNode = (node: NodeConfig): void => {
      // stdin stays an open pipe: its end tells the node this process is gone, even after a kill -9.
      const child = spawn(process.execPath, [mainPath, 'node', '--node-id', String(node.nodeId), '--config', configPath], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, [parentPipeVariable]: '1' },
      })
      const startedAt = Date.now()
      children.set(node.nodeId, child)
      console.log(`cluster: node ${node.nodeId} is process ${child.pid}, serving ${node.address}`)
      createInterface({ input: child.stdout! }).on('line', (line) => console.log(line))
      createInterface({ input: child.stderr! }).on('line', (line) => console.error(`[node ${node.nodeId}] ${line}`))
      child.on('exit', (code, signal) => {
        children.delete(node.nodeId)
        if (stopping) return
        console.error(`[node ${node.nodeId}] exited (${signal ?? `code ${code}`})`)
        if (values.restart !== true) return
        const pauseMs = (backoffs.get(node.nodeId) as RestartBackoff).next(Date.now() - startedAt)
        console.error(`cluster: restarting node ${node.nodeId} in ${pauseMs / 1000} s`)
        restarts.set(
          node.nodeId,
          setTimeout(() => {
            restarts.delete(node.nodeId)
            if (!stopping) startNode(node)
          }, pauseMs),
        )
      })
    }
    for (const node of cluster.nodes) startNode(node)
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
        for (const timer of restarts.values()) clearTimeout(timer)
        restarts.clear()
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
      // If every node died on its own (a bad config, a taken port) and none will restart, stop too.
      watchdog = setInterval(() => {
        if (children.size === 0 && restarts.size === 0) {
          console.error('cluster: every node has exited')
          stop()
        }
      }, watchdogMs)
    })
    return byUser ? 0 : 1
  },
}
