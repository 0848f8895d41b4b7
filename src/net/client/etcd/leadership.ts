// ClusterClient.campaign / electionLeader / observe: etcd's elections (the v3election service).
// Campaigning waits until this client leads; its leadership lives as long as its lease and has a
// fencing token (the leader key's create revision), larger for every later leader.
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../../errors.js'
import { etcdCallError, etcdRetryPauseMs, type EtcdEndpoints } from './etcd-endpoints.js'
import { bytesOf, type Bytes } from './key-range.js'
import { LeaseHandle } from './lease-handle.js'
import { StreamQueue } from './stream-queue.js'
import { checkTimeoutMs } from '../timeout-argument.js'

export interface CampaignOptions {
  /** The lease the leadership lives by; default: a new one of ttlSeconds, kept alive, revoked by resign(). */
  lease?: LeaseHandle
  /** The TTL of the campaign's own lease (s, default 60). */
  ttlSeconds?: number
  /** Give up waiting after this long (ms, default: as long as it takes). */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Who leads an election: the leader's key and value, and its fencing token (create revision). */
export interface ElectionLeader {
  key: Buffer
  value: Buffer
  fencingToken: number
  lease: number
}

interface WireLeaderKey {
  name: Buffer
  key: Buffer
  rev: number
  lease: number
}

export class Leadership {
  constructor(
    private readonly endpoints: EtcdEndpoints,
    private readonly leader: WireLeaderKey,
    /** The lease the leadership lives by. */
    readonly lease: LeaseHandle,
    private readonly ownLease: boolean,
  ) {}

  /** The leader key's create revision: larger for every later leader. */
  get fencingToken(): number {
    return Number(this.leader.rev)
  }

  get key(): Buffer {
    return this.leader.key
  }

  /** Sets the value others see as the leader's. ERR_NOT_ELECTION_LEADER when this client no longer leads. */
  async proclaim(value: Bytes, timeoutMs = 5000): Promise<void> {
    await this.endpoints.unary('Election', 'Proclaim', { leader: this.leader, value: bytesOf(value) }, timeoutMs)
  }

  /** Gives leadership up (and revokes the lease when the campaign made it). Resolves when it was lost already too, as etcd's Resign answers. */
  async resign(timeoutMs = 5000): Promise<void> {
    try {
      await this.endpoints.unary('Election', 'Resign', { leader: this.leader }, timeoutMs)
    } finally {
      if (this.ownLease) await this.lease.revoke(timeoutMs).catch(() => this.lease.close())
    }
  }
}

export async function campaign(endpoints: EtcdEndpoints, name: Bytes, value: Bytes, options: CampaignOptions = {}): Promise<Leadership> {
  const nameBytes = bytesOf(name)
  if (nameBytes.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'An election needs a name')
  // Before its lease is granted: a refused wait must leave nothing behind.
  checkTimeoutMs(options.timeoutMs ?? Number.POSITIVE_INFINITY, true)
  const lease = options.lease ?? (await LeaseHandle.grant(endpoints, options.ttlSeconds ?? 60))
  try {
    const answer = await endpoints.unary<{ leader: WireLeaderKey }>('Election', 'Campaign', { name: nameBytes, lease: lease.id, value: bytesOf(value) }, options.timeoutMs ?? Infinity, options.signal)
    return new Leadership(endpoints, answer.leader, lease, options.lease === undefined)
  } catch (error) {
    if (options.lease === undefined) await lease.revoke().catch(() => lease.close())
    // The lease lives on: a Campaign that won as this caller gave up (its answer lost) would lead for
    // no one. Its key is NAME/<lease id in hex>; deleting it gives up that place too, as etcd's Campaign resigns.
    else await endpoints.unary('KV', 'DeleteRange', { key: Buffer.concat([nameBytes, Buffer.from(`/${lease.id.toString(16)}`)]) }, 5000).catch(() => undefined)
    throw error
  }
}

interface WireLeader {
  kv: { key: Buffer; value: Buffer; create_revision: number; lease: number } | null
}

function leaderFromWire(answer: WireLeader): ElectionLeader | undefined {
  if (answer.kv === null || answer.kv === undefined) return undefined
  return { key: answer.kv.key, value: answer.kv.value, fencingToken: Number(answer.kv.create_revision), lease: Number(answer.kv.lease) }
}

/** Who leads election `name` now, or undefined when no one does. */
export async function electionLeader(endpoints: EtcdEndpoints, name: Bytes, timeoutMs = 5000): Promise<ElectionLeader | undefined> {
  try {
    return leaderFromWire(await endpoints.unary<WireLeader>('Election', 'Leader', { name: bytesOf(name) }, timeoutMs))
  } catch (error) {
    if ((error as RaftLogError).code === 'ERR_NO_ELECTION_LEADER') return undefined
    throw error
  }
}

/** The leaders of election `name` as they change (the current one first), until close() or a `break`; it moves to another node when its stream breaks. */
export function observeElection(endpoints: EtcdEndpoints, name: Bytes): AsyncIterable<ElectionLeader> & { close(): void } {
  const nameBytes = bytesOf(name)
  let stream: grpc.ClientReadableStream<WireLeader> | undefined
  /** The last leader reported: a reopened stream starts with the current leader again, and only changes are news. */
  let seen: ElectionLeader | undefined
  const queue = new StreamQueue<ElectionLeader>(() => stream?.cancel())
  const open = (advance: boolean): void => {
    if (queue.closed) return
    const client = endpoints.client('Election', advance) as unknown as { Observe(request: unknown): grpc.ClientReadableStream<WireLeader> }
    const current = client.Observe({ name: nameBytes })
    stream = current
    let lost = false
    const reopen = (error?: grpc.ServiceError): void => {
      if (lost || queue.closed || stream !== current) return
      lost = true
      if (error !== undefined && error.code !== grpc.status.UNAVAILABLE && error.code !== grpc.status.CANCELLED) return queue.fail(etcdCallError(error, 'Election.Observe'))
      setTimeout(() => open(true), etcdRetryPauseMs)
    }
    current.on('data', (answer: WireLeader) => {
      const leader = leaderFromWire(answer)
      if (leader === undefined || (seen !== undefined && seen.key.equals(leader.key) && seen.value.equals(leader.value) && seen.fencingToken === leader.fencingToken)) return
      seen = leader
      queue.push(leader)
    })
    current.on('error', reopen)
    current.on('end', () => reopen())
  }
  open(false)
  return {
    close: () => queue.close(),
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
  }
}
