import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { loadClusterConfig, type NodeConfig } from '../../net/config/cluster-config.js'
import { ClusterClient } from '../../net/client/cluster-client.js'
import { parentPipeVariable } from '../parent-pipe.js'
import { RestartBackoff, restartMaxMs, restartMinMs, restartStableMs } from '../restart-backoff.js'
import { relayNodeOutput } from '../node-output.js'
import { portFrom } from '../port-option.js'
import { damagedExitStatus, removedExitStatus } from '../exit-status.js'
import { createLogger, logFormats, type LogFormat, type Logger } from '../../observe/logger.js'
import { DashboardServer, defaultDashboardPort } from '../../observe/dashboard-server.js'
import { maxCatalogGroups } from '../../host/group-catalog.js'
import { wholeNumberOption } from '../whole-number-option.js'
import { watchHostLeaders } from '../watch-host-leaders.js'
import { adminFrom } from '../host-admin.js'
import { plural } from '../plural.js'
import { nodesWithPortInUse } from '../ports-in-use.js'
import { RaftLogError } from '../../errors.js'

const help = `Usage: raftlog cluster [--config FILE] [--restart] [--log-format text|json] [--dashboard-port P]
                      [--groups N [--replication R]]

Starts every node of the configuration as a child process on this machine (raftlog node -n ID),
shows their log lines, says when each serves and who leads whenever that changes, warns when
fewer than a majority of the nodes are running, serves a status page of the cluster (the same
as raftlog dashboard), and stops them all on Ctrl-C. A node that dies stays down unless
--restart is given; to bring one back by hand, run raftlog node -n ID -c FILE in another
terminal: it recovers its log and catches up.

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --restart                start a node again when it exits on its own (a crash, kill -9, a
                           storage failure), after a pause: ${restartMinMs / 1000} s, doubling up to ${restartMaxMs / 1000} s
                           while it keeps dying within ${restartStableMs / 1000} s of its start; not a
                           node that was removed, nor one whose directory is damaged (its error
                           says how to repair it)
  --log-format F           text (default): lines with their time; json: one JSON object per
                           line, the nodes' and the cluster's own (pino)
  --dashboard-port P       the status page's port on 127.0.0.1 (default ${defaultDashboardPort}; 0: any
                           free port); when it is taken the cluster runs without the page
  --groups N               many Raft groups per node (default: cluster_settings.groups, else one
                           group): the key-value store sharded over N groups, each on R nodes,
                           leaders spread over the nodes; raftlog group list|create|remove then
                           manage the groups, raftlog status shows groups and leaders per node,
                           and the status page the groups held and led per node
  --replication R          with --groups: replicas per group, 1 to the number of nodes
                           (default: cluster_settings.replication, else 3 or every node)
  -h, --help               show this help

Examples (the first is what npm start runs):
  raftlog cluster --config cluster_config.yaml
  raftlog cluster --restart
  raftlog cluster --groups 64
Then, in another terminal:
  raftlog kv put greeting hello
  raftlog kv get greeting
  raftlog status
and open the dashboard's address (printed at start) in a browser.`

const mainPath = fileURLToPath(new URL('../main.js', import.meta.url))
const leaderPollMs = 500
/** How often to check whether every node has exited on its own. */
const watchdogMs = 200

/** A warning when the running nodes cannot elect a leader or commit anything. */
/** How long a node port that is taken may take to be free before the cluster is refused (ms): a cluster stopped just before frees its ports within a few seconds. */
const portsFreeWaitMs = 5000

function checkQuorum(logger: Logger, running: number, total: number): void {
  const majority = Math.floor(total / 2) + 1
  if (running > 0 && running < majority) logger.warn('no-quorum', `no quorum: ${running} of ${total} nodes running`, { running, total })
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'Start every node of a configuration on this machine and watch the leader',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, restart: { type: 'boolean' }, 'log-format': { type: 'string' }, 'dashboard-port': { type: 'string' }, groups: { type: 'string' }, replication: { type: 'string' } },
      strict: true,
    })
    const format = (values['log-format'] ?? 'text') as LogFormat
    if (!logFormats.includes(format)) throw new UsageError(`--log-format must be text or json, got '${format}'`)
    const dashboardPort = values['dashboard-port'] === undefined ? defaultDashboardPort : portFrom(values['dashboard-port'], '--dashboard-port')
    const configPath = values.config ?? 'cluster_config.yaml'
    const cluster = loadClusterConfig(configPath)
    const groups = values.groups === undefined ? cluster.groups : wholeNumberOption(values.groups, '--groups', 1, maxCatalogGroups)
    const replication = values.replication === undefined ? cluster.replication : wholeNumberOption(values.replication, '--replication', 1, cluster.nodes.length)
    if (groups === undefined && replication !== undefined) throw new UsageError('--replication needs --groups (or cluster_settings.groups): it is the replicas per group of a many-group cluster')
    if (groups === undefined && cluster.commitDelayMs !== undefined) throw new UsageError(`cluster_settings.commit_delay_ms in ${cluster.path} needs --groups (or cluster_settings.groups): it is a many-group node's commit delay`)
    // The nodes take the same settings as this process: given on their command lines, whatever the file says.
    const manyGroups = groups === undefined ? [] : ['--groups', String(groups), ...(replication === undefined ? [] : ['--replication', String(replication)])]
    const inUse = await nodesWithPortInUse(cluster.nodes, portsFreeWaitMs)
    if (inUse.length > 0) {
      const ports = inUse.map((node) => `node ${node.nodeId}'s ${node.address}`).join(', ')
      throw new RaftLogError('EADDRINUSE', `${ports} ${inUse.length === 1 ? 'is' : 'are'} in use already: is this cluster running already (\`raftlog status -c ${configPath}\`)? Stop what listens there, or give the nodes other ports in ${cluster.path}`)
    }
    const logger = createLogger(format, { cluster: true })
    logger.info('starting', `starting ${plural(cluster.nodes.length, 'node')} from ${cluster.path}${groups === undefined ? '' : ` with ${plural(groups, 'key-value group')}`}; Ctrl-C stops them all`, { config: cluster.path, groups })
    const children = new Map<number, ChildProcess>()
    /** Nodes waiting for their restart, with its timer. */
    const restarts = new Map<number, NodeJS.Timeout>()
    const backoffs = new Map(cluster.nodes.map((node) => [node.nodeId, new RestartBackoff()]))
    let stopping = false
    const startNode = (node: NodeConfig): void => {
      // stdin stays an open pipe: its end tells the node this process is gone, even after a kill -9.
      // The node logs JSON whatever this process shows: its events say when it serves. Its own
      // process group: a terminal's Ctrl-C reaches only this process, which stops each node with
      // one signal; a node that got the Ctrl-C too took this one's SIGTERM as a second signal
      // and exited at once, without its graceful stop (nor its "stopped" line).
      const child = spawn(process.execPath, [mainPath, 'node', '--node-id', String(node.nodeId), '--config', configPath, '--log-format', 'json', ...manyGroups], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, [parentPipeVariable]: '1' },
      })
      const startedAt = Date.now()
      children.set(node.nodeId, child)
      logger.info('process', `node ${node.nodeId} is process ${child.pid}`, { nodeId: node.nodeId, pid: child.pid })
      relayNodeOutput(child, node.nodeId, format, (record) => {
        // Only once the node has bound its port: a node that cannot bind never serves.
        if (record.event === 'serving') logger.info('serving', `node ${node.nodeId} serving ${node.address}`, { nodeId: node.nodeId, address: node.address })
      })
      // 'close', not 'exit': once its output has been read to the end, so that a stopping
      // cluster prints every node's last lines (its "stopped") before it exits itself.
      child.on('close', (code, signal) => {
        children.delete(node.nodeId)
        if (stopping) return
        const removed = code === removedExitStatus
        const damaged = code === damagedExitStatus
        // Exit 0 on its own: stopped by a signal from elsewhere.
        if (removed) logger.info('exited', `node ${node.nodeId} stopped: it was removed from the cluster, or its id was refused (not restarted: node ids are never reused)`, { nodeId: node.nodeId, code, signal })
        else if (damaged) logger.error('exited', `node ${node.nodeId} stopped: its directory is damaged (not restarted: it would fail again; see its error above for raftlog verify and raftlog repair)`, { nodeId: node.nodeId, code, signal })
        else if (code === 0) logger.info('exited', `node ${node.nodeId} stopped (code 0)`, { nodeId: node.nodeId, code, signal })
        else logger.error('exited', `node ${node.nodeId} exited (${signal ?? `code ${code}`})`, { nodeId: node.nodeId, code, signal })
        checkQuorum(logger, children.size, cluster.nodes.length)
        if (values.restart !== true || removed || damaged) return
        const pauseMs = (backoffs.get(node.nodeId) as RestartBackoff).next(Date.now() - startedAt)
        logger.warn('restarting', `restarting node ${node.nodeId} in ${pauseMs / 1000} s`, { nodeId: node.nodeId, pauseMs })
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
    // A many-group cluster: the watcher says who leads how many groups, and the page is the groups' one.
    const hostsWatch = groups === undefined ? undefined : watchHostLeaders(cluster, logger)
    // With peer_tls, the configuration's client_tls certificate (if any) is the watcher's.
    const client = groups === undefined ? ClusterClient.forCluster(cluster) : undefined
    const admin = groups === undefined ? undefined : adminFrom({ config: configPath }, leaderPollMs)
    const pageOptions = { host: '127.0.0.1', port: dashboardPort, title: `raftlog cluster ${cluster.path}` }
    const dashboard = await (admin === undefined ? DashboardServer.start(client as ClusterClient, pageOptions) : DashboardServer.startGroups(admin, pageOptions)).then(
      (server) => {
        logger.info('dashboard', `dashboard at ${server.url}`, { url: server.url })
        return server
      },
      // The page is a convenience: the nodes run without it.
      (error: Error) => {
        logger.warn('dashboard', `no dashboard: ${error.message} (choose another port with --dashboard-port)`)
        return undefined
      },
    )
    let leader = 0
    const poll = setInterval(() => {
      client?.statuses(leaderPollMs).then((statuses) => {
        const current = statuses.find((s) => s.reachable && s.role === 'leader')
        const id = current?.id ?? 0
        if (id !== leader) {
          leader = id
          if (id === 0) logger.info('no-leader', 'no leader at the moment')
          else logger.info('leader', `node ${id} leads (term ${current?.term}) at ${current?.address}`, { leaderId: id, term: current?.term })
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
        void dashboard?.close()
        client?.close()
        admin?.close()
        hostsWatch?.stop()
        logger.info('stopping', 'stopping every node')
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
          logger.error('all-exited', 'every node has exited')
          stop()
        }
      }, watchdogMs)
    })
    return byUser ? 0 : 1
  },
}
