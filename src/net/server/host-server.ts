// A RaftHost served over gRPC: the groups' replicas of this host over one LogEngine, one stream to
// each peer host for every group's messages (grpc-host-transport.ts), and RaftHostClient for
// proposals to any group and for which host leads each. Which groups exist and where their
// replicas live is the group catalog's (host/group-catalog.ts): catalogGroup, a replica on every host.
// The host that leads it first founds it with groups 1..groups, each on `replication` hosts
// (placement.ts); from then on this host starts and stops its own replicas as catalog entries
// apply, and the catalog's leader runs the leader balancer (leader-balancer.ts).
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { LogEngine } from '../../engine/log-engine.js'
import { RaftHost } from '../../host/raft-host.js'
import { catalogGroup, catalogHostOf, catalogMoveOf, clientCatalogProblem, decodeCatalogResult, encodeCatalogCommand, GroupCatalog, maxCatalogCommandBytes, maxCatalogGroups } from '../../host/group-catalog.js'
import { reconcileReplicas } from '../../host/catalog-replicas.js'
import { admitJoinedHost } from '../../host/catalog-members.js'
import { admitFreshFounder, joinHostCluster } from './host-joining.js'
import { existsSync, rmSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { membersOf } from '../../raft/core/configuration.js'
import { replicationFor } from '../../host/placement.js'
import type { StateMachine } from '../../raft/state-machine.js'
import { protocol } from '../protocol.js'
import { GrpcHostTransport } from '../transport/grpc-host-transport.js'
import type { PeerAddress } from '../transport/grpc-transport.js'
import { maxGrpcMessageBytes } from '../transport/grpc-transport.js'
import { defaultMaxRequestBytes } from '../config/request-limits.js'
import { shutDownNow } from './shut-down-now.js'
import { serverCredentials } from '../tls/tls-credentials.js'
import type { NodeTls } from '../tls/tls-files.js'
import { requireAdminCertificate } from '../tls/admin-auth.js'
import { requireClientCertificate } from '../tls/client-auth.js'
import { peerNodeId } from '../tls/call-identity.js'
import { HostClient } from '../client/host-client.js'
import { defaultBalanceIntervalMs, LeaderBalancer } from './leader-balancer.js'
import { withCalls } from './multiplexed-calls.js'
import { unfinishedMoveProblem, type GroupState } from '../../host/unfinished-move.js'
import { defaultConnectionLimits } from '../config/connection-limits.js'

/** The host's clock: one tick every this many milliseconds (elections take 10 to 20 ticks). */
export const defaultHostTickMs = 50

/** How often the catalog's leader looks whether to found the catalog, or to add a joined host to the catalog group (ms). */
const catalogDutyMs = 200

export interface HostServerOptions {
  nodeId: number
  /** Every host's id and host:port (this one listens on its own); hosts that joined later are learned from the catalog. */
  hosts: readonly PeerAddress[]
  /**
   * This host joins a running cluster (or joined it, before a restart) rather than founding one:
   * its catalog replica starts empty and learns the catalog from the catalog's leader once a
   * catalog 'join' entry names it. Default false; implied by `join`.
   */
  joining?: boolean
  /**
   * host:port of any host of a running cluster: before serving, this host asks the cluster to take
   * it (host-joining.ts; asked again at every start, harmless once taken). startHostServer rejects
   * with ERR_JOIN when no host took it within 30 s, or the catalog refused it.
   */
  join?: string
  /** The LogEngine's directory. */
  dir: string
  /** Groups 1 to `groups`, created when the cluster's catalog is founded (later starts take the catalog's word). */
  groups: number
  /** Replicas per group (1 to the number of hosts; default 3, or every host when there are fewer). */
  replication?: number
  /** The state machine of this host's replica of `group` (called when the replica starts here). */
  stateMachine(group: number): StateMachine
  /** This host's replica of `group` was stopped: the group was removed from the catalog. */
  groupRemoved?(group: number): void
  /** Answers a read `query` of `group` from its state machine, after a ReadIndex (no read service without it). */
  read?(group: number, query: Uint8Array): Uint8Array
  /**
   * Why a client's `command` for a group (the catalog aside) must not enter its log: a problem
   * (ERR_BAD_COMMAND when a string) is answered INVALID_ARGUMENT and nothing is proposed. A
   * command its state machine would refuse on every node only takes log space and replay time.
   * `shards`: the catalog's key-value groups (1 to shards; 0 before it is founded).
   */
  checkCommand?(command: Uint8Array, group: number, shards: number): string | RaftLogError | undefined
  /** Largest client command in bytes (default 1.5 MiB, max_request_bytes); the catalog group's are held to maxCatalogCommandBytes. */
  maxRequestBytes?: number
  tickMs?: number
  /** Election timeout range in ticks (RaftHost's default: [10, 20]). */
  electionTicks?: readonly [number, number]
  /** RaftHostOptions.commitDelayMs (ms; default 0: off). */
  commitDelayMs?: number
  /** RaftHostOptions.snapshotEveryEntries and snapshotTrailingEntries (defaults: RaftNode's, 10,000 and 5,000). */
  snapshotEveryEntries?: number
  snapshotTrailingEntries?: number
  /** Pause between two rounds of the leader balancer (ms); 0: no balancing. */
  balanceIntervalMs?: number
  tls?: NodeTls
  /** Where the host says what it waits for, and why it stopped taking part (default: console.warn, naming the host). */
  log?: (message: string) => void
}

export interface HostServer {
  host: RaftHost
  transport: GrpcHostTransport
  engine: LogEngine
  /** Which groups exist and where (this host's replica of the catalog group's state machine). */
  catalog: GroupCatalog
  balancer: LeaderBalancer
  /** Stops ticking, serving and sending, and closes the engine. */
  stop(): Promise<void>
}

export async function startHostServer(options: HostServerOptions): Promise<HostServer> {
  const self = options.hosts.find((host) => host.id === options.nodeId)
  if (self === undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', `Host ${options.nodeId} is not among the hosts given (${options.hosts.map((host) => host.id).join(', ')})`)
  if (!Number.isSafeInteger(options.groups) || options.groups < 1 || options.groups > maxCatalogGroups) throw new RaftLogError('ERR_BAD_ARGUMENT', `groups must be a whole number from 1 to ${maxCatalogGroups}, got ${String(options.groups)}`, { argument: 'groups' })
  const ids = options.hosts.map((peer) => peer.id)
  const replication = replicationFor(ids, options.replication)
  /** Whether this start makes the directory: a start refused before serving leaves none behind. */
  const created = !existsSync(options.dir)
  const engine = LogEngine.open(options.dir)
  const transport = new GrpcHostTransport(options.nodeId, options.hosts, options.tls)
  const host = new RaftHost({ nodeId: options.nodeId, hosts: ids, engine, transport, ...(options.commitDelayMs === undefined ? {} : { commitDelayMs: options.commitDelayMs }), ...(options.snapshotEveryEntries === undefined ? {} : { snapshotEveryEntries: options.snapshotEveryEntries }), ...(options.snapshotTrailingEntries === undefined ? {} : { snapshotTrailingEntries: options.snapshotTrailingEntries }), ...(options.electionTicks === undefined ? {} : { electionTicks: options.electionTicks }) })
  /** Whether this host takes part in Raft: not before the catalog admitted it (a new directory, a join), nor after it refused it. */
  let admitted = false
  transport.onBatch((batch) => {
    if (admitted) host.receive(batch)
  })
  const catalog = new GroupCatalog()
  /** Groups removed from the catalog whose logs the engine still holds: dropped once the host is idle. */
  const removedLogs = new Set<number>()
  let reconcileDue = false
  catalog.onChange(() => (reconcileDue = true))
  /** Groups this host made a state machine for: told to groupRemoved once the catalog no longer lists them here. */
  const made = new Set<number>()
  const stateMachine = (group: number): StateMachine => {
    made.add(group)
    return options.stateMachine(group)
  }
  const reconcile = (): void => {
    reconcileDue = false
    for (const group of reconcileReplicas(host, engine, catalog, stateMachine)) removedLogs.add(group)
    // Stopped here by the catalog, or earlier by the group itself (a move removed this host).
    for (const group of made) {
      if (host.hasGroup(group) || catalog.replicasOf(group)?.includes(options.nodeId) === true) continue
      made.delete(group)
      options.groupRemoved?.(group)
    }
  }
  // The balancer's calls to the other hosts: with peer TLS, under this host's certificate, trusting
  // the cluster CA (it asks who leads what and for transfers, which any holder of the CA may).
  const peerCredentials = options.tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(options.tls.peerCa, options.tls.key, options.tls.cert)
  const peers = new HostClient(options.hosts, peerCredentials)
  /** Where each host serves: the hosts given, then those that joined (as the catalog's entries apply, also on a replay). */
  const addresses = new Map(options.hosts.map((peer) => [peer.id, peer.address]))
  catalog.onChange((change) => {
    if (change.kind !== 'joined' || change.host === options.nodeId) return
    addresses.set(change.host, change.address)
    transport.setPeer(change.host, change.address)
    host.addHost(change.host)
    peers.learnHost({ id: change.host, address: change.address })
  })
  /** Whether this host's directory is new (no catalog replica yet): a host that ran before and starts with one has lost its votes. */
  const fresh = !engine.hasGroup(catalogGroup)
  /** A restart of a host whose catalog had committed entries: it belongs to a founded cluster even before its replay applied the founding. */
  const belongedBefore = !fresh && engine.hardState(catalogGroup).commit > 0
  const joining = options.joining === true || options.join !== undefined
  if (joining) host.joinGroup(catalogGroup, catalog)
  else host.addGroup(catalogGroup, ids, catalog)
  const balancer = new LeaderBalancer(host, catalog, peers, options.balanceIntervalMs || defaultBalanceIntervalMs)
  if (options.balanceIntervalMs !== 0) balancer.start()
  /** Undoes the above when the host cannot serve. */
  const release = (): void => {
    balancer.stop()
    peers.close()
    host.stop()
    transport.close()
    engine.close()
    if (created) rmSync(options.dir, { recursive: true, force: true })
  }
  // channelz (grpc-js's per-call tracing for its debug service, which raftlog does not serve) costs
  // every call; without it the server is stopped with shutDownNow, not forceShutdown alone.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxGrpcMessageBytes, 'grpc.max_send_message_length': maxGrpcMessageBytes, 'grpc.enable_channelz': 0 })
  const hostsService = transport.service()
  server.addService(hostsService.definition, hostsService.implementation)
  /** For a catalog 'moved': why it must not be recorded yet (unfinished-move.ts), asked of the group's hosts. */
  const movedProblem = (command: Uint8Array): Promise<string | undefined> | undefined => {
    const move = catalogMoveOf(command)
    if (move === undefined) return undefined
    const here = (): GroupState => (host.hasGroup(move.group) ? { hasGroup: true, leaderId: host.leaderOf(move.group), configuration: host.configurationOf(move.group) } : { hasGroup: false, leaderId: 0, configuration: undefined })
    const stateAt = (id: number): Promise<GroupState> => (id === options.nodeId ? Promise.resolve(here()) : peers.groupStateAt(id, move.group))
    return unfinishedMoveProblem(move.group, move.from, move.to, catalog.replicasOf(move.group) ?? [], stateAt)
  }
  const clients = guardClientService(clientService(host, (id) => addresses.get(id) ?? '', catalog, options, () => catalog.founded || belongedBefore, () => admitted, movedProblem), options.tls)
  // Calls carries Propose and Read, each request guarded as its unary call.
  server.addService(protocol.RaftHostClient.service, withCalls(clients, defaultConnectionLimits.maxConcurrentStreams))
  try {
    await new Promise<number>((resolve, reject) => server.bindAsync(self.address, serverCredentials(options.tls), (error, port) => (error === null ? resolve(port) : reject(error))))
  } catch (error) {
    release()
    throw new RaftLogError('ERR_BIND', `Failed to bind to ${self.address} - ${(error as Error).message}`)
  }
  const say = options.log ?? ((message: string) => console.warn(`raftlog host ${options.nodeId}: ${message}`))
  /** Whether the catalog recorded this host's start (see admitFreshFounder): a joined host's 'join' did. */
  let checkedIn = joining
  // The port serves from here (other hosts starting with a new directory ask it whether the catalog
  // is founded), but this host takes no part in Raft until admitted: a refused one never votes.
  try {
    if (joining && options.join === undefined && membersOf(host.configurationOf(catalogGroup)).length === 0) {
      throw new RaftLogError('ERR_CONFIG', `Host ${options.nodeId} holds no group catalog yet in ${options.dir} (never taken into a cluster, or stopped before it got the catalog): start it with --join ADDRESS, the address of a node of the cluster`, { dir: options.dir })
    }
    // The catalog replica's log is made durable first: after a crash, this directory is no longer new.
    if (options.join !== undefined || (fresh && !joining)) await engine.flush()
    if (options.join !== undefined) await joinHostCluster(options.join, { ...self, fresh }, peerCredentials)
    else if (fresh && !joining) checkedIn = await admitFreshFounder(self, options.hosts, peerCredentials, say)
  } catch (error) {
    shutDownNow(server)
    release()
    throw error
  }
  admitted = true
  const clock = setInterval(() => {
    if (!admitted) return
    if (reconcileDue) reconcile()
    // A removed group's log goes once no turn is under way that may still write or read it (before
    // the tick, which queues the heartbeats a turn sends).
    if (removedLogs.size > 0 && host.idle) {
      for (const group of removedLogs) if (engine.hasGroup(group) && !host.groups.includes(group)) engine.removeGroup(group)
      removedLogs.clear()
    }
    host.tick()
  }, options.tickMs ?? defaultHostTickMs)
  let admitting = false
  let checkingIn = false
  /** One request id for this start's check-in: asked again after a lost answer, it is answered as the first time. */
  const startRequest = randomUUID()
  let lastWarning = ''
  const warnOnce = (message: string): void => {
    // Said once, not every round: the next leader or a later round may still get through.
    if (message !== lastWarning) say(message)
    lastWarning = message
  }
  const catalogDuties = setInterval(() => {
    // A founder not checked in before serving (a restart, or the catalog not founded then) records its start now.
    if (!checkedIn && !checkingIn && catalog.founded) {
      checkingIn = true
      peers
        .propose(catalogGroup, encodeCatalogCommand({ op: 'started', host: options.nodeId, fresh, address: self.address, request: startRequest }))
        .then((bytes) => {
          const result = decodeCatalogResult(bytes)
          if (result.ok) checkedIn = true
          else if (admitted) {
            // Refused after it started serving (no node answered at its start): it stops taking part at once.
            admitted = false
            say(`stops taking part in the cluster: ${result.code}: ${result.message}`)
          }
        })
        .catch(() => undefined)
        .finally(() => (checkingIn = false))
    }
    if (!admitted || host.leaderOf(catalogGroup) !== options.nodeId || admitting) return
    // Every host asks while it leads the catalog; the catalog takes the first and ignores the rest.
    if (!catalog.founded) {
      host.propose(catalogGroup, encodeCatalogCommand({ op: 'init', hosts: ids, groups: options.groups, replication })).catch(() => {})
      return
    }
    admitting = true
    admitJoinedHost(host, catalog)
      .catch((error: Error) => warnOnce(`could not add a joined host to the catalog group: ${error.message}`))
      .finally(() => (admitting = false))
  }, catalogDutyMs)
  const stop = async (): Promise<void> => {
    clearInterval(clock)
    clearInterval(catalogDuties)
    balancer.stop()
    peers.close()
    host.stop()
    transport.close()
    // Peers' streams stay open for as long as they live: end them rather than wait for them.
    shutDownNow(server)
    engine.close()
  }
  return { host, transport, engine, catalog, balancer, stop }
}

/** The client service's calls that change a group's members or its leader (a proposal to the catalog, group create, remove and move, is guarded apart). */
const hostAdminMethods: readonly string[] = ['ChangeMembership', 'TransferLeader']

/**
 * The client service as TLS allows it, as a one-group node's (node-server.ts): with any TLS, the
 * calls that change groups, their members or their leaders need a certificate of the cluster CA
 * or the client CA; with client_cert_auth every call needs one. A node's certificate counts as a
 * client's here, unlike on a one-group node: the hosts' leader balancers ask each other who leads
 * what and transfer leadership through this service, under their node certificates.
 */
function guardClientService(clients: grpc.UntypedServiceImplementation, tls: NodeTls | undefined): grpc.UntypedServiceImplementation {
  if (tls === undefined) return clients
  const admin = requireAdminCertificate(clients, tls, hostAdminMethods)
  const propose = clients.Propose as (call: grpc.ServerUnaryCall<{ group: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => void
  const adminPropose = requireAdminCertificate({ Propose: propose }, tls, ['Propose']).Propose as typeof propose
  admin.Propose = (call: grpc.ServerUnaryCall<{ group: number; command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    if (Number(call.request.group) !== catalogGroup) return propose(call, callback)
    // A node's start or join speaks for that node: said under another certificate, a 'started'
    // for a founder not started yet would have the founder refused at its first start.
    const host = catalogHostOf(call.request.command)
    if (host !== undefined && peerNodeId(call, tls) !== host) return callback({ code: grpc.status.UNAUTHENTICATED, details: `ERR_UNAUTHENTICATED: A node's start or join is taken only under node ${host}'s own certificate` })
    adminPropose(call, callback)
  }
  if (tls.clientAuth === undefined) return admin
  return requireClientCertificate(admin, { ca: tls.clientAuth.ca, authorities: [...tls.peerAuthorities, ...tls.clientAuth.authorities] })
}

/**
 * `catalogFounded`: whether this host belongs to a founded cluster (what a starting host with a new
 * directory asks); `admitted`: whether it takes part in Raft yet (until then it says it leads and
 * holds nothing, so that no balancer hands it a group).
 */
function clientService(
  host: RaftHost,
  addressOf: (id: number) => string,
  catalog: GroupCatalog,
  options: Pick<HostServerOptions, 'read' | 'checkCommand' | 'maxRequestBytes'>,
  catalogFounded: () => boolean,
  admitted: () => boolean,
  movedProblem: (command: Uint8Array) => Promise<string | undefined> | undefined,
): grpc.UntypedServiceImplementation {
  const { read, checkCommand } = options
  const maxRequestBytes = options.maxRequestBytes ?? defaultMaxRequestBytes
  // A read of the catalog group answers the catalog (CatalogView as JSON), whatever the query.
  const answer = (group: number, query: Uint8Array): Uint8Array => (group === catalogGroup ? Buffer.from(JSON.stringify(catalog.view())) : (read as NonNullable<typeof read>)(group, query))
  return {
    Read: (call: grpc.ServerUnaryCall<{ group: number; query: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const group = Number(call.request.group)
      if (read === undefined && group !== catalogGroup) return callback({ code: grpc.status.UNIMPLEMENTED, details: 'ERR_BAD_COMMAND: this host serves no reads' })
      if (!host.groups.includes(group)) return callback({ code: grpc.status.NOT_FOUND, details: `ERR_NO_GROUP: Group ${group} has no replica on this host` })
      // As a one-group node's: a query waits for its ReadIndex in memory, so it is held to the command limit.
      if (call.request.query.length > maxRequestBytes) return callback({ code: grpc.status.INVALID_ARGUMENT, details: `ERR_REQUEST_TOO_LARGE: Read of ${call.request.query.length} bytes is larger than max_request_bytes (${maxRequestBytes} bytes)` })
      host.read(group).then(
        () => {
          let result: Uint8Array
          try {
            result = answer(group, call.request.query)
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
      const problem = group === catalogGroup ? commandProblem(call.request.command, clientCatalogProblem, maxCatalogCommandBytes, 'a catalog command may be') : commandProblem(call.request.command, (command) => checkCommand?.(command, group, catalog.shardCount), maxRequestBytes)
      if (problem !== undefined) return callback({ code: grpc.status.INVALID_ARGUMENT, details: problem })
      const propose = (): void => {
        host.propose(group, call.request.command).then(
          (result) => callback(null, { result: result instanceof Uint8Array ? Buffer.from(result) : Buffer.alloc(0) }),
          (error: RaftLogError & { leaderId?: number }) => {
            if (error.code === 'ERR_NOT_LEADER') callback(null, { notLeader: { leaderId: error.leaderId ?? 0, leaderAddress: addressOf(error.leaderId ?? 0) } })
            // In flight when leadership moved (it may still be applied: HostClient reports an unknown
            // outcome), or never proposed by a host that stopped (HostClient asks another).
            else if (error.code === 'ERR_LEADERSHIP_LOST' || error.code === 'ERR_STOPPED') callback({ code: grpc.status.UNAVAILABLE, details: `${error.code}: ${error.message}` })
            // The group's state machine applied it and threw, on every replica: final, never sent again.
            else callback({ code: grpc.status.FAILED_PRECONDITION, details: `${typeof error.code === 'string' ? error.code : 'ERR_APPLY'}: ${error.message}` })
          },
        )
      }
      // A move recorded as done frees the old host's log: only once the group is done with it.
      const checking = group === catalogGroup ? movedProblem(call.request.command) : undefined
      if (checking === undefined) return propose()
      checking.then((unfinished) => (unfinished === undefined ? propose() : callback({ code: grpc.status.INVALID_ARGUMENT, details: unfinished })))
    },
    Leaders: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      const groups = admitted() ? host.groups : []
      callback(null, { leaders: groups.map((group) => ({ group, leaderId: host.leaderOf(group) })), quietGroups: admitted() ? host.quietGroups : 0, catalogFounded: catalogFounded(), waiting: !admitted() })
    },
    GroupState: (call: grpc.ServerUnaryCall<{ group: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const group = Number(call.request.group)
      if (!host.hasGroup(group)) return callback(null, { hasGroup: false, leaderId: 0, configurationJson: '' })
      callback(null, { hasGroup: true, leaderId: host.leaderOf(group), configurationJson: JSON.stringify(host.configurationOf(group)) })
    },
    ChangeMembership: (call: grpc.ServerUnaryCall<{ group: number; addLearners: number[]; promote: number[]; remove: number[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const group = Number(call.request.group)
      const { addLearners, promote, remove } = call.request
      const change = { ...(addLearners.length > 0 ? { addLearners: addLearners.map((id) => ({ id: Number(id), address: '' })) } : {}), ...(promote.length > 0 ? { promote: promote.map(Number) } : {}), ...(remove.length > 0 ? { remove: remove.map(Number) } : {}) }
      const refuse = (problem: string): void => callback({ code: grpc.status.FAILED_PRECONDITION, details: `ERR_BAD_ARGUMENT: ${problem}` })
      if (group === catalogGroup) return refuse("The group catalog's members are its hosts: they change as hosts join, never by a client's change")
      // Judged on every catalog entry committed before the call (a ReadIndex of the catalog): the
      // move that a mover proposed a moment ago may not have applied on this host yet.
      host.read(catalogGroup).then(
        () => {
          const problem = membershipProblem(catalog, group, addLearners.map(Number), promote.map(Number), remove.map(Number))
          if (problem !== undefined) return refuse(problem)
          host.changeMembership(group, change).then(
            (configuration) => callback(null, { hasGroup: true, leaderId: host.leaderOf(group), configurationJson: JSON.stringify(configuration) }),
            (error: RaftLogError) => callback({ code: error.code === 'ERR_NO_GROUP' ? grpc.status.NOT_FOUND : grpc.status.FAILED_PRECONDITION, details: `${error.code}: ${error.message}` }),
          )
        },
        (error: RaftLogError) => callback({ code: grpc.status.UNAVAILABLE, details: `${error.code}: ${error.message}` }),
      )
    },
    TransferLeader: (call: grpc.ServerUnaryCall<{ group: number; to: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // Answered once the transfer is done (the target leads) or failed.
      host.transferLeadership(Number(call.request.group), Number(call.request.to)).then(
        (target) => callback(null, { target }),
        (error: RaftLogError) => callback({ code: error.code === 'ERR_NO_GROUP' ? grpc.status.NOT_FOUND : grpc.status.FAILED_PRECONDITION, details: `${error.code}: ${error.message}` }),
      )
    },
  }
}

/**
 * Why a client's membership change of `group` must not be made: a group's members are the
 * catalog's replicas, so only the steps of a move the catalog records (raftlog group move) are
 * taken. A member removed otherwise is started again, empty, as the catalog still lists it (and
 * a host removed from the catalog group, whose members follow the hosts, loses its catalog for good).
 */
function membershipProblem(catalog: GroupCatalog, group: number, addLearners: number[], promote: number[], remove: number[]): string | undefined {
  const move = catalog.moveOf(group)
  const fits = move !== undefined && addLearners.every((id) => id === move.to) && promote.every((id) => id === move.to) && remove.every((id) => id === move.from)
  if (fits) return undefined
  return `Group ${group}'s members are the catalog's replicas${move === undefined ? '' : ` (moving from node ${move.from} to node ${move.to})`}: change them with raftlog group move`
}

/** Why a client's command must not enter a group's log, as the code and message a client reads (`ERR_BAD_COMMAND: ...`), or undefined. */
function commandProblem(command: Uint8Array, check: (command: Uint8Array) => string | RaftLogError | undefined, maxRequestBytes: number, limit = 'max_request_bytes'): string | undefined {
  if (command.length > maxRequestBytes) return `ERR_REQUEST_TOO_LARGE: Command of ${command.length} bytes is larger than ${limit} (${maxRequestBytes} bytes)`
  const problem = check(command)
  if (problem === undefined) return undefined
  return problem instanceof RaftLogError ? `${problem.code}: ${problem.message}` : `ERR_BAD_COMMAND: ${problem}`
}
