// What etcd's concurrency recipes (lock, election) need of the node they run on: transactions
// through the log, linearizable reads of its store, and waits on its watch hub. The recipes run on
// the leader (a follower forwards the call), so every write they make is proposed where it lands.
import { RaftLogError } from '../../errors.js'
import type { KvStateMachine } from '../kv-state-machine.js'
import type { KeyValue, RangeRequest, RequestOp, TxnOutcome, TxnRequest } from '../kv-txn.js'
import type { KeyEvent } from '../mvcc-store.js'
import { prefixEnd } from '../../net/client/etcd/key-range.js'
import type { Watch, WatchHub } from '../watch/watch-hub.js'

export interface RecipeHost {
  kv: KvStateMachine
  hub: WatchHub
  /** Proposes `txn` and resolves with its outcome (a refusal rejects with its RaftLogError). */
  txn(txn: TxnRequest): Promise<TxnOutcome>
  /** Resolves once this node's store holds every write committed before the call (a ReadIndex). */
  read(): Promise<void>
}

/** A range request with etcd's defaults for what is not given. */
export function rangeRequest(key: Buffer, options: Partial<RangeRequest> = {}): RangeRequest {
  return { key, rangeEnd: Buffer.alloc(0), limit: 0, revision: 0, sortOrder: 'none', sortTarget: 'key', keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0, ...options }
}

/** A put of `key` attached to `lease`. */
export function putOp(key: Buffer, value: Buffer, lease: number): RequestOp {
  return { put: { key, value, lease, prevKv: false, ignoreValue: false, ignoreLease: false } }
}

/** The range of the key under `prefix` created first (the holder), or created last before `beforeRevision`. */
export function ownerRequest(prefix: Buffer, options: { beforeRevision?: number; last?: boolean } = {}): RangeRequest {
  return rangeRequest(prefix, {
    rangeEnd: prefixEnd(prefix),
    limit: 1,
    sortTarget: 'create',
    sortOrder: options.last === true ? 'descend' : 'ascend',
    maxCreateRevision: options.beforeRevision === undefined ? 0 : options.beforeRevision - 1,
  })
}

/** The key under `prefix` created first (the holder), or created last before `beforeRevision`. */
export function firstCreated(host: RecipeHost, prefix: Buffer, options: { beforeRevision?: number; last?: boolean } = {}): KeyValue | undefined {
  return host.kv.range(ownerRequest(prefix, options)).kvs[0]
}

/**
 * Resolves with the first event of `key` (or of every key under it, with `prefixed`) from
 * revision `from` on that `accept` takes; rejects with ERR_CANCELLED when `signal` aborts, or
 * ERR_COMPACTED when the history no longer holds `from`.
 */
export function nextEvent(host: RecipeHost, key: Buffer, from: number, signal: AbortSignal, accept: (event: KeyEvent) => boolean, prefixed = false): Promise<KeyEvent> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(cancelled())
    let done = false
    let watch: Watch | undefined
    const finish = (settle: () => void): void => {
      if (done) return
      done = true
      watch?.cancel()
      signal.removeEventListener('abort', onAbort)
      settle()
    }
    const onAbort = (): void => finish(() => reject(cancelled()))
    watch = host.hub.watch(
      { key, rangeEnd: prefixed ? prefixEnd(key) : Buffer.alloc(0), startRevision: from, noPut: false, noDelete: false },
      {
        events: (events) => {
          const found = events.find(accept)
          if (found !== undefined) finish(() => resolve(found))
        },
        compacted: (revision) => finish(() => reject(new RaftLogError('ERR_COMPACTED', `Revision ${from} was compacted (up to ${revision}) while waiting on ${key.toString()}`))),
      },
    )
    if (done) watch.cancel()
    else signal.addEventListener('abort', onAbort)
  })
}

export function cancelled(): RaftLogError {
  return new RaftLogError('ERR_CANCELLED', 'The call was cancelled by its client')
}
