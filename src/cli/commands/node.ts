import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { loadClusterConfig, nodeNotFound } from '../../net/config/cluster-config.js'
import { startKvNodeServer } from '../../kv/kv-node-server.js'
import { plaintextWarning, unauthenticatedClientsWarning } from '../../net/server/plaintext-warning.js'
import { onParentGone } from '../parent-pipe.js'
import { createLogger, logFormats, type LogFormat } from '../../observe/logger.js'
import { decodeConfiguration, describeConfiguration, type Configuration } from '../../raft/core/configuration.js'
import { isHostPort } from '../../net/config/host-port.js'
import { joinTimeoutMs, unlistedNode } from '../../net/server/joining.js'
import { hostDirectory } from '../../kv/sharded/sharded-kv-node.js'
import { existsSync } from 'node:fs'
import { stateFileName } from '../../storage/raft-state-file.js'
import { RaftLogError } from '../../errors.js'
import { checkStateFile } from '../../verify/state-check.js'
import type { ClusterConfig } from '../../net/config/cluster-config.js'
import { damagedExitStatus, removedExitStatus } from '../exit-status.js'
import { runHostNode } from '../host-node.js'
import { maxCatalogGroups, maxNodeId } from '../../host/group-catalog.js'
import { wholeNumberOption } from '../whole-number-option.js'
import { plural } from '../plural.js'

const help = `Usage: raftlog node --node-id ID [--config FILE] [--log-format text|json]
       raftlog node --node-id ID --listen HOST:PORT --join ADDRESS [--config FILE]

Runs one node of the cluster described by the configuration file: its log and state live in
<log_directory>/node_<ID>/, and it serves Raft and clients on its ip_address:port, and
/metrics, /healthz and /readyz over HTTP on its metrics_port when one is set. Stops cleanly on
Ctrl-C (SIGINT) or SIGTERM; a leader hands leadership over first, so the cluster goes on
without waiting for an election timeout. A node removed from the cluster (raftlog member remove)
stops by itself with exit status ${removedExitStatus}, also when it was down during its removal (the members tell
it when it comes back); node ids are never reused, so bring the machine back under a new one. A
many-group node refused its id (ERR_ID_IN_USE: it ran before and lost its directory, say) exits
with the same status. A node whose directory is damaged (ERR_CORRUPT when it opens it) changes
nothing, names the directory and exits with status ${damagedExitStatus}: see the damage with raftlog verify
DIR, cut the log at it with raftlog repair DIR.
The same port serves etcd's v3 API (KV, Watch, Lease, Cluster, Maintenance.Status and
Snapshot, v3lock, v3election), so ETCDCTL_API=3 etcdctl --endpoints=IP:PORT,... put, get, del,
txn, watch, lease, lock, elect, member and compaction work against the cluster; a write sent to a
follower is forwarded to the leader (README: "Using raftlog as a coordination service").
A node whose disk fills does not stop: it pauses (a disk-full warning; raftlog status says DISK
FULL), appends and acknowledges nothing, and goes on by itself once space is freed.

The nodes of the configuration file found a new cluster at their first start. After that the
membership lives in the cluster's log; to add a node to a running cluster, start it with --join
and the address of any member: it asks to be added as a learner (a member that gets the log but
does not vote), catches up, and can then be made a voter with raftlog member promote ID. The
file still gives the settings (log_directory, timings); the new node need not be listed in it
(then --listen says where it serves, also at its later restarts).

With cluster_settings.peer_tls the port speaks mutual TLS: the node reads its certificate and key
(which must name it as raftlog://node/ID) before it binds, and takes Raft messages only from
certificates of the cluster CA, each for the node it names; client_tls adds TLS for clients.
Without them it serves plaintext, and warns once when that address is not a loopback one.

With --groups N (or cluster_settings.groups in the file) the node runs many Raft groups instead
of one: the key-value store sharded over groups 1..N, each group on --replication R of the nodes
(default 3), a catalog group on every node that says which groups exist (raftlog group), and its
engine in <log_directory>/host_<ID>/. Every node of the cluster must be given the same N and R
(raftlog cluster --groups N does that); they found the cluster's catalog at the first start, and
later starts take the catalog's word. A many-group cluster takes a new node with --join and
--listen too: the catalog takes it (every node sends to it, groups can be created on it or moved
to it with raftlog group move) and it gets the catalog as a learner; it needs no --join at its
restarts (harmless if given). A node that ran in the cluster and starts again with a new
directory is refused (it lost the votes it gave): bring the machine back under a new id. cluster_settings.commit_delay_ms (0 to 1000, default 0) in
the file sets its commit delay: fewer disk flushes with many busy groups, for some latency.
README: "Running many groups from the command line".

Options:
  -n, --node-id ID        this node's node_id in the configuration
  --groups N              many groups: the key-value store over N groups (1 to 100000)
  --replication R         with --groups: replicas per group, 1 to the number of nodes (default 3,
                          or every node when there are fewer)
  -c, --config FILE       the cluster configuration (default: cluster_config.yaml)
  --join ADDRESS          host:port of a member of a running cluster to join, as a learner
                          (ignored once the node's directory belongs to a cluster; with
                          --groups, asked again, which is harmless once taken)
  --listen HOST:PORT      where this node serves, when it is not in the configuration file,
                          or serves elsewhere than the file says (moved: raftlog member update)
  --log-format F          text (default): a line per event, with its time; json: one JSON
                          object per line (pino: level, time, nodeId, event, message)
  -h, --help              show this help

Examples:
  raftlog node -n 1 -c cluster_config.yaml
  raftlog node -n 4 --listen 127.0.0.1:18004 --join 127.0.0.1:18001
  raftlog node -n 4 --groups 64 --listen 127.0.0.1:18004 --join 127.0.0.1:18001`


export const nodeCommand: Command = {
  name: 'node',
  summary: 'Run one node of a cluster (gRPC) from a YAML configuration',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { 'node-id': { type: 'string', short: 'n' }, config: { type: 'string', short: 'c' }, 'log-format': { type: 'string' }, join: { type: 'string' }, listen: { type: 'string' }, groups: { type: 'string' }, replication: { type: 'string' } },
      strict: true,
    })
    if (values['node-id'] === undefined) throw new UsageError('--node-id is required')
    if (!/^\d+$/.test(values['node-id']) || Number(values['node-id']) < 1 || Number(values['node-id']) > maxNodeId) throw new UsageError(`--node-id must be a whole number from 1 to ${maxNodeId}, got '${values['node-id']}'`)
    if (values.listen !== undefined && !isHostPort(values.listen)) throw new UsageError(`--listen must be HOST:PORT (e.g. 127.0.0.1:18004), got '${values.listen}'`)
    const format = (values['log-format'] ?? 'text') as LogFormat
    if (!logFormats.includes(format)) throw new UsageError(`--log-format must be text or json, got '${format}'`)
    const nodeId = Number(values['node-id'])
    const cluster = loadClusterConfig(values.config ?? 'cluster_config.yaml')
    const logger = createLogger(format, { nodeId })
    const log = logger.info
    const groups = values.groups === undefined ? cluster.groups : wholeNumberOption(values.groups, '--groups', 1, maxCatalogGroups)
    const replication = values.replication === undefined ? cluster.replication : wholeNumberOption(values.replication, '--replication', 1, cluster.nodes.length)
    if (groups === undefined && replication !== undefined) throw new UsageError('--replication needs --groups (or cluster_settings.groups): it is the replicas per group of a many-group cluster')
    if (groups === undefined && cluster.commitDelayMs !== undefined) throw new UsageError(`cluster_settings.commit_delay_ms in ${cluster.path} needs --groups (or cluster_settings.groups): it is a many-group node's commit delay`)
    if (values.join !== undefined && !isHostPort(values.join)) throw new UsageError(`--join must be host:port of a member, got '${values.join}'`)
    // Started as the other kind, the node would make a new, empty directory beside its own and wait for a cluster that never answers.
    const hostDir = hostDirectory(cluster, nodeId)
    const nodeDir = join(cluster.logDirectory, `node_${nodeId}`)
    if (groups === undefined && existsSync(hostDir)) {
      throw new UsageError(`node ${nodeId} ran as a node of many groups (its engine is ${hostDir}): start it as it ran, with --groups N (and --replication R) as given to raftlog cluster, or set cluster_settings.groups in ${cluster.path}`)
    }
    if (groups !== undefined && existsSync(join(nodeDir, stateFileName)) && !existsSync(hostDir)) {
      throw new UsageError(`node ${nodeId} ran as a node of one group (its log is ${nodeDir}): start it without --groups (and without cluster_settings.groups in ${cluster.path}), or give a many-group cluster another log_directory`)
    }
    if (groups !== undefined) {
      const listed = cluster.nodes.find((node) => node.nodeId === nodeId)
      if (listed !== undefined && values.listen !== undefined && values.listen !== listed.address) throw new UsageError(`--listen ${values.listen}: node ${nodeId} serves at ${listed.address} in ${cluster.path}; a many-group node listed there serves at that address`)
      // A node the file does not list joins (--join) or joined before (its directory says so).
      const joined = listed === undefined && existsSync(hostDirectory(cluster, nodeId))
      const self = listed ?? unlistedNode(cluster, nodeId, values.listen, values.join === undefined && !joined)
      const settings = { groups, ...(replication === undefined ? {} : { replication }), ...(values.join === undefined ? {} : { join: values.join }), joining: listed === undefined || values.join !== undefined }
      try {
        return await runHostNode(listed === undefined ? { ...cluster, nodes: [...cluster.nodes, self] } : cluster, nodeId, settings, logger)
      } catch (error) {
        // Its id can never run here again (a lost directory, a founder's id): a supervisor must not start it again.
        const code = (error as RaftLogError).code
        if (code === 'ERR_CORRUPT') return damaged(error, hostDir)
        if (code !== 'ERR_ID_IN_USE' && !(code === 'ERR_JOIN' && /ERR_ID_IN_USE/.test((error as Error).message))) throw error
        console.error(`Error: ${code === 'ERR_ID_IN_USE' ? 'ERR_ID_IN_USE: ' : ''}${(error as Error).message}`)
        return removedExitStatus
      }
    }
    const listed = cluster.nodes.find((node) => node.nodeId === nodeId)
    const address = values.listen ?? listed?.address
    if (address === undefined && values.join === undefined) throw notListed(cluster, nodeId, nodeDir)
    if (address === undefined) throw new UsageError(`node ${nodeId} is not in ${cluster.path}: --join needs --listen HOST:PORT, where this node serves`)
    log('starting', `starting node ${nodeId} at ${address}${values.join === undefined ? '' : `, joining through ${values.join}`}`, { address, join: values.join })
    if (values.join !== undefined) log('joining', `asking ${values.join} to add node ${nodeId} as a learner (unless its directory already belongs to a cluster); up to ${joinTimeoutMs / 1000} s while the cluster elects a leader`, { join: values.join })
    log('configuration', `configuration ${cluster.path}: ${plural(cluster.nodes.length, 'node')} (${cluster.nodes.map((n) => `${n.nodeId}@${n.address}`).join(', ')}), election timeout ${cluster.electionTimeout[0]}-${cluster.electionTimeout[1]} ms, heartbeat ${cluster.heartbeatInterval} ms, log in ${cluster.logDirectory}`)
    // prom-client is loaded only for a node that serves metrics.
    const metricsHook = { listen: async (host: string, port: number, id: number) => (await import('../../observe/metrics-server.js')).MetricsServer.listen(host, port, id) }
    let server: Awaited<ReturnType<typeof startKvNodeServer>>
    try {
      server = await startKvNodeServer(cluster, nodeId, { warn: (message) => logger.warn('warning', message) }, { address, metrics: metricsHook, ...(values.join === undefined ? {} : { join: values.join }) })
    } catch (error) {
      if ((error as RaftLogError).code === 'ERR_CORRUPT') return damaged(error, nodeDir)
      throw error
    }
    const { node, config } = server
    const plaintext = plaintextWarning(cluster, config)
    if (plaintext !== undefined) logger.warn('plaintext', plaintext)
    const unauthenticated = unauthenticatedClientsWarning(cluster, config)
    if (unauthenticated !== undefined) logger.warn('unauthenticated-clients', unauthenticated)
    const metrics = server.metricsUrl === undefined ? '' : `; metrics, health and readiness at ${server.metricsUrl}/metrics, /healthz, /readyz`
    log('serving', `serving Raft and clients at ${config.address}${metrics}`, { address: config.address, metricsUrl: server.metricsUrl })
    node.on('role', ({ role, term, candidacy }: { role: string; term: number; candidacy?: string }) => {
      if (role === 'leader') log('election-won', `election won: leader for term ${term}`, { role, term })
      // A pre-vote keeps the term: the node moves to term + 1 only once a majority says it could
      // win (saying "term + 1" without "pre-vote" made the term seem to go back when it failed).
      else if (candidacy === 'pre-vote') log('pre-vote', `pre-vote: no leader heard in term ${term}; asking the others before campaigning for term ${term + 1}`, { role, term, candidacy })
      else if (candidacy === 'transfer') log('candidate', `candidate for term ${term}: the leader handed leadership over (no pre-vote)`, { role, term, candidacy })
      else if (role === 'candidate') log('candidate', `candidate for term ${term}: asking for votes`, { role, term, candidacy })
      else log('role', `now ${role} in term ${term}`, { role, term })
    })
    node.on('leader', ({ leaderId, term }: { leaderId: number; term: number }) => {
      if (leaderId !== 0 && leaderId !== nodeId) log('leader', `leader is node ${leaderId} (term ${term})`, { leaderId, term })
    })
    node.on('snapshot', ({ index, term, from }: { index: number; term: number; from: number }) => {
      if (from === 0) log('snapshot', `snapshot taken up to index ${index} (term ${term})`, { index, term })
      else log('snapshot-installed', `installed a snapshot up to index ${index} (term ${term}) from node ${from}`, { index, term, from })
    })
    node.on('paused', ({ reason, leader, handingOverTo }: { reason: string; leader: boolean; handingOverTo: number }) => {
      const lead = leader ? `; it refuses proposals (ERR_DISK_FULL)${handingOverTo === 0 ? '' : ` and hands leadership to node ${handingOverTo}`}` : '; its leader sees a slow follower'
      logger.warn('disk-full', `disk full: writes paused (${reason})${lead}; it answers no appends until there is room, and looks for room by itself: free space on the disk of ${join(cluster.logDirectory, `node_${nodeId}`)}`, { reason, leader, handingOverTo })
    })
    node.on('resumed', ({ pausedMs }: { pausedMs: number }) => {
      log('disk-space', `disk space is back: writes resumed after ${(pausedMs / 1000).toFixed(1)} s`, { pausedMs })
    })
    node.on('logFull', ({ logBytes, maxLogBytes }: { logBytes: number; maxLogBytes: number }) => {
      logger.warn('log-full', `the log holds ${logBytes} bytes, at max_log_bytes (${maxLogBytes}): new writes are refused (ERR_LOG_FULL) until a snapshot lets it be compacted (one is taken now)`, { logBytes, maxLogBytes })
    })
    node.on('configuration', ({ index, configuration }: { index: number; configuration: Configuration }) => {
      log('membership', `membership at index ${index}: ${describeConfiguration(configuration)}`, { index, voters: configuration.voters, outgoing: configuration.outgoing, learners: configuration.learners })
    })
    const status = node.status()
    log('started', `node ${nodeId} ready: term ${status.term}, log ${status.firstIndex}..${status.lastIndex}`, { ...status })
    let finish: (status: number) => void = () => {}
    const finished = new Promise<number>((resolve) => (finish = resolve))
    let stopping = false
    const stop = (reason: string, status: number): void => {
      // Ctrl-C under `raftlog cluster` brings both the terminal's SIGINT and the parent's SIGTERM,
      // and a second Ctrl-C more: the handlers stay until the node has stopped, so no signal's
      // default action kills it halfway.
      if (stopping) return
      stopping = true
      log('stopping', `stopping on ${reason}`)
      server.stop().then(
        () => finish(status),
        (error: Error) => {
          logger.error('error', `could not stop cleanly: ${error.message}`)
          finish(1)
        },
      )
    }
    const onSigint = (): void => stop('SIGINT', 0)
    const onSigterm = (): void => stop('SIGTERM', 0)
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
    // A node whose storage failed can do nothing more: exit non-zero so a supervisor restarts it.
    node.on('failed', (error: Error) => stop(`a storage failure: ${error.message}`, 1))
    // Removed from the cluster: nothing more to do here (its directory stays, for inspection), and
    // a supervisor must not start it again (raftlog cluster --restart does not).
    node.on('removed', ({ index, by }: { index: number; by?: number }) =>
      stop(`removal from the cluster (${by === undefined ? `configuration at index ${index}` : `node ${by} says so`}); node ids are never reused: to bring the machine back, join it under a new node id (--join)`, removedExitStatus),
    )
    if (node.wasRemoved) stop(`removal from the cluster: its log says it was removed (configuration at index ${node.status().configurationIndex}); node ids are never reused: to bring the machine back, join it under a new node id (--join)`, removedExitStatus)
    if (node.failed !== undefined) stop(`a storage failure: ${node.failed.message}`, 1)
    const releaseStdin = onParentGone(() => stop('the end of raftlog cluster', 0))
    const exitStatus = await finished
    process.removeListener('SIGINT', onSigint)
    process.removeListener('SIGTERM', onSigterm)
    releaseStdin()
    log('stopped', `node ${nodeId} stopped`)
    return exitStatus
  },
}

/**
 * nodeNotFound, or, for a node that joined the cluster before (its directory records its
 * address in the configuration it last committed), the --listen to start it with.
 */
function notListed(cluster: ClusterConfig, nodeId: number, dir: string): RaftLogError {
  let recorded: string | undefined
  try {
    const data = checkStateFile(dir).current?.state.configuration?.data
    recorded = data === undefined ? undefined : decodeConfiguration(data).addresses[nodeId]
  } catch {
    recorded = undefined
  }
  if (recorded === undefined || recorded === '') return nodeNotFound(cluster, nodeId)
  return new RaftLogError(
    'ERR_CONFIG',
    `Node ID ${nodeId} not found in configuration file ${cluster.path}, but its directory ${dir} says it joined the cluster, at ${recorded} when it last ran: start it with --listen ${recorded} (a node that joined is not in the file, and is given its address at every start; the new one if raftlog member update moved it since)`,
    { nodeId, file: cluster.path },
  )
}

/**
 * A node whose directory is damaged: says where, that nothing was changed, and what to run; exits
 * with damagedExitStatus, which `raftlog cluster --restart` does not restart (it would fail again).
 */
function damaged(error: unknown, dir: string): number {
  console.error(
    `Error: ERR_CORRUPT: ${(error as Error).message} (in ${dir}). Nothing was changed. \`raftlog verify ${dir}\` lists the damage; \`raftlog repair ${dir}\` cuts the log at it, after copying what it changes beside it, and the node then gets the entries it lost back from its leader.`,
  )
  return damagedExitStatus
}
