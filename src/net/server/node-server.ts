// One node of a networked cluster: a RaftNode with the application's state machine behind
// client sessions, and a gRPC server on the node's port carrying both the Raft transport and the
// client service. The key-value store of `raftlog node` is one use of it (kv-node-server.ts).
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { RaftNode } from '../../raft/node/raft-node.js'
import { RaftLogError } from '../../errors.js'
import type { StateMachine } from '../../raft/state-machine.js'
import type { ClusterConfig, NodeConfig } from '../config/cluster-config.js'
import { GrpcTransport, maxBatchBytes } from '../transport/grpc-transport.js'
import { protocol } from '../protocol.js'
import { SessionStateMachine, type SessionOptions } from '../../session/session-state-machine.js'
import { bindEnvelope, decodeEnvelope, stampEnvelope } from '../../session/session-envelope.js'
import { existsSync } from 'node:fs'
import { stateFileName } from '../../storage/raft-state-file.js'
import { joinCluster, membershipDrift, unlistedNode } from './joining.js'
import { membershipService } from './membership-service.js'
import { snapshotService } from './snapshot-service.js'
import { memberStatuses } from '../membership-wire.js'
import { DirectoryBytesCache } from './directory-bytes.js'
import { readNodeTls, type NodeTls } from '../tls/tls-files.js'
import { peerChannelCredentials, serverCredentials } from '../tls/tls-credentials.js'
import { requireClientCertificate } from '../tls/client-auth.js'
import { checkFoundingBeside, checkSameCluster } from './cluster-check.js'
import { clientTlsOf, type ClientTls } from '../tls/client-tls.js'
import { deriveClusterId } from '../../raft/node/cluster-identity.js'
import { votersOnly } from '../../raft/core/configuration.js'
import { sessionIdentity } from '../tls/call-identity.js'
import { defaultMaxRequestBytes, maxCommandBytes } from '../config/request-limits.js'
import { requireAdminCertificate } from '../tls/admin-auth.js'
import { defaultConnectionLimits, grpcServerLimits } from '../config/connection-limits.js'
import { listenForNode, type NodeListener } from './node-listener.js'
import { startingGate } from './starting-gate.js'
import { withCalls } from './multiplexed-calls.js'

/** Largest client command (or read query) accepted; a node's port takes gRPC messages of this plus room for framing (maxReceiveMessageBytes). */
export { maxCommandBytes }

/**
 * Room for what surrounds the bytes a limit counts: protobuf fields and framing, the cluster id,
 * up to max_entries_per_query entry headers in one AppendEntries.
 */
const messageAllowanceBytes = 1024 * 1024
/**
 * Largest gRPC message the node's port takes, whoever sends it: what each service needs and no
 * more, since a message is buffered whole before its service sees it. A client's command or
 * read is at most maxCommandBytes; a peer's batch is at most maxBatchBytes of messages, or one
 * AppendEntries larger than that, which holds one entry (a client's command).
 */
export const maxReceiveMessageBytes = Math.max(maxCommandBytes, maxBatchBytes) + messageAllowanceBytes

/** How long stop() lets calls in progress finish before it closes the port anyway (ms). */
const shutdownGraceMs = 500

/**
 * Serves a node's metrics over HTTP on its metrics_port (observe/metrics-server.ts, handed in
 * by whoever starts the node): nothing in net/ imports what observes it.
 */
export interface MetricsHook {
  listen(host: string, port: number, nodeId: number): Promise<MetricsEndpoint>
}

/** A metrics endpoint that is listening: it reads the node, its transport and its directory once attached. */
export interface MetricsEndpoint {
  /** http://host:port */
  readonly url: string
  attach(source: { node: RaftNode; transport: GrpcTransport; dir: string }): void
  close(): Promise<void>
}

export interface NodeServerOptions {
  /** The cluster, as loadClusterConfig gives it: every node's address, the log directory, the timings. */
  cluster: ClusterConfig
  /** This node's node_id in the cluster. */
  nodeId: number
  /**
   * The application. The server wraps it in client sessions (SessionStateMachine), so apply()
   * sees the bytes a client proposed and runs once per command however often a client sends it
   * again; it must answer with a Uint8Array (or nothing), which resolves the client's propose().
   * An error it throws is the client's answer too (its code and message), given once.
   */
  stateMachine: StateMachine
  /**
   * What is wrong with a client's command, or undefined when it is fine. Called before the
   * command enters the log: a command that every node would refuse to apply must never be
   * committed. The client gets the problem as ERR_BAD_COMMAND, or a RaftLogError's own code
   * when it answers with one. Default: every command is fine.
   */
  checkCommand?: (command: Uint8Array) => string | RaftLogError | undefined
  /**
   * Answers a client's read (ClusterClient.read with bytes) from this node's state. Called only
   * after a ReadIndex (RaftNode.read()): the state then holds every write acknowledged before
   * the read was sent, so reads are linearizable, served by any node, with no log entry. An
   * error it throws goes back to the client as ERR_BAD_COMMAND. Without it, reads are refused.
   */
  read?: (query: Uint8Array) => Uint8Array | Promise<Uint8Array>
  /** Client sessions: expiry, results kept per session, sessions at most (SessionStateMachine). */
  sessions?: SessionOptions
  /** Where the node's warnings go (default: console.warn). */
  logger?: { warn(message: string): void }
  /** Serves /metrics, /healthz and /readyz on a node's metrics_port; without it a metrics_port is not served. */
  metrics?: MetricsHook
  /**
   * host:port where this node serves, for a node that is not in the configuration's nodes (one
   * that joined a running cluster). Default: its entry in the configuration.
   */
  address?: string
  /**
   * host:port of any member of a running cluster: a node with a new directory asks it to add
   * this node as a learner (the Join call) and then catches up from the leader (by snapshot when
   * the log was compacted). Promote it with ChangeMembership once it has caught up. Ignored when
   * the directory already belongs to a cluster.
   */
  join?: string
}

export interface NodeServer {
  node: RaftNode
  /** The node's transport: its counts (sent, dropped, rejected by reason) are the link's health. */
  transport: GrpcTransport
  /** This node's entry of the configuration (its address); for a node that joined, made up from `address`. */
  config: NodeConfig
  /** http://host:port of /metrics, /healthz and /readyz, when the configuration gives a metrics_port. */
  metricsUrl: string | undefined
  /** The node's port: its connections open now and refused at the limit (cluster_settings.connection_limits). */
  listener: NodeListener
  /** Stops the node (its log and state file closed) and the gRPC server. */
  stop(): Promise<void>
}

/** What the key-value server adds to the generic one: the old key-only Read request, and a status field. */
export interface NodeServerExtras {
  /** Serves a Read request that has no query but a key. */
  readKey?: (key: Buffer) => Uint8Array
  /** Fields added to the Status reply. */
  status?: () => Record<string, number>
  /**
   * More gRPC services on the node's port (the etcd v3 API), made once the node runs; under
   * client_cert_auth each call needs a client certificate, as the client service's do, and with
   * any TLS their adminMethods need one, as the client service's membership calls do.
   */
  services?: (node: RaftNode, context: ServiceContext) => ExtraService[]
}

/** A service added through NodeServerExtras.services. */
export interface ExtraService {
  definition: grpc.ServiceDefinition
  implementation: grpc.UntypedServiceImplementation
  /** Methods that change membership or leadership: with TLS they need a certificate of the cluster CA or the client CA (admin-auth.ts). */
  adminMethods?: readonly string[]
  /** Called when the node server stops: closes what the service opened (its channels to other members). */
  close?: () => void
}

/** What a service added through NodeServerExtras.services may need of the node server. */
export interface ServiceContext {
  /** The node's directory (its size is dbSize to etcd's Status). */
  dir: string
  /** host:port of a member's client service by id, '' when unknown. */
  addressOf(id: number): string
  /** Credentials to call member `id` as this node calls its peers (its certificate under TLS). */
  credentialsFor(id: number): grpc.ChannelCredentials
  /** Whether the port serves TLS (addresses are https://). */
  tls: boolean
}

/** Errors after which a proposal may or may not be applied: the client sends it again, in its session. */
function outcomeUnknown(node: RaftNode, error: RaftLogError): boolean {
  return node.failed !== undefined || error.code === 'ERR_LEADERSHIP_LOST' || error.code === 'ERR_STOPPED'
}

/**
 * The client service. Proposals go to the local node, stamped with this node's clock (the
 * leader's: session expiry follows it); a follower answers with the leader's address. Reads are
 * served by any node from its own state after a ReadIndex: no log entry per read.
 */
function clientService(node: RaftNode, options: NodeServerOptions, extras: NodeServerExtras, dir: string, tls: NodeTls | undefined): grpc.UntypedServiceImplementation {
  const { cluster, checkCommand } = options
  const maxRequestBytes = cluster.maxRequestBytes ?? defaultMaxRequestBytes
  const diskBytes = new DirectoryBytesCache(dir)
  // Membership lives in the log: a member that joined is in no configuration file.
  const leaderAddress = (id: number): string => node.configuration.addresses[id] || (cluster.nodes.find((n) => n.nodeId === id)?.address ?? '')
  const notLeader = (error: RaftLogError & { leaderId?: number }, callback: grpc.sendUnaryData<unknown>): void => {
    const leaderId = error.leaderId ?? node.status().leaderId
    callback(null, { notLeader: { leaderId, leaderAddress: leaderId === node.id ? '' : leaderAddress(leaderId) } })
  }
  const failed = (error: RaftLogError, callback: grpc.sendUnaryData<unknown>): void => {
    // ABORTED when the entry may still commit: the client sends it again in its session (applied
    // once), or, with no session, reports that the outcome is unknown. FAILED_PRECONDITION when
    // the answer is final: the session expired, or the state machine applied it and threw.
    const code = outcomeUnknown(node, error) ? grpc.status.ABORTED : grpc.status.FAILED_PRECONDITION
    callback({ code, details: `${error.code ?? 'ERROR'}: ${error.message}` })
  }
  // A session's secret is bound to the caller's certificate before it enters the log.
  const propose = (command: Uint8Array, identity: Uint8Array, callback: grpc.sendUnaryData<unknown>): void => {
    node.propose(bindEnvelope(stampEnvelope(command, Date.now()), identity)).then(
      (result) => callback(null, { result: result === undefined ? Buffer.alloc(0) : Buffer.from(result as Uint8Array) }),
      (error: RaftLogError) => {
        if (error.code === 'ERR_NOT_LEADER' || error.code === 'ERR_PROPOSAL_DROPPED' || error.code === 'ERR_LEADERSHIP_TRANSFER') notLeader(error, callback)
        // Refused before the log, so never applied. A full disk passes (the leader hands over):
        // UNAVAILABLE, which a client retries; a log at its ceiling waits for an operator or a
        // compaction: RESOURCE_EXHAUSTED (etcd answers its own space quota so), which it does not.
        else if (error.code === 'ERR_DISK_FULL') callback({ code: grpc.status.UNAVAILABLE, details: `ERR_DISK_FULL: ${error.message}` })
        else if (error.code === 'ERR_LOG_FULL') callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: `ERR_LOG_FULL: ${error.message}` })
        else failed(error, callback)
      },
    )
  }
  // Async: whatever the read function throws, at once or later, becomes the client's answer.
  const answer = async (request: { key: Buffer; query: Buffer }): Promise<Uint8Array> => {
    // An empty query with a key: the key-value client's get, as older clients send it.
    if (extras.readKey !== undefined && request.query.length === 0) return extras.readKey(request.key)
    if (options.read === undefined) throw new RaftLogError('ERR_BAD_COMMAND', `Node ${node.id} serves no reads: its server was started without a read function`)
    const result: unknown = await options.read(request.query)
    if (!(result instanceof Uint8Array)) throw new RaftLogError('ERR_BAD_RESULT', `The read function must answer with a Uint8Array, got ${result === null ? 'null' : typeof result}`)
    return result
  }
  const read = (request: { key: Buffer; query: Buffer }, callback: grpc.sendUnaryData<unknown>): void => {
    node.read().then(
      () =>
        answer(request).then(
          (result) => callback(null, { result: Buffer.from(result.buffer, result.byteOffset, result.length) }),
          (error: Error) => callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message }),
        ),
      (error: RaftLogError) => {
        if (error.code === 'ERR_NOT_LEADER') notLeader(error, callback)
        else callback({ code: grpc.status.UNAVAILABLE, details: `${error.code ?? 'ERROR'}: ${error.message}` })
      },
    )
  }
  const Propose = (call: grpc.ServerUnaryCall<{ command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    // Check before proposing: a command every node would fail to apply, or too large for one
    // AppendEntries, must never enter the log. The request's own bytes go on (stamped in
    // place); the log copies them once, into its mapping.
    const command = call.request.command
    const problem = commandProblem(command, checkCommand, maxRequestBytes)
    if (problem !== undefined) callback({ code: grpc.status.INVALID_ARGUMENT, details: problem })
    else propose(command, sessionIdentity(call, tls?.clientAuth), callback)
  }
  const Read = (call: grpc.ServerUnaryCall<{ key: Buffer; query: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const bytes = call.request.key.length + call.request.query.length
    if (bytes > maxRequestBytes) callback({ code: grpc.status.INVALID_ARGUMENT, details: `ERR_REQUEST_TOO_LARGE: Read of ${bytes} bytes is larger than max_request_bytes (${maxRequestBytes} bytes)` })
    else read(call.request, callback)
  }
  return {
    Propose,
    Read,
    Status: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const status = { ...node.status(), ...extras.status?.(), reads: node.stats().reads, members: memberStatuses(node) }
      diskBytes.bytes().then(
        (diskBytes) => callback(null, { ...status, diskBytes }),
        (error: Error) => callback({ code: grpc.status.INTERNAL, details: `Cannot measure ${dir}: ${error.message}` }),
      )
    },
    ...membershipService(node, { notLeader }),
    ...snapshotService(node, { addressOf: leaderAddress }),
  }
}

/** The client service as TLS allows it: with client_cert_auth every call needs a client certificate; with any TLS, membership and leadership calls need one. */
function guardClientService(clients: grpc.UntypedServiceImplementation, tls: NodeTls | undefined): grpc.UntypedServiceImplementation {
  if (tls === undefined) return clients
  const admin = requireAdminCertificate(clients, tls)
  return tls.clientAuth === undefined ? admin : requireClientCertificate(admin, tls.clientAuth)
}

/**
 * What is wrong with a client's entry (a session envelope around the application's command), if
 * anything; a problem with its own code starts with it ("ERR_REQUEST_TOO_LARGE: …"), which the
 * client keeps; others are ERR_BAD_COMMAND.
 */
function commandProblem(command: Uint8Array, check: NodeServerOptions['checkCommand'], maxRequestBytes: number): string | undefined {
  if (command.length > maxRequestBytes) return `ERR_REQUEST_TOO_LARGE: Command of ${command.length} bytes is larger than max_request_bytes (${maxRequestBytes} bytes)`
  try {
    const envelope = decodeEnvelope(command)
    if (envelope.kind !== 'plain' && envelope.secret === undefined) return `A client session ${envelope.kind} without a secret (an older raftlog client's format) is refused: upgrade the client`
    if (check === undefined || (envelope.kind !== 'plain' && envelope.kind !== 'command')) return undefined
    const problem: unknown = check(envelope.payload)
    if (problem === undefined || problem === null) return undefined
    if (problem instanceof RaftLogError) return problem.code === 'ERR_BAD_COMMAND' ? problem.message : `${problem.code}: ${problem.message}`
    return typeof problem === 'string' ? problem : `checkCommand must answer with a problem (a string or a RaftLogError) or undefined, got ${typeof problem}`
  } catch (error) {
    return (error as Error).message
  }
}

/** How a node probes the others: under client_cert_auth a probe needs a certificate, the configuration's, else the node's own. */
function probeTlsOf(cluster: ClusterConfig, tls: NodeTls | undefined): ClientTls | undefined {
  const configured = clientTlsOf(cluster)
  return configured?.cert === undefined && tls !== undefined ? { ca: tls.peerCa, cert: tls.cert, key: tls.key } : configured
}

function checkOptions(options: NodeServerOptions): void {
  const bad = (problem: string): RaftLogError => new RaftLogError('ERR_BAD_ARGUMENT', `startNodeServer: ${problem}`)
  if (options === null || typeof options !== 'object') throw bad('options must be an object')
  if (options.cluster === null || typeof options.cluster !== 'object' || !Array.isArray(options.cluster.nodes)) throw bad('cluster must be a configuration from loadClusterConfig')
  if (typeof options.stateMachine?.apply !== 'function') throw bad('stateMachine must have an apply(entry) method')
  for (const name of ['checkCommand', 'read'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw bad(`${name} must be a function`)
  }
}

/**
 * Starts one node of `cluster`: binds its address (before touching its directory, so a node that
 * cannot serve never takes the log's lock), opens or recovers its log in
 * <log_directory>/node_<id>/, and serves Raft and clients there.
 */
export function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  return serveNode(options, {})
}

/** startNodeServer with what the key-value server adds (kv-node-server.ts). */
export async function serveNode(options: NodeServerOptions, extras: NodeServerExtras): Promise<NodeServer> {
  checkOptions(options)
  const { cluster, nodeId } = options
  const dir = join(cluster.logDirectory, `node_${nodeId}`)
  const fresh = !existsSync(join(dir, stateFileName))
  const listed = cluster.nodes.find((node) => node.nodeId === nodeId)
  // --listen elsewhere than the file says: a member moved (raftlog member update) serves there.
  const moved = listed !== undefined && options.address !== undefined && options.address !== listed.address
  const config = moved ? { ...listed, ...unlistedNode(cluster, nodeId, options.address, false) } : (listed ?? unlistedNode(cluster, nodeId, options.address, fresh && options.join === undefined))
  // Read now: a missing key or a certificate for another node is one line at start.
  const tls = readNodeTls(cluster, nodeId)
  const transport = new GrpcTransport(
    nodeId,
    cluster.nodes.map((node) => ({ id: node.nodeId, address: node.address })),
    { ...(tls === undefined ? {} : { tls }), logger: options.logger ?? { warn: (message) => console.warn(message) } },
  )
  const limits = cluster.connectionLimits ?? defaultConnectionLimits
  // channelz (grpc-js's per-call tracing for its debug service, which raftlog does not serve) costs every call.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxReceiveMessageBytes, 'grpc.enable_channelz': 0, ...grpcServerLimits(limits) })
  const raft = transport.service()
  server.addService(raft.definition, raft.implementation)
  // The client service is there from the first connection: it says the node is starting until then.
  const clientGate = startingGate(protocol.RaftClient.service, `node ${nodeId} is starting (checking its cluster, replaying its log): ask again shortly`)
  server.addService(protocol.RaftClient.service, clientGate.implementation)
  const warn = (message: string): void => (options.logger ?? console).warn(message)
  const listener = await listenForNode(server, serverCredentials(tls, limits.handshakeTimeoutMs), { host: config.ipAddress, port: config.port, limits, warn })
  let metrics: MetricsEndpoint | undefined
  let node: RaftNode
  try {
    if (config.metricsPort !== undefined && options.metrics !== undefined) metrics = await options.metrics.listen(config.ipAddress, config.metricsPort, nodeId)
    const joined = fresh && options.join !== undefined ? await joinCluster(cluster, options.join, { id: nodeId, address: config.address }, tls) : undefined
    if (fresh && joined === undefined && listed !== undefined) {
      const founding = deriveClusterId(votersOnly(cluster.nodes.map((n) => n.nodeId), Object.fromEntries(cluster.nodes.map((n) => [n.nodeId, n.address]))), cluster.clusterName)
      await checkFoundingBeside(nodeId, founding, cluster.nodes.filter((n) => n.nodeId !== nodeId).map((n) => n.address), cluster.path, probeTlsOf(cluster, tls))
    }
    if (joined !== undefined) {
      transport.setAddresses(joined.configuration.addresses)
      transport.setClusterId(joined.clusterId)
    }
    node = await RaftNode.start({
      id: nodeId,
      // A new cluster's first configuration: the file's nodes. A node that joins, or one that
      // restarts, takes its configuration from the log and snapshots instead.
      peers: listed !== undefined && joined === undefined ? cluster.nodes.map((n) => n.nodeId) : [],
      addresses: Object.fromEntries(cluster.nodes.map((n) => [n.nodeId, n.address])),
      ...(joined === undefined ? {} : { clusterId: joined.clusterId, memberSince: joined.memberSince }),
      clusterName: cluster.clusterName,
      dir,
      stateMachine: new SessionStateMachine(options.stateMachine, options.sessions),
      transport,
      electionTimeout: cluster.electionTimeout,
      heartbeatInterval: cluster.heartbeatInterval,
      segmentSize: cluster.logSegmentSize,
      ...(cluster.maxLogBytes === undefined ? {} : { maxLogBytes: cluster.maxLogBytes }),
      maxEntriesPerAppend: cluster.maxEntriesPerQuery,
      snapshotThreshold: cluster.snapshotThreshold,
      snapshotTrailingEntries: cluster.snapshotTrailingEntries,
      ...(cluster.snapshotStallTimeoutMs === undefined ? {} : { snapshotStallTimeoutMs: cluster.snapshotStallTimeoutMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    })
  } catch (error) {
    server.forceShutdown()
    await listener.close()
    await metrics?.close()
    throw error
  }
  try {
    const others = new Set([...Object.values(node.configuration.addresses), ...cluster.nodes.map((n) => n.address)].filter((address) => address !== '' && address !== config.address))
    await checkSameCluster(node, [...others], probeTlsOf(cluster, tls))
  } catch (error) {
    await node.stop().catch(() => undefined)
    server.forceShutdown()
    await listener.close()
    await metrics?.close()
    throw error
  }
  const clients = clientService(node, options, extras, dir, tls)
  // Calls carries Propose and Read, as many in progress on one connection's Calls streams as its unary calls.
  const callStreams = new Set<() => void>()
  clientGate.open(withCalls(guardClientService(clients, tls), limits.maxConcurrentStreams, callStreams))
  const addressOf = (id: number): string => node.configuration.addresses[id] || (cluster.nodes.find((n) => n.nodeId === id)?.address ?? '')
  const services = extras.services?.(node, { dir, addressOf, credentialsFor: (id) => peerChannelCredentials(tls, id), tls: tls !== undefined }) ?? []
  for (const service of services) {
    const admin = tls === undefined || service.adminMethods === undefined ? service.implementation : requireAdminCertificate(service.implementation, tls, service.adminMethods)
    server.addService(service.definition, tls?.clientAuth === undefined ? admin : requireClientCertificate(admin, tls.clientAuth))
  }
  const drift = membershipDrift(cluster, node.configuration)
  if (drift !== undefined) (options.logger ?? console).warn(drift)
  metrics?.attach({ node, transport, dir })
  return {
    node,
    transport,
    config,
    metricsUrl: metrics?.url,
    listener,
    async stop() {
      // Clients keep their Calls streams open (a second after their last call): each is ended once
      // its calls in progress are answered, and nothing more is read from it.
      for (const end of [...callStreams]) end()
      try {
        await metrics?.close()
        await node.stop()
      } finally {
        for (const service of services) service.close?.()
        // Even when the node could not stop cleanly: an open server would keep the process alive.
        // Peers keep their streams to this node open: wait a moment for calls in progress, no more.
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown()
            resolve()
          }, shutdownGraceMs)
          server.tryShutdown(() => {
            clearTimeout(force)
            resolve()
          })
        })
        await listener.close()
      }
    },
  }
}
