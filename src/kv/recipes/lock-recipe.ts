// etcd's lock recipe (clientv3/concurrency Mutex), run on the leader: the caller's key is
// NAME/<lease id in hex>, attached to its lease; the key under NAME/ with the lowest create
// revision holds the lock, and each waiter waits for the key created just before its own to go.
// The holder's create revision is the fencing token: every later holder's is larger, so storage
// that remembers the largest token it saw refuses a write from a holder that lost the lock while
// paused (Kleppmann, "How to do distributed locking", 2016).
import { RaftLogError } from '../../errors.js'
import { cancelled, firstCreated, nextEvent, ownerRequest, putOp, rangeRequest, type RecipeHost } from './recipe-host.js'

export interface Held {
  /** The key that holds the lock (or the leadership): NAME/<lease hex>. */
  key: Buffer
  /** Its create revision: the fencing token. */
  createRevision: number
  /** The store's revision when the caller got it. */
  revision: number
}

/** The caller's key under `prefix` (which ends in '/'): one per lease, as etcd's. */
export function keyFor(prefix: Buffer, lease: number): Buffer {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))])
}

/** The caller's place in a lock's queue: its key, as enqueue() created or found it. */
export interface Queued extends Held {
  /** Whether the key holds the lock already (it is the oldest under the prefix). */
  holds: boolean
  /** The key's value when this lease had put it there before (undefined when created now). */
  value?: Buffer
}

/**
 * Creates the caller's key under `prefix` with `value` (or finds it, when this lease asked before),
 * reading in the same transaction whether it holds the lock. ERR_LEASE_NOT_FOUND when the lease
 * does not exist. `lease` is never 0: the caller refuses that first (etcd's server would make a
 * session lease; raftlog's refuses, see etcd-recipe-services.ts).
 */
export async function enqueue(host: RecipeHost, prefix: Buffer, lease: number, value: Buffer): Promise<Queued> {
  if (lease === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'A lock or campaign needs a lease (lease 0 was given): the lease frees it when its holder goes')
  const key = keyFor(prefix, lease)
  // The holder is read in the same transaction, at its revision (etcd's Mutex does the same): a
  // lock no one holds is taken in one round through the log, with no ReadIndex after it.
  const holder = { range: ownerRequest(prefix) }
  const created = await host.txn({
    compare: [{ key, rangeEnd: Buffer.alloc(0), target: 'create', result: 'equal', operand: 0 }],
    success: [putOp(key, value, lease), holder],
    failure: [{ range: rangeRequest(key) }, holder],
  })
  const kvsOf = (response: unknown): { createRevision: number; value: Buffer }[] => (response as { range: { kvs: { createRevision: number; value: Buffer }[] } }).range.kvs
  const existing = created.succeeded ? undefined : kvsOf(created.responses[0])[0]
  const createRevision = existing?.createRevision ?? created.revision
  const holds = kvsOf(created.responses[1])[0]?.createRevision === createRevision
  return { key, createRevision, revision: created.revision, holds, ...(existing === undefined ? {} : { value: existing.value }) }
}

/**
 * Waits until `queued`'s key is the oldest under `prefix`. ERR_LEASE_NOT_FOUND when the key was
 * deleted while waiting (its lease ended); ERR_CANCELLED when `signal` aborts.
 */
export async function waitTurn(host: RecipeHost, prefix: Buffer, lease: number, queued: Queued, signal: AbortSignal): Promise<Held> {
  const { key, createRevision } = queued
  if (queued.holds) return { key, createRevision, revision: queued.revision }
  for (;;) {
    await host.read()
    const revision = host.kv.revision
    const mine = host.kv.range(rangeRequest(key)).kvs[0]
    if (mine === undefined || mine.createRevision !== createRevision) throw new RaftLogError('ERR_LEASE_NOT_FOUND', `The key ${key.toString()} was deleted while it waited: its lease ${lease} ended (expired or revoked)`)
    const before = firstCreated(host, prefix, { beforeRevision: createRevision, last: true })
    if (before === undefined) return { key, createRevision, revision }
    await nextEvent(host, before.key, revision + 1, signal, (event) => event.change.value === undefined)
  }
}

/** The call of each key that asked for it last, by host: the one whose failure deletes the key. */
const claims = new WeakMap<RecipeHost, Map<string, object>>()

/**
 * Puts the caller's key in the queue under `prefix` (enqueue()) and runs `work` with it. When that
 * fails, or `signal` aborted meanwhile, deletes the key (as etcd's Mutex does when its wait fails)
 * and rejects: a key left behind would keep its place in the queue and be granted in its turn to a
 * caller that was told it failed (or that left: a Lock cancelled as its turn came), held as long as
 * its lease lives. Unless a later call of the same lease came for the key meanwhile (a client that
 * asks again once its Lock timed out, before this node saw the deadline pass): the key is that
 * call's now, waiting or holding the lock, and deleting it would hand the lock to another as well.
 */
export async function inQueue<T>(host: RecipeHost, prefix: Buffer, lease: number, value: Buffer, signal: AbortSignal, work: (queued: Queued) => Promise<T>): Promise<T> {
  const name = keyFor(prefix, lease).toString('latin1')
  const byKey = claims.get(host) ?? new Map<string, object>()
  claims.set(host, byKey)
  const mine = {}
  byKey.set(name, mine)
  try {
    const queued = await enqueue(host, prefix, lease, value)
    try {
      const result = await work(queued)
      if (signal.aborted) throw cancelled()
      return result
    } catch (error) {
      await releaseOnceLed(host, queued.key, queued.createRevision, () => byKey.get(name) === mine)
      throw error
    }
  } finally {
    if (byKey.get(name) === mine) byKey.delete(name)
  }
}

/**
 * Creates the caller's key under `prefix` with `value` (or finds it, when this lease asked before)
 * and waits until it is the oldest key there. ERR_LEASE_NOT_FOUND when the lease does not exist
 * or ended while waiting (its key went with it); ERR_CANCELLED when `signal` aborts. When it fails
 * the key is deleted (see inQueue), so no one waits behind, and no one is granted the lock for, a caller that left.
 */
export function acquire(host: RecipeHost, prefix: Buffer, lease: number, value: Buffer, signal: AbortSignal): Promise<Held> {
  return inQueue(host, prefix, lease, value, signal, (queued) => waitTurn(host, prefix, lease, queued, signal))
}

/** Refusals after which another try may find a leader to take the write. */
const noLeaderYet = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_TRANSFER', 'ERR_LEADERSHIP_LOST', 'ERR_PROPOSAL_DROPPED', 'ERR_TIMEOUT'])
/** How long a failed caller's key is tried to be deleted while no leader takes the write (ms), and the pause between tries. */
const releaseForMs = 10_000
const releasePauseMs = 100

/**
 * release(), tried again while no leader takes it (an election, a leadership transfer) for up to
 * releaseForMs: given up at the first refusal, the key of a caller that left stayed in the queue.
 * Not once `mine` says the key is another call's (see inQueue).
 */
async function releaseOnceLed(host: RecipeHost, key: Buffer, createRevision: number, mine: () => boolean): Promise<void> {
  const until = Date.now() + releaseForMs
  for (;;) {
    if (!mine()) return
    try {
      await release(host, key, createRevision)
      return
    } catch (error) {
      if (!noLeaderYet.has(String((error as RaftLogError).code)) || Date.now() + releasePauseMs > until) return
      await new Promise((resolve) => setTimeout(resolve, releasePauseMs))
    }
  }
}

/** Deletes `key` if it is still the one created at `createRevision`; answers whether it was. */
export async function release(host: RecipeHost, key: Buffer, createRevision?: number): Promise<boolean> {
  const outcome = await host.txn({
    compare: createRevision === undefined ? [] : [{ key, rangeEnd: Buffer.alloc(0), target: 'create', result: 'equal', operand: createRevision }],
    success: [{ deleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: false } }],
    failure: [],
  })
  return outcome.succeeded
}
