// ClusterClient.lock: etcd's distributed lock (the v3lock service, run on the leader) with its
// fencing token. The lock lives as long as its lease: by default one of its own, kept alive by
// this client, so a holder that crashes frees the lock within the TTL. The token (the lock key's
// create revision) grows with every holder: pass it with each write the lock guards, and let the
// storage refuse a token below the largest it has seen (README: "The fencing token").
import { RaftLogError } from '../../../errors.js'
import type { EtcdEndpoints } from './etcd-endpoints.js'
import { bytesOf, type Bytes } from './key-range.js'
import { LeaseHandle } from './lease-handle.js'
import { checkTimeoutMs } from '../timeout-argument.js'

export interface LockOptions {
  /** The lease that holds the lock (it must be kept alive); default: a new one of ttlSeconds, kept alive, revoked by unlock(). */
  lease?: LeaseHandle
  /** The TTL of the lock's own lease (s, default 60): how long a crashed holder keeps the lock. */
  ttlSeconds?: number
  /** Give up waiting after this long (ms, default: wait as long as it takes): ERR_TIMEOUT. */
  timeoutMs?: number
  /** Give up waiting when aborted: ERR_CANCELLED. */
  signal?: AbortSignal
}

export class LockHandle {
  constructor(
    private readonly endpoints: EtcdEndpoints,
    /** The key that holds the lock: NAME/<lease id in hex>. */
    readonly key: Buffer,
    /** The fencing token: the key's create revision, larger for every later holder. */
    readonly fencingToken: number,
    /** The lease the lock lives by. */
    readonly lease: LeaseHandle,
    private readonly ownLease: boolean,
  ) {}

  /**
   * Releases the lock (deletes its key), and revokes its lease when the lock made it: also when the
   * Unlock fails (its keep-alives kept the lock held otherwise), and when the revoke fails too its
   * keep-alives stop, so the lease and the lock end within its TTL.
   */
  async unlock(timeoutMs = 5000): Promise<void> {
    try {
      await this.endpoints.unary('Lock', 'Unlock', { key: this.key }, timeoutMs)
    } finally {
      if (this.ownLease) await this.lease.revoke(timeoutMs).catch(() => this.lease.close())
    }
  }
}

export async function acquireLock(endpoints: EtcdEndpoints, name: Bytes, options: LockOptions = {}): Promise<LockHandle> {
  const nameBytes = bytesOf(name)
  if (nameBytes.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'A lock needs a name')
  // Before its lease is granted: a refused wait must leave nothing behind.
  checkTimeoutMs(options.timeoutMs ?? Number.POSITIVE_INFINITY, true)
  const lease = options.lease ?? (await LeaseHandle.grant(endpoints, options.ttlSeconds ?? 60))
  try {
    const answer = await endpoints.unary<{ key: Buffer; fencing_token: number }>('Lock', 'Lock', { name: nameBytes, lease: lease.id }, options.timeoutMs ?? Infinity, options.signal)
    return new LockHandle(endpoints, answer.key, Number(answer.fencing_token), lease, options.lease === undefined)
  } catch (error) {
    if (options.lease === undefined) await lease.revoke().catch(() => lease.close())
    // The lease lives on: a Lock granted as this caller gave up (its answer lost) would hold the lock
    // for no one. Its key is NAME/<lease id in hex>; deleting it gives up that place too, as etcd's Mutex does.
    else await endpoints.unary('Lock', 'Unlock', { key: Buffer.concat([nameBytes, Buffer.from(`/${lease.id.toString(16)}`)]) }, 5000).catch(() => undefined)
    if ((error as RaftLogError).code === 'ERR_TIMEOUT' && options.timeoutMs !== undefined) {
      throw new RaftLogError('ERR_TIMEOUT', `Lock ${nameBytes.toString()} not taken within ${options.timeoutMs} ms (another holder kept it, or no leader answered)`)
    }
    throw error
  }
}
