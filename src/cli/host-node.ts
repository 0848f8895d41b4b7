// `raftlog node` for a many-group cluster (--groups, or cluster_settings.groups): starts the
// sharded key-value host and says what it does, in the same events as a one-group node (`serving`
// is what raftlog cluster waits for), until Ctrl-C, SIGTERM or the end of raftlog cluster.
import type { ClusterConfig } from '../net/config/cluster-config.js'
import { hostDirectory, startShardedKvNode } from '../kv/sharded/sharded-kv-node.js'
import { catalogGroup } from '../host/group-catalog.js'
import type { Logger } from '../observe/logger.js'
import type { HostMetricsServer } from '../observe/host-metrics-server.js'
import { plaintextWarning, unauthenticatedClientsWarning } from '../net/server/plaintext-warning.js'
import { onParentGone } from './parent-pipe.js'
import { untilStopped } from './until-stopped.js'
import { plural } from './plural.js'

/** How often the node says which groups it leads, when that changed (ms). */
const leadersReportMs = 2000

/** `settings.join` and `joining`: as startShardedKvNode's (a node joining a running cluster). */
export async function runHostNode(cluster: ClusterConfig, nodeId: number, settings: { groups: number; replication?: number; join?: string; joining?: boolean }, logger: Logger): Promise<number> {
  const log = logger.info
  const address = cluster.nodes.find((node) => node.nodeId === nodeId)?.address
  const founding = settings.join !== undefined ? 'joining a running cluster' : settings.joining === true ? 'a node that joined the cluster before' : `${settings.groups} key-value groups at founding, ${settings.replication ?? cluster.replication ?? 'up to 3'} replicas each`
  log('starting', `starting node ${nodeId} at ${address} with many groups: ${founding}${cluster.commitDelayMs === undefined || cluster.commitDelayMs === 0 ? '' : `, a commit delay of ${cluster.commitDelayMs} ms`}; engine in ${hostDirectory(cluster, nodeId)}`, { address, groups: settings.groups })
  if (settings.join !== undefined) log('joining', `asking ${settings.join} to take node ${nodeId} into the cluster (asked again at every start with --join: harmless once taken); up to 30 s while the cluster elects a leader`, { join: settings.join })
  // prom-client is loaded only for a node that serves metrics.
  const listed = cluster.nodes.find((node) => node.nodeId === nodeId)
  const server = await startShardedKvNode(cluster, nodeId, { ...settings, log: (message) => logger.warn('waiting', message) })
  if (settings.join !== undefined) log('joined', `the cluster took node ${nodeId}: it gets the group catalog, and groups can be created on it or moved to it (raftlog group move G --from ID --to ${nodeId})`, { join: settings.join })
  let metrics: HostMetricsServer | undefined
  try {
    if (listed?.metricsPort !== undefined) metrics = await (await import('../observe/host-metrics-server.js')).HostMetricsServer.listen(listed.ipAddress, listed.metricsPort, server.host)
  } catch (error) {
    await server.stop()
    throw error
  }
  // The one-group node's warnings (node.ts): who may call this port, when other machines may reach it.
  const plaintext = listed === undefined ? undefined : plaintextWarning(cluster, listed)
  if (plaintext !== undefined) logger.warn('plaintext', plaintext)
  const unauthenticated = listed === undefined ? undefined : unauthenticatedClientsWarning(cluster, listed)
  if (unauthenticated !== undefined) logger.warn('unauthenticated-clients', unauthenticated)
  log('serving', `serving Raft and clients at ${address}${metrics === undefined ? '' : `; metrics at ${metrics.url}/metrics`}`, { address, metricsUrl: metrics?.url })
  let reported = ''
  let foundingChecked = false
  const report = setInterval(() => {
    // --groups and --replication found a cluster; later starts take the catalog's word: say so when they differ.
    if (!foundingChecked && server.catalog.founded) {
      foundingChecked = true
      const shards = server.catalog.view().shards
      if (shards !== settings.groups) logger.warn('groups', `the cluster's group catalog holds ${shards} key-value groups, founded earlier: ${settings.groups} (--groups or cluster_settings.groups) counts only when a cluster is founded; raftlog group create adds groups`, { catalogShards: shards, groups: settings.groups })
    }
    const data = server.host.groups.filter((group) => group !== catalogGroup)
    const leading = data.filter((group) => server.host.leaderOf(group) === nodeId).length
    const line = `${plural(data.length, 'group')} here, leading ${leading}${server.host.leaderOf(catalogGroup) === nodeId ? ', and the catalog' : ''}`
    if (line === reported) return
    reported = line
    log('groups', line, { groups: data.length, leading })
  }, leadersReportMs)
  let finish: (status: number) => void = () => {}
  const finished = new Promise<number>((resolve) => (finish = resolve))
  let stopping = false
  const stop = (reason: string): void => {
    if (stopping) return
    stopping = true
    clearInterval(report)
    log('stopping', `stopping on ${reason}`)
    Promise.all([server.stop(), metrics?.close()]).then(
      () => finish(server.host.failure === undefined ? 0 : 1),
      (error: Error) => {
        logger.error('error', `could not stop cleanly: ${error.message}`)
        finish(1)
      },
    )
  }
  const signals = new AbortController()
  void untilStopped(signals.signal).then(stop)
  const releaseStdin = onParentGone(() => stop('the end of raftlog cluster'))
  const status = await finished
  signals.abort()
  releaseStdin()
  log('stopped', `node ${nodeId} stopped`)
  return status
}
