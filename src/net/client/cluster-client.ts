// A client of a running cluster. It finds the leader itself (following NOT_LEADER answers) and
// remembers it, writes through a client session (Raft dissertation §6.3) so that a command sent
// again after a timeout or a lost connection is applied once, spreads reads over the nodes (any
// node serves a read after a ReadIndex), and reads every node's status. With failFast it gives up
// at once, not at the timeout, when no node answers or only a minority does.
import * as grpc from '@grpc/grpc-js'
import { stat } from 'node:fs/promises'
import { RaftLogError } from '../../errors.js'
import { ClientSession } from '../../session/client-session.js'
import type { ClusterConfig } from '../config/cluster-config.js'
import { maxGrpcMessageBytes } from '../transport/grpc-transport.js'
import { protocol } from '../protocol.js'
import { unreachableCodes, unreachableProblem } from './reachability.js'
import { tlsFailure } from '../tls/tls-failure.js'
import type { Configuration } from '../../raft/core/configuration.js'
import type { MembershipChange } from '../../raft/core/membership-change.js'
import { fromWireConfiguration, type WireConfiguration } from '../membership-wire.js'
import { checkClientTls, clientChannelCredentials, clientTlsOf, type ClientTls } from '../tls/client-tls.js'
import { describeCallFailure, grpcErrorText, manyGroupsNode } from './call-failure.js'
import { CallStream, streamedField, type CallError } from './call-stream.js'
import { withMembership, type NodeStatus } from './node-status.js'
import { BackupFailed, receiveSnapshot, type BackupTarget, type SavedSnapshot, type SnapshotStreamStub } from './snapshot-download.js'
import { EtcdEndpoints } from './etcd/etcd-endpoints.js'
import type { Bytes } from './etcd/key-range.js'
import { openWatch, type WatchOptions, type WatchStream } from './etcd/watch-stream.js'
import { LeaseHandle, leaseTimeToLive, listLeases, revokeLease, type LeaseOptions, type LeaseStatus } from './etcd/lease-handle.js'
import { acquireLock, type LockHandle, type LockOptions } from './etcd/lock-handle.js'
import { campaign, electionLeader, observeElection, type CampaignOptions, type ElectionLeader, type Leadership } from './etcd/leadership.js'
import { checkTimeoutMs } from './timeout-argument.js'

export type { NodeStatus } from './node-status.js'
export type { SavedSnapshot, BackupTarget } from './snapshot-download.js'
export type { WatchOptions, WatchStream, WatchBatch, WatchEvent } from './etcd/watch-stream.js'
export type { LeaseHandle, LeaseOptions, LeaseStatus } from './etcd/lease-handle.js'
export type { LockHandle, LockOptions } from './etcd/lock-handle.js'
export type { CampaignOptions, ElectionLeader, Leadership } from './etcd/leadership.js'

export interface SaveSnapshotOptions {
  /** How long to look for the leader, and the longest wait for the next piece of the snapshot (ms, default 10000). */
  timeoutMs?: number
}

export interface ClusterClientOptions {
  /**
   * Give up at once (ERR_NO_CLUSTER, ERR_NO_MAJORITY), not at the timeout, when a round over
   * every endpoint found no node answering, or fewer than a majority answering and none of them
   * knowing a leader. For one-shot tools; a long-lived client that may start before its
   * cluster, or ride out a restart of every node, waits for the timeout instead (default false).
   */
  failFast?: boolean
  /**
   * TLS for a cluster with peer_tls: the CA that signed the nodes' certificates and, when the
   * cluster has client_cert_auth, this client's certificate and key (PEM). Default: plaintext;
   * forCluster() takes them from the configuration (peer_tls.ca_file, client_tls.cert_file/key_file).
   */
  tls?: ClientTls
  /**
   * Where linearizable reads go: 'spread' (default) takes turns over the nodes, so followers
   * share the work (each asks the leader for a read index: one hop more); 'leader' sends them to
   * the node that answered as leader last (the first endpoint until one has), as etcd's clients
   * are set up for the fastest reads: one hop, no forwarding.
   */
  reads?: 'spread' | 'leader'
}

type Stub = grpc.Client & Record<string, (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply: never) => void) => void>

interface Reply {
  notLeader?: { leaderId: number; leaderAddress: string } | null
}

interface ResultReply extends Reply {
  result: Buffer
}

/** Calls only the leader answers. */
type LeaderMethod = 'Propose' | 'ChangeMembership' | 'TransferLeadership' | 'Join'


/** saveSnapshot's failures where another node (or the same one, later) may do better. */
const snapshotRetryCodes = new Set(['ERR_IO', 'ERR_NOT_LEADER', 'ERR_TIMEOUT', 'ERR_STOPPED', 'ERR_LEADERSHIP_LOST', 'ERR_LEADERSHIP_TRANSFER'])

/** Pause before asking again when no node knows a leader, or after a failed call. */
const retryPauseMs = 100
/** Longest one call may take before the client moves on to another node. */
export const callTimeoutMs = 2000
const clientChannelOptions: grpc.ChannelOptions = {
  // No channelz tracing: nothing reads it, and it costs every call.
  'grpc.enable_channelz': 0,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 500,
  // A reply can carry a value as large as a command may be (grpc's default is 4 MB).
  'grpc.max_receive_message_length': maxGrpcMessageBytes,
  'grpc.max_send_message_length': maxGrpcMessageBytes,
}

/**
 * A client of a running cluster: finds and remembers the leader, sends commands in a client session
 * (applied once however often they are sent again), reads linearizably on any node, and reads every
 * node's status. Close it when done.
 */
/** What a fail-fast client finds when the cluster cannot be reached (reachability.ts): a command refused so was never sent. */
export class ClusterClient {
  private readonly stubs = new Map<string, Stub>()
  /** Each node's Calls stream, which carries Propose and Read. */
  private readonly callStreams = new Map<string, CallStream>()
  /** The node that answered as leader last: asked first. */
  private leader: string | undefined
  private session: Promise<ClientSession> | undefined
  /** Where the next read goes: reads take turns over the nodes. */
  private nextReader = 0
  private readonly credentials: grpc.ChannelCredentials
  /** The nodes as etcd API servers, for watch, leases, locks and elections (made on first use). */
  private etcdApi: EtcdEndpoints | undefined

  /** `endpoints` are host:port of the nodes (every node, for failFast to judge a majority); `ids[i]` is the node id configured for `endpoints[i]`, when known. */
  constructor(
    private readonly endpoints: string[],
    private readonly ids: (number | null)[] = [],
    private readonly options: ClusterClientOptions = {},
  ) {
    if (!Array.isArray(endpoints) || endpoints.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'No endpoints to reach the cluster')
    if (options.tls !== undefined) checkClientTls(options.tls, 'ClusterClient options.tls')
    this.credentials = clientChannelCredentials(options.tls)
  }

  /** A client of every node of a configuration (loadClusterConfig); called on a subclass (KvClient), one of it. */
  static forCluster<C extends ClusterClient>(this: new (endpoints: string[], ids: (number | null)[], options: ClusterClientOptions) => C, cluster: ClusterConfig, options: ClusterClientOptions = {}): C {
    const tls = options.tls ?? clientTlsOf(cluster)
    return new this(
      cluster.nodes.map((node) => node.address),
      cluster.nodes.map((node) => node.nodeId),
      { ...options, ...(tls === undefined ? {} : { tls }) },
    )
  }

  /**
   * Proposes a command (a key-value command's bytes) through this client's session and resolves
   * with the state machine's answer. Sent again, the same entry, after a timeout or a lost
   * connection: it is applied once. Rejects with ERR_BAD_COMMAND for a command no node accepts,
   * ERR_UNKNOWN_OUTCOME only when it may have been applied and can no longer be asked about (the
   * session expired, or no leader answered before `timeoutMs`), ERR_NO_LEADER when it certainly
   * was not; with failFast, also what it found of the cluster when it could not reach it
   * (ERR_NO_MAJORITY, ERR_NO_CLUSTER, a TLS refusal), the command then never sent.
   */
  async propose(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs
    for (let opened = 0; ; opened++) {
      let session: ClientSession
      try {
        session = await this.openSession(deadline, timeoutMs)
      } catch (error) {
        // The command itself was never sent: say so, whatever became of the open (an open that
        // was applied unknown to us only leaves a session that expires).
        if ((error as RaftLogError).code !== 'ERR_UNKNOWN_OUTCOME') throw error
        // What a fail-fast client found (no majority reachable), said as it is: not as a wait for a session it did not wait out.
        const cause = (error as Error).cause
        if (cause instanceof RaftLogError && unreachableCodes.has(cause.code)) throw cause
        throw new RaftLogError('ERR_NO_LEADER', `No client session could be opened within ${timeoutMs} ms, so the command was not sent (${(error as Error).message})`)
      }
      const { sequence, entry } = session.command(command)
      try {
        return await this.toLeader('Propose', { command: Buffer.from(entry) }, deadline, timeoutMs)
      } catch (error) {
        const code = (error as RaftLogError).code
        // The session is gone (idle too long, or the cluster restarted from scratch): when this
        // command reached no node alive to apply it, open another and send it there.
        if (code === 'ERR_SESSION_EXPIRED') {
          this.session = undefined
          if ((error as RaftLogError & { attempts?: number }).attempts === 1 && opened === 0) continue
          throw new RaftLogError('ERR_UNKNOWN_OUTCOME', `The command may or may not have been applied: its client session expired before the outcome was known (${(error as Error).message})`)
        }
        throw error
      } finally {
        session.answered(sequence)
      }
    }
  }

  /**
   * A linearizable read, served by any node after a ReadIndex (no log entry); reads take turns
   * over the nodes. With bytes: the node server's read function answers them. With a string:
   * the key-value store's get of that key (its UTF-8 bytes; for any bytes, a get query:
   * encodeKvQuery({ op: 'get', key })).
   */
  read(query: Uint8Array | string, timeoutMs: number): Promise<Uint8Array> {
    const request = typeof query === 'string' ? { key: Buffer.from(query, 'utf8') } : { query: Buffer.from(query.buffer, query.byteOffset, query.length) }
    const start = this.options.reads === 'leader' ? this.leaderFirst() : (this.endpoints[this.nextReader++ % this.endpoints.length] as string)
    return this.call<ResultReply>('Read', request, Date.now() + timeoutMs, timeoutMs, start).then((reply) => new Uint8Array(reply.result))
  }

  /**
   * Every endpoint's status, and every member's the endpoints know of (a node that joined);
   * an unreachable node is reported, not thrown. Each one's suffrage and how far behind it is
   * come from the leader's view, when a leader answered.
   */
  async statuses(timeoutMs: number): Promise<NodeStatus[]> {
    checkTimeoutMs(timeoutMs)
    const deadline = Date.now() + timeoutMs
    const { statuses } = await this.probe(timeoutMs)
    const probed = new Set(this.endpoints)
    const unprobed = new Map<string, number>()
    for (const status of statuses) for (const member of status.members ?? []) if (member.address !== '' && !probed.has(member.address)) unprobed.set(member.address, member.id)
    if (unprobed.size > 0) {
      const more = await this.probe(Math.max(1, deadline - Date.now()), [...unprobed.keys()], [...unprobed.values()])
      statuses.push(...more.statuses)
    }
    return withMembership(statuses)
  }

  /**
   * Changes the membership (joint consensus, one change at a time), through the leader; resolves
   * with the new configuration once committed. Not sent again after a call that may have
   * reached the leader (ERR_UNKNOWN_OUTCOME: look with statuses()). Errors from the leader keep
   * their code: ERR_CHANGE_IN_PROGRESS, ERR_LEARNER_BEHIND, ERR_BAD_ARGUMENT, ERR_LEADERSHIP_LOST.
   */
  async changeMembership(change: MembershipChange, timeoutMs: number): Promise<Configuration> {
    const request = {
      addVoters: change.addVoters ?? [],
      addLearners: change.addLearners ?? [],
      promote: change.promote ?? [],
      remove: change.remove ?? [],
      demote: change.demote ?? [],
      updateAddresses: change.updateAddresses ?? [],
    }
    const reply = await this.call<Reply & { configuration: WireConfiguration }>('ChangeMembership', request, Date.now() + timeoutMs, timeoutMs, this.leaderFirst(), { once: true })
    return fromWireConfiguration(reply.configuration)
  }

  /** Hands leadership to voter `to` (or the most up-to-date other voter); resolves with the new leader's id. Sent once, as changeMembership. */
  async transferLeadership(to: number | undefined, timeoutMs: number): Promise<number> {
    const reply = await this.call<Reply & { leaderId: number }>('TransferLeadership', { to: to ?? 0 }, Date.now() + timeoutMs, timeoutMs, this.leaderFirst(), { once: true })
    return reply.leaderId
  }

  /**
   * Asks the cluster to add `member` as a learner (asked again it answers the same); resolves with
   * the cluster id and the configuration that names it. Asks again while another change is under
   * way or leadership moves, until `timeoutMs`.
   */
  async join(member: { id: number; address: string }, timeoutMs: number): Promise<{ clusterId: string; configuration: Configuration; memberSince: number }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        const reply = await this.call<Reply & { clusterId: string; configuration: WireConfiguration; memberSince: number | string }>('Join', member, deadline, Math.max(1, deadline - Date.now()), this.leaderFirst())
        return { clusterId: reply.clusterId, configuration: fromWireConfiguration(reply.configuration), memberSince: Number(reply.memberSince ?? 0) }
      } catch (error) {
        const code = (error as RaftLogError).code
        if ((code !== 'ERR_CHANGE_IN_PROGRESS' && code !== 'ERR_LEADERSHIP_LOST') || Date.now() + retryPauseMs >= deadline) throw error
        await pause(retryPauseMs)
      }
    }
  }

  /**
   * Saves a consistent snapshot of the cluster's state machine as a backup file (etcdctl snapshot
   * save): the leader confirms its leadership (ReadIndex) and takes a snapshot at what it has
   * applied, so the backup holds every write acknowledged before the call; its file is streamed
   * here in pieces. To a path: written to PATH.tmp (created exclusively, 0600), synced, checked
   * whole and renamed (ERR_EXISTS when PATH exists); to a stream: the same bytes, written in order.
   * Rejects with ERR_NO_LEADER, ERR_UNSUPPORTED (a state machine without snapshots), ERR_TIMEOUT
   * (the stream stalled), ERR_CORRUPT (what arrived does not check out).
   */
  async saveSnapshot(target: BackupTarget, options: SaveSnapshotOptions = {}): Promise<SavedSnapshot> {
    const timeoutMs = options.timeoutMs ?? 10_000
    checkTimeoutMs(timeoutMs)
    if (typeof target !== 'string' && (target === null || typeof target !== 'object' || typeof target.write !== 'function')) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', 'ClusterClient.saveSnapshot: target must be a file path or a writable stream', { argument: 'target' })
    }
    // Before the leader takes a snapshot for nothing.
    if (typeof target === 'string') await refuseExisting(target)
    const deadline = Date.now() + timeoutMs
    let address = this.leaderFirst()
    let next = this.endpoints.indexOf(address) + 1
    let lastProblem = ''
    /** Attempts in a row that found no node listening, or one that knows no leader (failFast). */
    let fruitless = 0
    while (Date.now() < deadline) {
      if (this.options.failFast === true && fruitless >= this.endpoints.length) {
        fruitless = 0
        const { statuses, refused } = await this.probe(Math.min(callTimeoutMs, Math.max(1, deadline - Date.now())))
        const problem = unreachableProblem(statuses, refused, { tls: this.options.tls !== undefined, certificate: this.options.tls?.cert !== undefined })
        if (problem !== undefined) throw problem
      }
      try {
        const outcome = await receiveSnapshot(this.stub(address) as unknown as SnapshotStreamStub, address, target, timeoutMs)
        if (!('notLeader' in outcome)) {
          this.leader = address
          return outcome
        }
        lastProblem = `${address} is not the leader`
        if (this.leader === address) this.leader = undefined
        if (outcome.notLeader.leaderAddress !== '') address = outcome.notLeader.leaderAddress
        else {
          fruitless++
          address = this.endpoints[next++ % this.endpoints.length] as string
          await pause(retryPauseMs)
        }
      } catch (error) {
        // Bytes of it were written, or the answer is final (no snapshots, no such file): no retry.
        if (error instanceof BackupFailed) throw (error as Error & { cause: Error }).cause
        const code = (error as RaftLogError & { grpcCode?: number }).code
        if (!snapshotRetryCodes.has(code)) throw error
        if ((error as { grpcCode?: number }).grpcCode === grpc.status.UNAUTHENTICATED) throw new RaftLogError('ERR_UNAUTHENTICATED', `${address} refused the client: ${(error as Error).message}`)
        const refusedAtHandshake = tlsFailure(address, (error as Error).message)
        if (refusedAtHandshake !== undefined) throw refusedAtHandshake
        lastProblem = `${address}: ${grpcErrorText({ message: (error as Error).message })}`
        if (this.leader === address) this.leader = undefined
        fruitless = neverSent(error as Error & { code?: number }) || (error as { grpcCode?: number }).grpcCode === grpc.status.UNAVAILABLE ? fruitless + 1 : 0
        address = this.endpoints[next++ % this.endpoints.length] as string
        await pause(retryPauseMs)
      }
    }
    throw new RaftLogError('ERR_NO_LEADER', `No leader could be reached to save a snapshot within ${timeoutMs} ms (tried ${this.endpoints.join(', ')}; last: ${lastProblem})`)
  }

  /** Every endpoint's status, and the addresses where no connection could be made at all. */
  private async probe(timeoutMs: number, endpoints = this.endpoints, ids = this.ids): Promise<{ statuses: NodeStatus[]; refused: Set<string> }> {
    const deadline = Date.now() + timeoutMs
    const refused = new Set<string>()
    const statuses = await Promise.all(
      endpoints.map(async (address, position): Promise<NodeStatus> => {
        try {
          const status = await this.unary<Omit<NodeStatus, 'address' | 'reachable'>>(address, 'Status', {}, deadline)
          return { ...status, address, reachable: true }
        } catch (error) {
          if (neverSent(error as Error & { code?: number })) refused.add(address)
          return { id: ids[position] ?? null, address, reachable: false, error: describeCallFailure(error as Error & { code?: number }, timeoutMs) }
        }
      }),
    )
    return { statuses, refused }
  }

  close(): void {
    for (const calls of this.callStreams.values()) calls.close()
    this.callStreams.clear()
    for (const stub of this.stubs.values()) stub.close()
    this.stubs.clear()
    this.etcdApi?.close()
    this.etcdApi = undefined
  }

  /**
   * The events of `key` (or of every key under it, with `prefix`) from `startRevision` (default:
   * the next write), as an async iterator of batches: every event once, in revision order, with no
   * gap, across node failures (it resumes on another node from the revision after the last
   * delivered). A start revision the cluster compacted away ends it with ERR_COMPACTED. Served
   * over etcd's Watch API on the nodes' ports.
   */
  watch(key: Bytes, options: WatchOptions = {}): WatchStream {
    return openWatch(this.etcd(), key, options)
  }

  /**
   * Grants a lease of `ttlSeconds` (raised to the cluster's minimum, 1.5 election timeouts), kept
   * alive every third of its TTL until revoke() or close(). Attach keys to it with a transaction's
   * put (lease: handle.id); they are deleted, at one revision, when it expires or is revoked.
   */
  grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<LeaseHandle> {
    return LeaseHandle.grant(this.etcd(), ttlSeconds, options)
  }

  /** Keeps lease `id` (granted elsewhere) alive from now on. ERR_LEASE_NOT_FOUND. */
  keepLeaseAlive(id: number, timeoutMs = 5000): Promise<LeaseHandle> {
    return LeaseHandle.attach(this.etcd(), id, timeoutMs)
  }

  /** Lease `id`'s time left (s; -1 when it does not exist), granted TTL and keys. */
  leaseTimeToLive(id: number, timeoutMs = 5000): Promise<LeaseStatus> {
    return leaseTimeToLive(this.etcd(), id, timeoutMs)
  }

  /** Ends lease `id` now: its keys are deleted at one revision. ERR_LEASE_NOT_FOUND. */
  revokeLease(id: number, timeoutMs = 5000): Promise<void> {
    return revokeLease(this.etcd(), id, timeoutMs)
  }

  /** The ids of every lease. */
  leases(timeoutMs = 5000): Promise<number[]> {
    return listLeases(this.etcd(), timeoutMs)
  }

  /**
   * Waits until this client holds lock `name` (etcd's lock: fair, first come first served) and
   * resolves with its key and fencing token. The lock lives as long as its lease (by default its
   * own, kept alive): a holder that crashes frees it within the TTL. ERR_TIMEOUT, ERR_CANCELLED.
   */
  lock(name: Bytes, options: LockOptions = {}): Promise<LockHandle> {
    return acquireLock(this.etcd(), name, options)
  }

  /** Waits until this client leads election `name` with `value`; resolves with the leadership (fencing token, proclaim, resign). */
  campaign(name: Bytes, value: Bytes, options: CampaignOptions = {}): Promise<Leadership> {
    return campaign(this.etcd(), name, value, options)
  }

  /** Who leads election `name` now (undefined: no one). */
  electionLeader(name: Bytes, timeoutMs = 5000): Promise<ElectionLeader | undefined> {
    return electionLeader(this.etcd(), name, timeoutMs)
  }

  /** The leaders of election `name` as they change, the current one first, as an async iterator. */
  observeElection(name: Bytes): AsyncIterable<ElectionLeader> & { close(): void } {
    return observeElection(this.etcd(), name)
  }

  private etcd(): EtcdEndpoints {
    this.etcdApi ??= new EtcdEndpoints(this.endpoints, this.credentials)
    return this.etcdApi
  }

  private openSession(deadline: number, timeoutMs: number): Promise<ClientSession> {
    if (this.session === undefined) {
      // Opening twice after a lost answer only leaves an idle session behind, which expires.
      const opening = ClientSession.open((entry) => this.toLeader('Propose', { command: Buffer.from(entry) }, deadline, timeoutMs))
      this.session = opening
      opening.catch(() => {
        if (this.session === opening) this.session = undefined
      })
    }
    return this.session
  }

  private async toLeader(method: 'Propose', request: unknown, deadline: number, timeoutMs: number): Promise<Uint8Array> {
    const reply = await this.call<ResultReply>(method, request, deadline, timeoutMs, this.leaderFirst())
    return new Uint8Array(reply.result)
  }

  private leaderFirst(): string {
    return this.leader ?? (this.endpoints[0] as string)
  }

  /**
   * Calls `method` from node `first` on, following NOT_LEADER answers and trying the other
   * nodes after a failure, until one answers or the deadline passes. Every attempt sends the
   * same request: callers send only what may be sent twice (a session's entry, a read), or
   * say `once`: then a call that may have reached a node is not sent again (ERR_UNKNOWN_OUTCOME).
   */
  private async call<T extends Reply>(method: LeaderMethod | 'Read', request: unknown, deadline: number, timeoutMs: number, first: string, options: { once?: boolean } = {}): Promise<T> {
    checkTimeoutMs(timeoutMs)
    let next = Math.max(0, this.endpoints.indexOf(first))
    let target: string | undefined = first
    /** The node asked last, and the one before: a redirect back to `previous` is a ping-pong. */
    let current: string | undefined
    let previous: string | undefined
    let lastProblem = ''
    let attempts = 0
    /** Attempts in a row that found no node listening, or one that knows no leader. */
    let fruitless = 0
    /** Some attempt may have reached a leader that appended it. */
    let maybeApplied = false
    /** The last refusal of a leader whose disk was full (it appended nothing). */
    let diskFull: string | undefined
    /** Addresses that answered UNIMPLEMENTED: no raftlog one-group node listens there. */
    const notRaftClient = new Set<string>()
    while (Date.now() < deadline) {
      if (this.options.failFast === true && fruitless >= this.endpoints.length) {
        fruitless = 0
        const { statuses, refused } = await this.probe(Math.min(callTimeoutMs, Math.max(1, deadline - Date.now())))
        const problem = unreachableProblem(statuses, refused, { tls: this.options.tls !== undefined, certificate: this.options.tls?.cert !== undefined })
        if (problem !== undefined) {
          if (method === 'Propose' && maybeApplied) throw new RaftLogError('ERR_UNKNOWN_OUTCOME', `The command may or may not have been applied: ${problem.message}`, {}, { cause: problem })
          throw problem
        }
      }
      const address: string = target ?? (this.endpoints[next % this.endpoints.length] as string)
      previous = current
      current = address
      target = undefined
      next++
      try {
        attempts++
        // A membership change or a transfer may take a few rounds: the whole time is its own.
        const reply = await this.unary<T>(address, method, request, deadline, method === 'Propose' || method === 'Read' ? callTimeoutMs : timeoutMs)
        if (reply.notLeader === null || reply.notLeader === undefined) {
          if (method !== 'Read') this.leader = address
          return reply
        }
        lastProblem = `${address} is not the leader`
        if (this.leader === address) this.leader = undefined
        if (reply.notLeader.leaderAddress !== '') {
          target = reply.notLeader.leaderAddress
          // Sent back where it came from: leadership is moving (a transfer); give it a moment.
          if (target === previous) await pause(retryPauseMs / 4)
        } else {
          fruitless++
          await pause(retryPauseMs)
        }
      } catch (error) {
        const code = (error as { code?: number }).code
        const details = (error as Error).message
        // Without the certificate the cluster asks for, every node answers the same: refused at
        // the handshake (client_cert_auth), or by the service.
        if (code === grpc.status.UNAUTHENTICATED) throw new RaftLogError('ERR_UNAUTHENTICATED', `${address} refused the client: ${details}`)
        const refusedAtHandshake = tlsFailure(address, details)
        if (refusedAtHandshake?.code === 'ERR_UNAUTHENTICATED') throw refusedAtHandshake
        if (code === grpc.status.INVALID_ARGUMENT) throw refused(address, method === 'Read' ? 'read' : 'command', details)
        // A process that does not serve raftlog.RaftClient runs many groups (RaftHostClient), or
        // took over the port of a node that stopped: refused only once every node says so.
        if (code === grpc.status.UNIMPLEMENTED) {
          notRaftClient.add(address)
          if (this.endpoints.every((endpoint) => notRaftClient.has(endpoint))) throw manyGroupsNode(address)
          if (this.leader === address) this.leader = undefined
          lastProblem = `${address} does not serve raftlog.RaftClient`
          fruitless++
          continue
        }
        // The leader's log at its ceiling (max_log_bytes): refused before the log, never applied,
        // and no other node would take it sooner. Said as it is, for the operator.
        if (code === grpc.status.RESOURCE_EXHAUSTED && details.startsWith('ERR_LOG_FULL: ')) throw new RaftLogError('ERR_LOG_FULL', `${address} refused the write (ERR_LOG_FULL): ${details.slice('ERR_LOG_FULL: '.length)}`, { address })
        // Too large for gRPC: asking again, or another node, cannot help.
        if (code === grpc.status.RESOURCE_EXHAUSTED) throw new RaftLogError('ERR_BAD_COMMAND', `${address}: ${details}`)
        // A node still starting refused it before anything (never applied): ask the others.
        if (code === grpc.status.UNAVAILABLE && details.startsWith('ERR_STARTING: ')) {
          lastProblem = `${address}: ${details.slice('ERR_STARTING: '.length)}`
          fruitless++
          if (fruitless % this.endpoints.length === 0) await pause(retryPauseMs)
          continue
        }
        // A leader whose disk is full refused it before the log (never applied) and hands
        // leadership over: ask again shortly, the other nodes first.
        if (code === grpc.status.UNAVAILABLE && details.startsWith('ERR_DISK_FULL: ')) {
          if (this.leader === address) this.leader = undefined
          diskFull = `${address}: ${details.slice('ERR_DISK_FULL: '.length)}`
          lastProblem = diskFull
          await pause(retryPauseMs)
          continue
        }
        if (code === grpc.status.FAILED_PRECONDITION) {
          if (details.startsWith('ERR_SESSION_EXPIRED')) throw Object.assign(new RaftLogError('ERR_SESSION_EXPIRED', details), { attempts })
          throw finalAnswer(details)
        }
        if (this.leader === address) this.leader = undefined
        const down = neverSent(error as Error & { code?: number })
        if (!down) maybeApplied = true
        if (options.once === true && !down) {
          throw new RaftLogError('ERR_UNKNOWN_OUTCOME', `${method} may or may not have been carried out: ${address} did not answer (${details}); look at the members with raftlog member list`)
        }
        lastProblem = `${address}: ${details}`
        // A node that took the call and failed or did not answer in time is there: hope, not a
        // reason to give up early.
        fruitless = down ? fruitless + 1 : 0
        // A node that is down is no reason to wait before asking the next one; a round of them is.
        if (!down || fruitless % this.endpoints.length === 0) await pause(retryPauseMs / 2)
      }
    }
    if (method === 'Propose' && maybeApplied) {
      throw new RaftLogError('ERR_UNKNOWN_OUTCOME', `The command may or may not have been applied: no leader answered within ${timeoutMs} ms (last: ${lastProblem})`)
    }
    if (diskFull !== undefined && lastProblem === diskFull) throw new RaftLogError('ERR_DISK_FULL', `No leader could take the ${method === 'Propose' ? 'command' : 'request'} within ${timeoutMs} ms (ERR_DISK_FULL): ${diskFull}`)
    throw new RaftLogError('ERR_NO_LEADER', `No leader could be reached within ${timeoutMs} ms (tried ${this.endpoints.join(', ')}; last: ${lastProblem})`)
  }

  private stub(address: string): Stub {
    let stub = this.stubs.get(address)
    if (stub === undefined) {
      stub = new protocol.RaftClient(address, this.credentials, clientChannelOptions) as unknown as Stub
      this.stubs.set(address, stub)
    }
    return stub
  }

  /** Propose and Read go as messages of the node's Calls stream (a node without one, or a request over maxStreamedRequestBytes: unary calls). */
  private unary<T>(address: string, method: string, request: unknown, deadline: number, perCallMs = callTimeoutMs): Promise<T> {
    const field = streamedField(method, request)
    if (field === undefined) return this.unaryCall(address, method, request, deadline, perCallMs)
    const calls = this.callStream(address)
    if (!calls.supported) return this.unaryCall(address, method, request, deadline, perCallMs)
    return calls.call<T>(field, request as Record<string, unknown>, Math.min(deadline, Date.now() + perCallMs)).catch((error: CallError) => {
      // The node has no Calls method: it refused the stream, so the call ran nowhere. Ask its unary method.
      if (error.code === grpc.status.UNIMPLEMENTED && !calls.supported) return this.unaryCall<T>(address, method, request, deadline, perCallMs)
      throw error
    })
  }

  private callStream(address: string): CallStream {
    let calls = this.callStreams.get(address)
    if (calls === undefined) {
      const stub = this.stub(address) as unknown as { Calls(options: grpc.CallOptions): ReturnType<ConstructorParameters<typeof CallStream>[0]> }
      calls = new CallStream(() => stub.Calls({}))
      this.callStreams.set(address, calls)
    }
    return calls
  }

  private unaryCall<T>(address: string, method: string, request: unknown, deadline: number, perCallMs: number): Promise<T> {
    const target = this.stub(address)
    return new Promise<T>((resolve, reject) => {
      ;(target[method] as Stub[string]).call(target, request, { deadline: Math.min(deadline, Date.now() + perCallMs) }, (error, reply) => {
        if (error !== null) reject(Object.assign(new Error(grpcErrorText(error)), { code: error.code }))
        else resolve(reply as T)
      })
    })
  }
}

/** A request the node refused before the log: ERR_BAD_COMMAND, or the code the node's answer starts with (ERR_KEY_TOO_LARGE: …). */
function refused(address: string, what: string, details: string): RaftLogError {
  const coded = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(details)
  return new RaftLogError(coded?.[1] ?? 'ERR_BAD_COMMAND', `${address} refused the ${what}: ${coded?.[2] ?? details}`, { address })
}

/**
 * The state machine's own error for a command it applied (a node answers "CODE: message" with
 * FAILED_PRECONDITION): final, so it is not sent again.
 */
function finalAnswer(details: string): RaftLogError {
  const match = /^([A-Z][A-Z0-9_]*): ([\s\S]*)$/.exec(details)
  return match === null ? new RaftLogError('ERR_APPLY', details) : new RaftLogError(match[1] as string, match[2] as string)
}

/**
 * Whether a failed call certainly never reached the node: grpc-js fails a call at once, before
 * sending it, while it has no connection. A timeout, a connection lost mid-call or a node's own
 * error (ABORTED) leave the outcome unknown.
 */
function neverSent(error: Error & { code?: number }): boolean {
  return error.code === grpc.status.UNAVAILABLE && error.message.includes('No connection established')
}

/** saveSnapshot to a path that exists is refused before the cluster is asked (ERR_EXISTS). */
async function refuseExisting(path: string): Promise<void> {
  try {
    await stat(path)
  } catch {
    return
  }
  throw new RaftLogError('ERR_EXISTS', `${path} exists already: choose another file name, or remove it first`, { file: path })
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

