// ClusterClient.watch: etcd's Watch as an async iterator of batches of events. When the stream
// breaks (its node was killed, restarted, or partitioned away) it opens another on the next node
// and asks again from the revision after the last it delivered, so a consumer sees every event
// of its keys once, in revision order, with no gap, across failures; a start revision the
// cluster has compacted away ends the iteration with ERR_COMPACTED.
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../../errors.js'
import { etcdRetryPauseMs, type EtcdEndpoints } from './etcd-endpoints.js'
import { bytesOf, prefixEnd, type Bytes } from './key-range.js'
import { StreamQueue } from './stream-queue.js'
import { manyGroupsNode } from '../call-failure.js'

export interface WatchOptions {
  /** Every key starting with `key`, not `key` alone. */
  prefix?: boolean
  /** The end of a range [key, rangeEnd) (etcd's range_end), instead of `prefix`. */
  rangeEnd?: Bytes
  /** The first revision to report (default: the next write). */
  startRevision?: number
  /** Each event carries the key's value before it. */
  prevKv?: boolean
}

/** One change of a key. */
export interface WatchEvent {
  type: 'put' | 'delete'
  key: Buffer
  /** The value put (empty for a delete). */
  value: Buffer
  /** The revision of the write. */
  modRevision: number
  createRevision: number
  version: number
  lease: number
  /** The key's value before, when asked for and it existed. */
  prevValue?: Buffer
}

/** Events of one or more whole revisions, in order; `revision` is the store's revision when they were sent. */
export interface WatchBatch {
  events: WatchEvent[]
  revision: number
}

/** The events of a watch, as an async iterator; `close()` (or a `break` out of `for await`) ends it. */
export interface WatchStream extends AsyncIterable<WatchBatch> {
  close(): void
}

interface WireKv {
  key: Buffer
  value: Buffer
  create_revision: number
  mod_revision: number
  version: number
  lease: number
}
interface WireResponse {
  header?: { revision?: number }
  watch_id?: number
  created?: boolean
  canceled?: boolean
  compact_revision?: number
  cancel_reason?: string
  events?: { type: string; kv: WireKv; prev_kv?: WireKv | null }[]
}

/** How often a watch asks its node how far the store got (ms): see openWatch. */
export const watchProgressEveryMs = 1000

export function openWatch(endpoints: EtcdEndpoints, key: Bytes, options: WatchOptions = {}): WatchStream {
  const keyBytes = bytesOf(key)
  const rangeEnd = options.rangeEnd !== undefined ? bytesOf(options.rangeEnd) : options.prefix === true ? prefixEnd(keyBytes) : Buffer.alloc(0)
  /** The next revision to ask for after a reconnect (0 until the first answer: "now"). */
  let next = options.startRevision ?? 0
  let stream: grpc.ClientDuplexStream<unknown, WireResponse> | undefined
  const queue = new StreamQueue<WatchBatch>(() => {
    const open = stream
    stream = undefined
    open?.cancel()
  })

  /** A watch was created on some node: from then on, a lost stream is always resumed elsewhere. */
  let everCreated = false
  /** Nodes in a row where no connection could be made before any watch was created. */
  let refusedInARow = 0
  /** Nodes that answered UNIMPLEMENTED: they serve no etcd Watch. */
  const notEtcd = new Set<string>()
  const connect = (advance: boolean): void => {
    if (queue.closed) return
    const client = endpoints.client('Watch', advance) as unknown as { Watch(): grpc.ClientDuplexStream<unknown, WireResponse> }
    const address = endpoints.current
    const current = client.Watch()
    stream = current
    let lost = false
    let created = false
    // A quiet key's watch hears no event for a long time; asking for progress now and then tells
    // it how far the store got, so a reconnect asks from there and not from a revision the
    // cluster may have compacted away since.
    const progress = setInterval(() => {
      if (created && !lost) current.write({ progress_request: {} })
    }, watchProgressEveryMs)
    progress.unref()
    const reconnect = (): void => {
      clearInterval(progress)
      if (lost || queue.closed || stream !== current) return
      lost = true
      current.cancel()
      setTimeout(() => connect(true), etcdRetryPauseMs)
    }
    current.on('data', (response: WireResponse) => {
      if (stream !== current) return
      const revision = Number(response.header?.revision ?? 0)
      if (response.created === true) {
        created = true
        everCreated = true
        if (next === 0) next = revision + 1
      }
      // A progress answer (watch id -1): every event up to `revision` was sent before it on this stream.
      if (created && Number(response.watch_id) === -1 && (response.events ?? []).length === 0) {
        next = Math.max(next, revision + 1)
        return
      }
      if (response.canceled === true) {
        // Cancelled as compacted: the end. Otherwise (too slow, say): ask again from the next revision.
        if (Number(response.compact_revision ?? 0) > 0) queue.fail(new RaftLogError('ERR_COMPACTED', `Revision ${next} of the watch on ${keyBytes.toString()} was compacted: the cluster keeps events from revision ${Number(response.compact_revision)}`))
        else reconnect()
        return
      }
      const events = (response.events ?? []).map(eventFromWire)
      if (events.length === 0) return
      next = (events.at(-1) as WatchEvent).modRevision + 1
      queue.push({ events, revision: Number(response.header?.revision ?? 0) })
    })
    current.on('error', (error: grpc.ServiceError) => {
      if (stream !== current || queue.closed) return
      // A many-group node serves no etcd API, nor does a process that took over the port of a
      // node that stopped: refused once every node says so, else the next node is asked.
      if (error.code === grpc.status.UNIMPLEMENTED) {
        notEtcd.add(address)
        if (notEtcd.size >= endpoints.count) return queue.fail(manyGroupsNode(address))
      }
      // Never started and no node listens: say so rather than wait without a word.
      if (!everCreated && error.code === grpc.status.UNAVAILABLE && /ECONNREFUSED/.test(error.details ?? error.message)) {
        if (++refusedInARow >= endpoints.count) return queue.fail(new RaftLogError('ERR_NO_CLUSTER', `no node answered: is the cluster running? tried ${endpoints.count === 1 ? address : `${endpoints.count} nodes, the last ${address}`} (ECONNREFUSED)`, { address }))
      } else refusedInARow = 0
      reconnect()
    })
    current.on('end', reconnect)
    current.write({ create_request: { key: keyBytes, range_end: rangeEnd, start_revision: next, prev_kv: options.prevKv === true } })
  }

  connect(false)
  return {
    close: () => queue.close(),
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
  }
}

function eventFromWire(event: { type: string; kv: WireKv; prev_kv?: WireKv | null }): WatchEvent {
  const kv = event.kv
  const prev = event.prev_kv
  return {
    type: event.type === 'DELETE' ? 'delete' : 'put',
    key: kv.key,
    value: kv.value,
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    version: Number(kv.version),
    lease: Number(kv.lease),
    ...(prev !== undefined && prev !== null ? { prevValue: prev.value } : {}),
  }
}
