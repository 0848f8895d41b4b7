// One node of a networked cluster: a RaftNode with the key-value state machine, and a gRPC
// server on the node's port carrying both the Raft transport and the client service.
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { RaftNode } from '../raft/raft-node.js'
import { RaftLogError } from '../storage/errors.js'
import type { ClusterConfig, NodeConfig } from './cluster-config.js'
import { GrpcTransport, maxGrpcMessageBytes } from './grpc-transport.js'
import { decodeKvCommand, encodeKvResult, KvStateMachine } from './kv-state-machine.js'
import { protocol } from './protocol.js'
import { SessionStateMachine } from '../raft/session-state-machine.js'
import { decodeEnvelope, stampEnvelope } from '../raft/session-envelope.js'
import { directoryBytes } from '../observe/directory-bytes.js'
import { MetricsServer } from '../observe/metrics-server.js'

/** Largest client command accepted: far below the gRPC message limit, so an entry always fits one AppendEntries. */
export const maxCommandBytes = 16 * 1024 * 1024

export interface NodeServer {
  node: RaftNode
  config: NodeConfig
  /** http://host:port of /metrics, /healthz and /readyz, when the configuration gives a metrics_port. */
  metricsUrl: string | undefined
  stop(): Promise<void>
}

function bind(server: grpc.Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error) => {
      if (error === null) return resolve()
      const inUse = /EADDRINUSE|address already in use/i.test(error.message)
      reject(new RaftLogError(inUse ? 'EADDRINUSE' : 'ERR_BIND', `Failed to bind to ${address} - ${inUse ? 'address already in use' : error.message}`, { address }))
    })
  })
}

/**
 * The client service. Proposals go to the local node, stamped with this node's clock (the
 * leader's: session expiry follows it); a follower answers with the leader's address. Reads are
 * served by any node from its own state after a ReadIndex: no log entry per read.
 */
function clientService(node: RaftNode, kv: KvStateMachine, cluster: ClusterConfig, dir: string): grpc.UntypedServiceImplementation {
  const leaderAddress = (id: number): string => cluster.nodes.find((n) => n.nodeId === id)?.address ?? ''
  const notLeader = (error: RaftLogError & { leaderId?: number }, callback: grpc.sendUnaryData<unknown>): void => {
    const leaderId = error.leaderId ?? node.status().leaderId
    callback(null, { notLeader: { leaderId, leaderAddress: leaderId === node.id ? '' : leaderAddress(leaderId) } })
  }
  const failed = (error: RaftLogError, callback: grpc.sendUnaryData<unknown>): void => {
    // ABORTED, not UNAVAILABLE: the entry may still commit; the client sends it again in its
    // session (applied once), or, with no session, reports that the outcome is unknown.
    const code = error.code === 'ERR_SESSION_EXPIRED' ? grpc.status.FAILED_PRECONDITION : grpc.status.ABORTED
    callback({ code, details: `${error.code ?? 'ERROR'}: ${error.message}` })
  }
  const propose = (command: Uint8Array, callback: grpc.sendUnaryData<unknown>): void => {
    node.propose(stampEnvelope(command, Date.now())).then(
      (result) => callback(null, { result: result === undefined ? Buffer.alloc(0) : Buffer.from(result as Uint8Array) }),
      (error: RaftLogError) => {
        if (error.code === 'ERR_NOT_LEADER' || error.code === 'ERR_PROPOSAL_DROPPED') notLeader(error, callback)
        else failed(error, callback)
      },
    )
  }
  const read = (key: string, callback: grpc.sendUnaryData<unknown>): void => {
    node.read().then(
      () => callback(null, { result: Buffer.from(encodeKvResult({ ok: true, value: kv.get(key) })) }),
      (error: RaftLogError) => {
        if (error.code === 'ERR_NOT_LEADER') notLeader(error, callback)
        else callback({ code: grpc.status.UNAVAILABLE, details: `${error.code ?? 'ERROR'}: ${error.message}` })
      },
    )
  }
  return {
    Propose: (call: grpc.ServerUnaryCall<{ command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // Check before proposing: a command every node would fail to apply, or too large for one
      // AppendEntries, must never enter the log. The request's own bytes go on (stamped in
      // place); the log copies them once, into its mapping.
      const command = call.request.command
      const problem = commandProblem(command)
      if (problem !== undefined) callback({ code: grpc.status.INVALID_ARGUMENT, details: problem })
      else propose(command, callback)
    },
    Read: (call: grpc.ServerUnaryCall<{ key: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const bytes = Buffer.byteLength(call.request.key)
      if (bytes > maxCommandBytes) callback({ code: grpc.status.INVALID_ARGUMENT, details: `Key of ${bytes} bytes is larger than the limit of ${maxCommandBytes} bytes` })
      else read(call.request.key, callback)
    },
    Status: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const status = { ...node.status(), kvWritesApplied: kv.writesApplied, reads: node.stats().reads }
      directoryBytes(dir).then(
        (diskBytes) => callback(null, { ...status, diskBytes }),
        (error: Error) => callback({ code: grpc.status.INTERNAL, details: `Cannot measure ${dir}: ${error.message}` }),
      )
    },
  }
}

/** What is wrong with a client's entry (a session envelope around a key-value command), if anything. */
function commandProblem(command: Uint8Array): string | undefined {
  if (command.length > maxCommandBytes) return `Command of ${command.length} bytes is larger than the limit of ${maxCommandBytes} bytes`
  try {
    const envelope = decodeEnvelope(command)
    if (envelope.kind === 'plain' || envelope.kind === 'command') decodeKvCommand(envelope.payload)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

export async function startNodeServer(cluster: ClusterConfig, nodeId: number, logger: { warn(message: string): void }): Promise<NodeServer> {
  const config = cluster.nodes.find((node) => node.nodeId === nodeId)
  if (config === undefined) throw new RaftLogError('ERR_CONFIG', `Node ID ${nodeId} not found in configuration file`, { nodeId })
  const transport = new GrpcTransport(nodeId, cluster.nodes.map((node) => ({ id: node.nodeId, address: node.address })))
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxGrpcMessageBytes })
  const raft = transport.service()
  server.addService(raft.definition, raft.implementation)
  // Bind before touching the log: a node that cannot serve must not take the directory's lock.
  await bind(server, config.address)
  let metrics: MetricsServer | undefined
  let node: RaftNode
  const kv = new KvStateMachine()
  const dir = join(cluster.logDirectory, `node_${nodeId}`)
  try {
    if (config.metricsPort !== undefined) metrics = await MetricsServer.listen(config.ipAddress, config.metricsPort, nodeId)
    node = await RaftNode.start({
      id: nodeId,
      peers: cluster.nodes.map((n) => n.nodeId),
      dir,
      stateMachine: new SessionStateMachine(kv),
      transport,
      electionTimeout: cluster.electionTimeout,
      heartbeatInterval: cluster.heartbeatInterval,
      segmentSize: cluster.logSegmentSize,
      maxEntriesPerAppend: cluster.maxEntriesPerQuery,
      snapshotThreshold: cluster.snapshotThreshold,
      snapshotTrailingEntries: cluster.snapshotTrailingEntries,
      logger,
    })
  } catch (error) {
    server.forceShutdown()
    await metrics?.close()
    throw error
  }
  server.addService(protocol.RaftClient.service, clientService(node, kv, cluster, dir))
  metrics?.attach({ node, transport, dir })
  return {
    node,
    config,
    metricsUrl: metrics?.url,
    async stop() {
      try {
        await metrics?.close()
        await node.stop()
      } finally {
        // Even when the node could not stop cleanly: an open server would keep the process alive.
        await new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
      }
    },
  }
}
