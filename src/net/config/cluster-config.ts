// The cluster's YAML configuration: its nodes and settings, checked field by field. Errors name
// the file and the field.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { parse } from 'yaml'
import { RaftLogError } from '../../errors.js'
import { invalid, record } from './config-fields.js'
import { defaultSegmentSizeBytes, maxSegmentSizeBytes } from '../../storage/segment-format.js'
import { defaultSnapshotThreshold, defaultSnapshotTrailingEntries } from '../../raft/node/node-options.js'
import { defaultElectionTimeoutMs, defaultHeartbeatIntervalMs } from '../../raft/node/node-options.js'
import { clientTlsSettings, peerTlsSettings, type ClientTlsSettings, type PeerTlsSettings } from './tls-settings.js'
import { defaultMaxKeyBytes, defaultMaxRequestBytes, maxCommandBytes, minRequestBytes } from './request-limits.js'
import { connectionLimitsSettings, type ConnectionLimits } from './connection-limits.js'
import { defaultSnapshotStallTimeoutMs } from '../../raft/node/snapshot-inbox.js'
import { maxCatalogGroups } from '../../host/group-catalog.js'

export { invalid, record } from './config-fields.js'

export interface NodeConfig {
  nodeId: number
  ipAddress: string
  port: number
  /** ip_address:port */
  address: string
  /** HTTP port of /metrics, /healthz and /readyz on ip_address; undefined: not served. */
  metricsPort?: number
}

export interface ClusterConfig {
  path: string
  nodes: NodeConfig[]
  /** Absolute: a relative log_directory is taken relative to the configuration file. */
  logDirectory: string
  logSegmentSize: number
  maxEntriesPerQuery: number
  electionTimeout: [number, number]
  heartbeatInterval: number
  /** Entries applied since the last snapshot that trigger a new one. */
  snapshotThreshold: number
  /** Entries kept in the log behind a snapshot. */
  snapshotTrailingEntries: number
  /** Largest client command or read query a node takes, in bytes. */
  maxRequestBytes: number
  /** A leader refuses writes once its log holds this many bytes (ERR_LOG_FULL); 0: no ceiling. */
  maxLogBytes?: number
  /** Largest key of the key-value store, in bytes. */
  maxKeyBytes: number
  /** A snapshot being received that gets no chunk for this long is given up and its partial file deleted (ms). */
  snapshotStallTimeoutMs?: number
  /** Connections to each node's port (connection-limits.ts); default: defaultConnectionLimits. */
  connectionLimits?: ConnectionLimits
  /** Mutual TLS between nodes (tls-settings.ts); undefined: plaintext. */
  peerTls?: PeerTlsSettings
  /** TLS for clients on the same port (needs peerTls); undefined: clients need no certificate. */
  clientTls?: ClientTlsSettings
  /**
   * Part of a new cluster's founding id (etcd's --initial-cluster-token): clusters founded from
   * the same node list under different names never take each other's messages, even before
   * their first leader chose the random part of their ids. '' when not set.
   */
  clusterName: string
  /**
   * Many groups per node (RaftHost): the sharded key-value store over groups 1..groups, founded
   * with them; undefined: one Raft group (RaftNode), as without the setting.
   */
  groups?: number
  /**
   * Replicas per group of a many-group cluster (1 to the number of nodes; default 3, capped at the
   * nodes). Taken without `groups` in the file, for nodes started with --groups; a one-group node
   * refuses it.
   */
  replication?: number
  /** A many-group node's commit delay in ms (RaftHostOptions.commitDelayMs; 0 to 1000, default 0: off); as `replication`, for --groups too. */
  commitDelayMs?: number
  /** How often the leader checkpoints what leases have left (ms; lease-clock.ts); 0: never. */
  leaseCheckpointIntervalMs: number
}

/** How often a leader checkpoints what etcd leases have left, by default (ms): etcd's interval, 5 minutes (kv/lease/lease-clock.ts). */
export const defaultLeaseCheckpointIntervalMs = 5 * 60_000

export const defaultClusterSettings = {
  log_directory: './raft_logs',
  log_segment_size: defaultSegmentSizeBytes,
  max_entries_per_query: 1000,
  election_timeout_range: { min: defaultElectionTimeoutMs[0], max: defaultElectionTimeoutMs[1] },
  heartbeat_interval: defaultHeartbeatIntervalMs,
  snapshot_threshold: defaultSnapshotThreshold,
  snapshot_trailing_entries: defaultSnapshotTrailingEntries,
  max_request_bytes: defaultMaxRequestBytes,
  max_key_bytes: defaultMaxKeyBytes,
  snapshot_stall_timeout_ms: defaultSnapshotStallTimeoutMs,
  max_log_bytes: 0,
  lease_checkpoint_interval_ms: defaultLeaseCheckpointIntervalMs,
}

function wholeNumber(value: unknown, path: string, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined || value === null) throw invalid(path, field, 'is missing')
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(path, field, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return value
}

/**
 * The page size a segment size must be a multiple of, as a configuration file is checked: 4 KiB,
 * Linux's on x86-64 and most arm64. Reading the real one takes the native addon, which a client
 * that only loads the file to find the nodes must not need; RaftLog.open checks the real one.
 */
const segmentGranularityBytes = 4096

/** Checked here too, so the message names the file and field rather than a RaftLog option. */
function segmentSize(value: unknown, path: string): number {
  const field = 'cluster_settings.log_segment_size'
  const size = wholeNumber(value, path, field, segmentGranularityBytes, maxSegmentSizeBytes)
  if (size % segmentGranularityBytes !== 0) throw invalid(path, field, `must be a multiple of the page size (${segmentGranularityBytes} bytes), got ${size}`)
  return size
}

/** A DNS host name: dot-separated labels of letters, digits and inner hyphens. */
const hostName = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i

/** The file's text, or one clear line for a path that is not a YAML text file. */
function readConfigText(path: string): string {
  if (!existsSync(path)) throw new RaftLogError('ERR_CONFIG_NOT_FOUND', `Configuration file not found: ${path}`, { file: path })
  if (statSync(path).isDirectory()) throw new RaftLogError('ERR_CONFIG', `Configuration file ${path} is a directory, not a YAML file`, { file: path })
  const bytes = readFileSync(path)
  // A NUL byte or bytes that are not UTF-8: a binary file, which YAML would read as one odd string.
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    text = '\0'
  }
  if (text.includes('\0')) throw new RaftLogError('ERR_CONFIG', `Invalid configuration file ${path}: not a YAML text file (it holds binary data)`, { file: path })
  return text
}

/** What a YAML value is, in a user's words. */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`
}

/** The error for a node id that the configuration does not have, naming the ids it has. */
export function nodeNotFound(cluster: ClusterConfig, nodeId: number): RaftLogError {
  const ids = cluster.nodes.map((node) => node.nodeId).join(', ')
  return new RaftLogError('ERR_CONFIG', `Node ID ${nodeId} not found in configuration file ${cluster.path} (ids: ${ids})`, { nodeId, file: cluster.path })
}

/**
 * Reads and checks a cluster's YAML file; ERR_CONFIG naming the file and field. `checkFiles`
 * false skips the check that TLS files exist (for the tool that writes them).
 */
export function loadClusterConfig(path: string, options: { checkFiles?: boolean } = {}): ClusterConfig {
  const text = readConfigText(path)
  let document: unknown
  try {
    document = parse(text)
  } catch (error) {
    // The parser's first line ends in a colon before a picture of the line: keep the words.
    throw new RaftLogError('ERR_CONFIG', `Invalid configuration file ${path}: not valid YAML: ${(error as Error).message.split('\n')[0]?.replace(/:$/, '')}`, { file: path })
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw invalid(path, 'the document', `must be a mapping with nodes (and cluster_settings), got ${kindOf(document)}`)
  }
  const root = record(document, path, 'the document', ['nodes', 'cluster_settings'])
  if (!Array.isArray(root.nodes) || root.nodes.length === 0) throw invalid(path, 'nodes', 'must be a non-empty list')
  const nodes = root.nodes.map((raw, position): NodeConfig => {
    const field = `nodes[${position}]`
    const node = record(raw, path, field, ['node_id', 'ip_address', 'port', 'metrics_port'])
    const nodeId = wholeNumber(node.node_id, path, `${field}.node_id`, 1, 0xffffffff)
    if (node.ip_address === undefined || node.ip_address === null) throw invalid(path, `${field}.ip_address`, 'is missing')
    const ipAddress = node.ip_address
    if (typeof ipAddress !== 'string' || !(isIP(ipAddress) !== 0 || hostName.test(ipAddress))) {
      throw invalid(path, `${field}.ip_address`, `must be a host name or IP address (no port), got ${JSON.stringify(ipAddress)}`)
    }
    const port = wholeNumber(node.port, path, `${field}.port`, 1, 65535)
    // An IPv6 address goes in brackets before its port, as gRPC expects.
    const address = isIP(ipAddress) === 6 ? `[${ipAddress}]:${port}` : `${ipAddress}:${port}`
    // Off unless set: an HTTP port nobody asked for is a port someone else may need.
    const metricsPort = node.metrics_port === undefined ? undefined : wholeNumber(node.metrics_port, path, `${field}.metrics_port`, 1, 65535)
    return { nodeId, ipAddress, port, address, ...(metricsPort === undefined ? {} : { metricsPort }) }
  })
  nodes.forEach((node, position) => {
    const earlier = nodes.slice(0, position)
    if (earlier.some((other) => other.nodeId === node.nodeId)) throw invalid(path, `nodes[${position}].node_id`, `${node.nodeId} is used twice`)
    if (earlier.some((other) => other.address === node.address)) throw invalid(path, `nodes[${position}].port`, `${node.address} is used twice`)
    const metricsPort = node.metricsPort
    if (metricsPort === undefined) return
    const grpcNode = nodes.find((other) => other.port === metricsPort)
    if (grpcNode !== undefined) throw invalid(path, `nodes[${position}].metrics_port`, `${metricsPort} is node ${grpcNode.nodeId}'s port`)
    if (earlier.some((other) => other.metricsPort === metricsPort && other.ipAddress === node.ipAddress)) throw invalid(path, `nodes[${position}].metrics_port`, `${node.ipAddress}:${metricsPort} is used twice`)
  })
  const settings = record(root.cluster_settings ?? {}, path, 'cluster_settings', [...Object.keys(defaultClusterSettings), 'connection_limits', 'peer_tls', 'client_tls', 'cluster_name', 'groups', 'replication', 'commit_delay_ms'])
  const groups = settings.groups === undefined ? undefined : wholeNumber(settings.groups, path, 'cluster_settings.groups', 1, maxCatalogGroups)
  const replication = settings.replication === undefined ? undefined : wholeNumber(settings.replication, path, 'cluster_settings.replication', 1, nodes.length)
  const commitDelayMs = settings.commit_delay_ms === undefined ? undefined : wholeNumber(settings.commit_delay_ms, path, 'cluster_settings.commit_delay_ms', 0, 1000)
  const clusterName = settings.cluster_name ?? ''
  if (typeof clusterName !== 'string' || !/^[A-Za-z0-9._-]{0,64}$/.test(clusterName)) {
    throw invalid(path, 'cluster_settings.cluster_name', `must be up to 64 letters, digits, '.', '_' or '-', got ${JSON.stringify(clusterName)}`)
  }
  const logDirectory = settings.log_directory ?? defaultClusterSettings.log_directory
  if (typeof logDirectory !== 'string' || logDirectory.length === 0) throw invalid(path, 'cluster_settings.log_directory', 'must be a directory path')
  const range = record(settings.election_timeout_range ?? defaultClusterSettings.election_timeout_range, path, 'cluster_settings.election_timeout_range', ['min', 'max'])
  const min = wholeNumber(range.min ?? defaultClusterSettings.election_timeout_range.min, path, 'cluster_settings.election_timeout_range.min', 1)
  const max = wholeNumber(range.max ?? defaultClusterSettings.election_timeout_range.max, path, 'cluster_settings.election_timeout_range.max', 1)
  if (min >= max) throw invalid(path, 'cluster_settings.election_timeout_range', `min ${min} must be below max ${max}: a random timeout in that range ends split votes`)
  const heartbeatInterval = wholeNumber(settings.heartbeat_interval ?? defaultClusterSettings.heartbeat_interval, path, 'cluster_settings.heartbeat_interval', 1)
  if (heartbeatInterval >= min) throw invalid(path, 'cluster_settings.heartbeat_interval', `${heartbeatInterval} must be below the election timeout's min (${min})`)
  const maxRequestBytes = wholeNumber(settings.max_request_bytes ?? defaultClusterSettings.max_request_bytes, path, 'cluster_settings.max_request_bytes', minRequestBytes, maxCommandBytes)
  const maxKeyBytes = wholeNumber(settings.max_key_bytes ?? Math.min(defaultClusterSettings.max_key_bytes, maxRequestBytes), path, 'cluster_settings.max_key_bytes', 1, maxRequestBytes)
  const logSegmentSize = segmentSize(settings.log_segment_size ?? defaultClusterSettings.log_segment_size, path)
  const maxLogBytes = wholeNumber(settings.max_log_bytes ?? defaultClusterSettings.max_log_bytes, path, 'cluster_settings.max_log_bytes', 0)
  if (maxLogBytes !== 0 && maxLogBytes < 2 * logSegmentSize) {
    throw invalid(path, 'cluster_settings.max_log_bytes', `must be 0 (no ceiling) or at least twice log_segment_size (${2 * logSegmentSize} bytes): a log keeps its open segment and compaction frees whole segments only; got ${maxLogBytes}`)
  }
  const peerTls = peerTlsSettings(settings.peer_tls, path, options.checkFiles)
  const clientTls = clientTlsSettings(settings.client_tls, path, peerTls, options.checkFiles)
  return {
    path,
    nodes,
    logDirectory: resolve(dirname(path), logDirectory),
    logSegmentSize,
    maxLogBytes,
    maxEntriesPerQuery: wholeNumber(settings.max_entries_per_query ?? defaultClusterSettings.max_entries_per_query, path, 'cluster_settings.max_entries_per_query', 1),
    electionTimeout: [min, max],
    heartbeatInterval,
    snapshotThreshold: wholeNumber(settings.snapshot_threshold ?? defaultClusterSettings.snapshot_threshold, path, 'cluster_settings.snapshot_threshold', 1),
    snapshotTrailingEntries: wholeNumber(settings.snapshot_trailing_entries ?? defaultClusterSettings.snapshot_trailing_entries, path, 'cluster_settings.snapshot_trailing_entries', 0),
    maxRequestBytes,
    maxKeyBytes,
    snapshotStallTimeoutMs: wholeNumber(settings.snapshot_stall_timeout_ms ?? defaultClusterSettings.snapshot_stall_timeout_ms, path, 'cluster_settings.snapshot_stall_timeout_ms', 1, 2 ** 31 - 1),
    leaseCheckpointIntervalMs: wholeNumber(settings.lease_checkpoint_interval_ms ?? defaultClusterSettings.lease_checkpoint_interval_ms, path, 'cluster_settings.lease_checkpoint_interval_ms', 0, 2 ** 31 - 1),
    connectionLimits: connectionLimitsSettings(settings.connection_limits, path),
    ...(peerTls === undefined ? {} : { peerTls }),
    ...(clientTls === undefined ? {} : { clientTls }),
    clusterName,
    ...(groups === undefined ? {} : { groups }),
    ...(replication === undefined ? {} : { replication }),
    ...(commitDelayMs === undefined ? {} : { commitDelayMs }),
  }
}
