// A RaftHost served over gRPC: the groups' replicas of this host over one LogEngine, one stream to
// each peer host for every group's messages (grpc-host-transport.ts), and RaftHostClient for
// proposals to any group and for which host leads each. Groups 1..groups each have a replica on
// every host (replication factor: the number of hosts, for now).
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { LogEngine } from '../../engine/log-engine.js'
import { RaftHost } from '../../host/raft-host.js'
import type { StateMachine } from '../../raft/state-machine.js'
import { protocol } from '../protocol.js'
import { GrpcHostTransport } from '../transport/grpc-host-transport.js'
import type { PeerAddress } from '../transport/grpc-transport.js'
import { maxGrpcMessageBytes } from '../transport/grpc-transport.js'
import { serverCredentials } from '../tls/tls-credentials.js'
import type { NodeTls } from '../tls/tls-files.js'

/** The host's clock: one tick every this many milliseconds (elections take 10 to 20 ticks). */
export const defaultHostTickMs = 50

export interface HostServerOptions {
  nodeId: number
  /** Every host's id and host:port (this one listens on its own). */
  hosts: readonly PeerAddress[]
  /** The LogEngine's directory. */
  dir: string
  /** Groups 1 to `groups`, each with a replica here. */
  groups: number
  /** The state machine of this host's replica of `group`. */
  stateMachine(group: number): StateMachine
  /** Answers a read `query` of `group` from its state machine, after a ReadIndex (no read service without it). */
  read?(group: number, query: Uint8Array): Uint8Array
  tickMs?: number
  tls?: NodeTls
}

export interface HostServer {
  host: RaftHost
  transport: GrpcHostTransport
  engine: LogEngine
  /** Stops ticking, serving and sending, and closes the engine. */
  stop(): Promise<void>
}

export async function startHostServer(options: HostServerOptions): Promise<HostServer> {
  const self = options.hosts.find((host) => host.id === options.nodeId)
  if (self === undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', `Host ${options.nodeId} is not among the hosts given (${options.hosts.map((host) => host.id).join(', ')})`)
  if (!Number.isSafeInteger(options.groups) || options.groups < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `groups must be a whole number from 1, got ${String(options.groups)}`)
  const engine = LogEngine.open(options.dir)
  const transport = new GrpcHostTransport(options.nodeId, options.hosts, options.tls)
  const host = new RaftHost({ nodeId: options.nodeId, hosts: options.hosts.map((peer) => peer.id), engine, transport })
  transport.onBatch((batch) => host.receive(batch))
  const ids = options.hosts.map((peer) => peer.id)
  for (let group = 1; group <= options.groups; group++) host.addGroup(group, ids, options.stateMachine(group))

  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxGrpcMessageBytes, 'grpc.max_send_message_length': maxGrpcMessageBytes })
  const hostsService = transport.service()
  server.addService(hostsService.definition, hostsService.implementation)
  server.addService(protocol.RaftHostClient.service, clientService(host, options.hosts, options.read))
  try {
    await new Promise<number>((resolve, reject) => server.bindAsync(self.address, serverCredentials(options.tls), (error, port) => (error === null ? resolve(port) : reject(error))))
  } catch (error) {
    transport.close()
    engine.close()
    throw new RaftLogError('ERR_BIND', `Failed to bind to ${self.address} - ${(error as Error).message}`)
  }
  const clock = setInterval(() => host.tick(), options.tickMs ?? defaultHostTickMs)
  return {
    host,
    transport,
    engine,
    stop: async () => {
      clearInterval(clock)
      host.stop()
      transport.close()
      // Peers' streams stay open for as long as they live: end them rather than wait for them.
      server.forceShutdown()
      engine.close()
    },
  }
}

function clientService(host: RaftHost, hosts: readonly PeerAddress[], read: HostServerOptions['read']): grpc.UntypedServiceImplementation {
  const addressOf = (id: number): string => hosts.find((peer) => peer.id === id)?.address ?? ''
  return {
    Read: (call: grpc.ServerUnaryCall<{ group: number; query: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const group = Number(call.request.group)
      if (read === undefined) return callback({ code: grpc.status.UNIMPLEMENTED, details: 'ERR_BAD_COMMAND: this host serves no reads' })
      if (!host.groups.includes(group)) return callback({ code: grpc.status.NOT_FOUND, details: `ERR_NO_GROUP: Group ${group} has no replica on this host` })
      host.read(group).then(
        () => {
          let result: Uint8Array
          try {
            result = read(group, call.request.query)
          } catch (error) {
            return callback({ code: grpc.status.INVALID_ARGUMENT, details: `${(error as RaftLogError).code ?? 'ERR_BAD_COMMAND'}: ${(error as Error).message}` })
          }
          callback(null, { result: Buffer.from(result) })
        },
        (error: RaftLogError) => callback({ code: grpc.status.UNAVAILABLE, details: `${error.code}: ${error.message}` }),
      )
    },
    Propose: (call: grpc.ServerUnaryCall<{ group: number; command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const group = Number(call.request.group)
      if (!host.groups.includes(group)) return callback({ code: grpc.status.NOT_FOUND, details: `ERR_NO_GROUP: Group ${group} has no replica on this host` })
      host.propose(group, call.request.command).then(
        (result) => callback(null, { result: result instanceof Uint8Array ? Buffer.from(result) : Buffer.alloc(0) }),
        (error: RaftLogError & { leaderId?: number }) => {
          if (error.code === 'ERR_NOT_LEADER') callback(null, { notLeader: { leaderId: error.leaderId ?? 0, leaderAddress: addressOf(error.leaderId ?? 0) } })
          else callback({ code: grpc.status.UNAVAILABLE, details: `${error.code}: ${error.message}` })
        },
      )
    },
    Leaders: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, { leaders: host.groups.map((group) => ({ group, leaderId: host.leaderOf(group) })) })
    },
  }
}
