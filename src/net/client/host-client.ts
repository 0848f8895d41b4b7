// A client of RaftHosts: proposals to any group, sent to the host that leads it. It remembers each
// group's leader, follows "not the leader" answers, and moves on to another host when one does
// not answer. No client session: a proposal sent again after a lost answer may apply twice (say
// so to callers; raftlog's single-group ClusterClient has sessions).
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { protocol } from '../protocol.js'
import { maxGrpcMessageBytes, type PeerAddress } from '../transport/grpc-transport.js'
import type { Configuration } from '../../raft/core/configuration.js'
import { tlsFailure } from '../tls/tls-failure.js'
import { describeCallFailure } from './call-failure.js'
import { CallStream, streamedField, type CallError } from './call-stream.js'
import { groupName } from '../../host/group-catalog.js'

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

type Unary = (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply: never) => void) => void
type Stub = grpc.Client & Record<string, Unary>

/** Pause before asking again when no host knows a leader (ms). */
const retryPauseMs = 50

/**
 * The hosts asked for one call that said they hold no replica of its group, and whether every host
 * said so in one sweep with no other answer since: then, at the deadline, the group is on no host
 * (ERR_NO_GROUP), even if the last call was cut by the deadline (which says nothing either way).
 */
export class ReplicaSearch {
  readonly without = new Set<number>()
  private noHostHasIt = false
  problem = 'no host asked yet'
  /** Hosts where no connection could be made since they last answered: nothing listens there. */
  private readonly refused = new Set<number>()

  constructor(private readonly hostCount: number) {}

  /**
   * ERR_NO_CLUSTER once every host refused the connection (waiting for the deadline would not
   * help: nothing listens), naming the addresses tried; else undefined.
   */
  nobodyListens(addresses: readonly string[]): RaftLogError | undefined {
    if (this.refused.size < this.hostCount) return undefined
    return new RaftLogError('ERR_NO_CLUSTER', `no node answered: is the cluster running? tried ${addresses.join(', ')} (${describeCallFailure(new Error(this.problem), 0)})`, { tried: [...addresses] })
  }

  /** `host` said it holds no replica; after a whole sweep of such answers, waits a little before the next. */
  async noReplicaOn(host: number, details: string): Promise<void> {
    this.without.add(host)
    this.problem = details
    // No host has it yet (a group just created, a cluster founding its catalog) or any more: ask again until the deadline.
    if (this.without.size < this.hostCount) return
    this.noHostHasIt = true
    this.without.clear()
    await pause()
  }

  /** `host` answered otherwise, or failed (`failure`). */
  answered(host: number, failure?: grpc.ServiceError): void {
    if (failure?.code !== grpc.status.DEADLINE_EXCEEDED) this.noHostHasIt = false
    if (failure !== undefined) this.problem = `host ${host}: ${failure.details ?? failure.message}`
    // grpc-js says "No connection established. Last error: null" for a call that found the
    // channel backing off after a refusal without naming it: nothing answered there either. (Not
    // every "No connection established": a plaintext client at a TLS port gets it too, with its
    // error named, and "is the cluster running?" would mislead it.)
    if (failure !== undefined && failure.code === grpc.status.UNAVAILABLE && /ECONNREFUSED|No connection established\. Last error: null/.test(failure.details ?? failure.message)) this.refused.add(host)
    else this.refused.delete(host)
  }

  /** ERR_NO_GROUP when the hosts said the group is nowhere, else undefined. */
  noGroupError(group: number, timeoutMs: number): RaftLogError | undefined {
    if (!this.noHostHasIt && !/^ERR_NO_GROUP/.test(this.problem)) return undefined
    return new RaftLogError('ERR_NO_GROUP', `Group ${group} has a replica on none of the ${this.hostCount} hosts (asked for ${timeoutMs} ms)`)
  }
}

/**
 * The error for a call refused for want of a certificate (by TLS at the handshake, or by the
 * service) or to a host whose certificate this client does not trust: every host answers the same,
 * so no other is asked. Also ERR_ONE_GROUP for a node that does not serve RaftHostClient (a
 * one-group cluster's). Undefined for any other failure.
 */
function refusal(address: string, failure: grpc.ServiceError): RaftLogError | undefined {
  const details = failure.details ?? failure.message
  // Every node of a cluster is of one kind: one that does not serve RaftHostClient runs one Raft group.
  if (failure.code === grpc.status.UNIMPLEMENTED) return new RaftLogError('ERR_ONE_GROUP', `${address} runs one Raft group, not many (it does not serve raftlog.RaftHostClient): this is for clusters started with --groups or cluster_settings.groups`, { address })
  if (failure.code === grpc.status.UNAUTHENTICATED) return new RaftLogError('ERR_UNAUTHENTICATED', `${address} refused the client: ${details}`, { address })
  return tlsFailure(address, details)
}

function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, retryPauseMs))
}

export class HostClient {
  private readonly stubs = new Map<number, Stub>()
  /** Each host's Calls stream, which carries Propose and Read. */
  private readonly callStreams = new Map<number, CallStream>()
  /** The host that led each group when last heard. */
  private readonly leaders = new Map<number, number>()
  private next = 0

  private readonly hosts: PeerAddress[]

  constructor(hosts: readonly PeerAddress[], private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    if (hosts.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'No hosts to reach')
    this.hosts = hosts.map((host) => ({ ...host }))
  }

  /** The hosts this client asks: those it was given, then those it learned of (learnHost, or a leader's address in an answer). */
  get knownHosts(): readonly PeerAddress[] {
    return this.hosts
  }

  /** Host `peer.id` serves at `peer.address` (a host that joined the cluster, or moved): it is asked there from now on. */
  learnHost(peer: PeerAddress): void {
    if (peer.address === '') return
    const known = this.hosts.findIndex((host) => host.id === peer.id)
    if (known === -1) {
      this.hosts.push({ id: peer.id, address: peer.address })
      return
    }
    if ((this.hosts[known] as PeerAddress).address === peer.address) return
    this.hosts[known] = { id: peer.id, address: peer.address }
    this.callStreams.get(peer.id)?.close()
    this.callStreams.delete(peer.id)
    this.stubs.get(peer.id)?.close()
    this.stubs.delete(peer.id)
  }

  /**
   * Proposes `command` to `group` at its leader and resolves with the state machine's answer.
   * ERR_NO_LEADER when no host led it within `timeoutMs` (the command was not applied), ERR_UNKNOWN_OUTCOME
   * when the leader failed with it in flight.
   */
  async propose(group: number, command: Uint8Array, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    const search = new ReplicaSearch(this.hosts.length)
    while (Date.now() < deadline) {
      const target = this.leaders.get(group) ?? this.nextHost(search.without)
      let reply: { result?: Buffer; notLeader?: { leaderId: number; leaderAddress?: string } | null }
      try {
        reply = await this.call(target, 'Propose', { group, command: Buffer.from(command) }, deadline)
      } catch (error) {
        const failure = error as grpc.ServiceError
        this.leaders.delete(group)
        // A proposal in flight when its host stopped leading (or stopped) may yet be applied. A host
        // that stopped before proposing it (ERR_STOPPED) proposed nothing: another host is asked.
        if (/^ERR_LEADERSHIP_LOST/.test(failure.details ?? '')) throw new RaftLogError('ERR_UNKNOWN_OUTCOME', `${capitalized(groupName(group))}: host ${target} failed with the proposal in flight (${failure.details})`)
        const refused = refusal(this.addressOf(target), failure)
        if (refused !== undefined) throw refused
        // Refused before the log (a command every replica would refuse, or too large), or applied
        // and refused by the group's state machine: final.
        if (failure.code === grpc.status.INVALID_ARGUMENT || failure.code === grpc.status.FAILED_PRECONDITION) throw new RaftLogError(/^(ERR_[A-Z_]+)/.exec(failure.details ?? '')?.[1] ?? 'ERR_BAD_COMMAND', `${capitalized(groupName(group))}: ${(failure.details ?? '').replace(/^ERR_[A-Z_]+: /, '')}`)
        // With groups on R of N hosts, most hosts hold no replica of a given group: ask the others.
        if (/^ERR_NO_GROUP/.test(failure.details ?? '')) {
          await search.noReplicaOn(target, failure.details)
          continue
        }
        search.answered(target, failure)
        const nobody = search.nobodyListens(this.hosts.map((host) => host.address))
        if (nobody !== undefined) throw nobody
        await pause()
        continue
      }
      search.answered(target)
      if (reply.notLeader !== undefined && reply.notLeader !== null) {
        const leader = Number(reply.notLeader.leaderId)
        // A leader this client was not given (it joined the cluster later): the answer says where it is.
        if (leader > 0 && reply.notLeader.leaderAddress !== undefined && !this.hosts.some((host) => host.id === leader)) this.learnHost({ id: leader, address: reply.notLeader.leaderAddress })
        if (leader > 0 && leader !== target) this.leaders.set(group, leader)
        else {
          this.leaders.delete(group)
          search.problem = `host ${target} knows no leader of ${groupName(group)}`
          await pause()
        }
        continue
      }
      this.leaders.set(group, target)
      return reply.result ?? Buffer.alloc(0)
    }
    throw search.noGroupError(group, timeoutMs) ?? new RaftLogError('ERR_NO_LEADER', `No leader of ${groupName(group)} answered within ${timeoutMs} ms (${search.problem})`)
  }

  /**
   * A linearizable read `query` of `group`, served by any host with a replica after a ReadIndex;
   * reads take turns over the hosts. ERR_NO_LEADER when none could serve it within `timeoutMs`.
   */
  async read(group: number, query: Uint8Array, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    const search = new ReplicaSearch(this.hosts.length)
    while (Date.now() < deadline) {
      const target = this.nextHost(search.without)
      try {
        const reply = await this.call<{ result?: Buffer }>(target, 'Read', { group, query: Buffer.from(query) }, deadline)
        return reply.result ?? Buffer.alloc(0)
      } catch (error) {
        const failure = error as grpc.ServiceError
        if (/^ERR_NO_GROUP/.test(failure.details ?? '')) {
          await search.noReplicaOn(target, failure.details)
          continue
        }
        const refused = refusal(this.addressOf(target), failure)
        if (refused !== undefined) throw refused
        if (failure.code === grpc.status.INVALID_ARGUMENT) throw new RaftLogError((/^(ERR_[A-Z_]+)/.exec(failure.details ?? '')?.[1] ?? 'ERR_BAD_COMMAND'), failure.details.replace(/^ERR_[A-Z_]+: /, ''))
        search.answered(target, failure)
        const nobody = search.nobodyListens(this.hosts.map((host) => host.address))
        if (nobody !== undefined) throw nobody
        await pause()
      }
    }
    throw search.noGroupError(group, timeoutMs) ?? new RaftLogError('ERR_NO_LEADER', `No host served a read of ${groupName(group)} within ${timeoutMs} ms (${search.problem})`)
  }

  /** Which host leads each group, as host `id` knows it (0: none known). */
  async leadersAt(id: number, timeoutMs = 2000): Promise<Map<number, number>> {
    const reply = await this.call<{ leaders: { group: number; leaderId: number }[] }>(id, 'Leaders', {}, Date.now() + timeoutMs)
    return new Map(reply.leaders.map((leader) => [Number(leader.group), Number(leader.leaderId)]))
  }

  /** What host `id` holds: which host leads each of its groups (0: none known) and how many of them are quiet. */
  async hostLeadersAt(id: number, timeoutMs = 2000): Promise<{ leaders: Map<number, number>; quietGroups: number; catalogFounded: boolean; waiting: boolean }> {
    const reply = await this.call<{ leaders: { group: number; leaderId: number }[]; quietGroups: number; catalogFounded?: boolean; waiting?: boolean }>(id, 'Leaders', {}, Date.now() + timeoutMs)
    return { leaders: new Map(reply.leaders.map((leader) => [Number(leader.group), Number(leader.leaderId)])), quietGroups: Number(reply.quietGroups), catalogFounded: reply.catalogFounded === true, waiting: reply.waiting === true }
  }

  /** Asks host `id`, which leads `group`, to hand its leadership to host `to`; resolves with the target once it leads. */
  async transferLeaderAt(id: number, group: number, to: number, timeoutMs = 12_000): Promise<number> {
    return Number((await this.adminCall<{ target: number }>(id, 'TransferLeader', { group, to }, timeoutMs)).target)
  }

  /** What host `id` knows of `group`: whether it holds a replica, the leader it knows (0: none), the group's configuration. */
  async groupStateAt(id: number, group: number, timeoutMs = 2000): Promise<{ hasGroup: boolean; leaderId: number; configuration: Configuration | undefined }> {
    const reply = await this.adminCall<{ hasGroup: boolean; leaderId: number; configurationJson: string }>(id, 'GroupState', { group }, timeoutMs)
    return { hasGroup: reply.hasGroup, leaderId: Number(reply.leaderId), configuration: reply.configurationJson === '' ? undefined : (JSON.parse(reply.configurationJson) as Configuration) }
  }

  /** Asks host `id`, which leads `group`, for a membership change of it; resolves with the configuration once committed. */
  async changeMembershipAt(id: number, group: number, change: { addLearners?: number[]; promote?: number[]; remove?: number[] }, timeoutMs = 12_000): Promise<Configuration> {
    const reply = await this.adminCall<{ configurationJson: string }>(id, 'ChangeMembership', { group, addLearners: change.addLearners ?? [], promote: change.promote ?? [], remove: change.remove ?? [] }, timeoutMs)
    return JSON.parse(reply.configurationJson) as Configuration
  }

  /** A call to one host whose failure is a RaftLogError with the code the host gave. */
  private async adminCall<T>(id: number, method: string, request: unknown, timeoutMs: number): Promise<T> {
    try {
      return await this.call<T>(id, method, request, Date.now() + timeoutMs)
    } catch (error) {
      const details = (error as grpc.ServiceError).details ?? (error as Error).message
      const refused = refusal(this.addressOf(id), error as grpc.ServiceError)
      if (refused !== undefined) throw refused
      throw new RaftLogError(/^(ERR_[A-Z_]+)/.exec(details)?.[1] ?? 'ERR_UNAVAILABLE', `Host ${id}: ${details.replace(/^ERR_[A-Z_]+: /, '')}`)
    }
  }

  close(): void {
    for (const calls of this.callStreams.values()) calls.close()
    this.callStreams.clear()
    for (const stub of this.stubs.values()) stub.close()
    this.stubs.clear()
  }

  private addressOf(id: number): string {
    return this.hosts.find((host) => host.id === id)?.address ?? `host ${id}`
  }

  /** The next host in turn, skipping those in `without` while others are left. */
  private nextHost(without: ReadonlySet<number>): number {
    for (let tries = 0; tries < this.hosts.length; tries++) {
      const id = (this.hosts[this.next++ % this.hosts.length] as PeerAddress).id
      if (!without.has(id)) return id
    }
    return (this.hosts[this.next++ % this.hosts.length] as PeerAddress).id
  }

  /** Propose and Read go as messages of the host's Calls stream (a host without one, or a request over maxStreamedRequestBytes: unary calls). */
  private call<T>(id: number, method: string, request: unknown, deadline: number): Promise<T> {
    const stub = this.stub(id)
    if (stub === undefined) return Promise.reject(Object.assign(new Error(`host ${id} is not known`), { details: `host ${id} is not known` }))
    const callDeadline = Math.min(deadline, Date.now() + 2000)
    const unary = (): Promise<T> => new Promise((resolve, reject) => (stub[method] as Unary).call(stub, request, { deadline: callDeadline }, (error, reply) => (error === null ? resolve(reply as T) : reject(error))))
    const field = streamedField(method, request)
    if (field === undefined) return unary()
    let calls = this.callStreams.get(id)
    if (calls === undefined) {
      const streams = stub as unknown as { Calls(options: grpc.CallOptions): ReturnType<ConstructorParameters<typeof CallStream>[0]> }
      calls = new CallStream(() => streams.Calls({}))
      this.callStreams.set(id, calls)
    }
    if (!calls.supported) return unary()
    const stream = calls
    return stream.call<T>(field, request as Record<string, unknown>, callDeadline).catch((error: CallError) => {
      // The host has no Calls method: it refused the stream, so the call ran nowhere.
      if (error.code === grpc.status.UNIMPLEMENTED && !stream.supported) return unary()
      throw error
    })
  }

  private stub(id: number): Stub | undefined {
    let stub = this.stubs.get(id)
    if (stub === undefined) {
      const address = this.hosts.find((host) => host.id === id)?.address
      if (address === undefined) return undefined
      // No channelz tracing: nothing reads it, and it costs every call. Answers as large as a host
      // sends (grpc's default takes 4 MiB): one larger than this client takes would end the Calls
      // stream of every call in flight to the host, which HostClient proposes again.
      stub = new protocol.RaftHostClient(address, this.credentials, { 'grpc.enable_channelz': 0, 'grpc.max_receive_message_length': maxGrpcMessageBytes, 'grpc.max_send_message_length': maxGrpcMessageBytes }) as unknown as Stub
      this.stubs.set(id, stub)
    }
    return stub
  }
}
