// etcd's Watch service on a raftlog node: one bidirectional stream carries many watches (create,
// cancel, progress requests in; created, events, canceled and progress responses out), served by
// whichever node the client reached, from its own store (watch-hub.ts), as etcd serves watches
// from any member. A client that reconnects (to any node, after a leader change or a kill) resumes
// by asking again from the revision after the last it saw.
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { KvStateMachine } from '../kv-state-machine.js'
import type { KeyEvent } from '../mvcc-store.js'
import { keyValue } from '../kv-txn.js'
import type { Watch, WatchHub } from '../watch/watch-hub.js'
import { keyValueToWire } from './etcd-wire.js'
import { etcdHeader } from './etcd-kv-service.js'
import { etcdProtocol } from '../../net/etcd-protocol.js'
import { defaultMaxRequestBytes } from '../../net/config/request-limits.js'

/** Responses a stream may have queued, unsent, before the watch that adds one is cancelled as too slow (its memory stays bounded). */
export const maxQueuedWatchResponses = 1024
/** Events in one response at most; a revision is split only into fragments (see fragmentsOf), so one response may hold more. */
const maxEventsPerResponse = 1000
/** etcd's default progress notification interval (--experimental-watch-progress-notify-interval). */
export const defaultProgressNotifyMs = 10 * 60 * 1000

interface WireWatchRequest {
  request_union?: 'create_request' | 'cancel_request' | 'progress_request'
  create_request?: { key?: Buffer; range_end?: Buffer; start_revision?: number; progress_notify?: boolean; filters?: string[]; prev_kv?: boolean; watch_id?: number; fragment?: boolean }
  cancel_request?: { watch_id?: number }
}

export interface EtcdWatchOptions {
  kv: KvStateMachine
  hub: WatchHub
  /** How often a watch that asked for progress notifications hears one when nothing happened (ms). */
  progressNotifyMs?: number
  /** The node's max_request_bytes (default defaultMaxRequestBytes): a watch that asked for fragments gets no response this large or larger, as from etcd (one event alone excepted). */
  maxRequestBytes?: number
}

/**
 * A WatchResponse encoded already (watchServiceDefinition's serializer passes its bytes on): a
 * revision's events reach a thousand watchers of a key as one encoding of the header and events,
 * each watcher's copy only prefixed with its watch id (protobuf takes fields in any order).
 */
export class EncodedWatchResponse {
  constructor(readonly bytes: Buffer) {}
}

/** etcd's Watch service definition, its response serializer taking EncodedWatchResponse too. */
export function watchServiceDefinition(): grpc.ServiceDefinition {
  const definition = etcdProtocol.Watch.service
  const watch = definition.Watch as grpc.MethodDefinition<unknown, unknown>
  const serialize = watch.responseSerialize
  return { ...definition, Watch: { ...watch, responseSerialize: (value: unknown) => (value instanceof EncodedWatchResponse ? value.bytes : serialize(value)) } }
}

/** The last encoding of events and header: the next watcher of the same events at the same header reuses it. */
let lastEncoded: { events: KeyEvent[]; prevKv: boolean; revision: number; term: number; member: number; bytes: Buffer } | undefined

function sameEvents(a: KeyEvent[], b: KeyEvent[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** `header` and `events` (fields 1 and 11 of WatchResponse) encoded, shared by the watchers they go to. */
function encodedEvents(header: Record<string, unknown>, events: KeyEvent[], prevKv: boolean): Buffer {
  const revision = header.revision as number
  const term = header.raft_term as number
  const member = header.member_id as number
  const last = lastEncoded
  if (last !== undefined && last.prevKv === prevKv && last.revision === revision && last.term === term && last.member === member && sameEvents(last.events, events)) return last.bytes
  const serialize = (etcdProtocol.Watch.service.Watch as grpc.MethodDefinition<unknown, unknown>).responseSerialize
  const bytes = serialize({ header, events: events.map((event) => eventToWire(event, prevKv)) })
  lastEncoded = { events, prevKv, revision, term, member, bytes }
  return bytes
}

/** Field 2 (watch_id, a varint) of WatchResponse, before the shared bytes. */
function withWatchId(id: number, shared: Buffer): Buffer {
  if (id === 0) return shared
  const prefix = [0x10]
  let rest = id
  while (rest >= 0x80) {
    prefix.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  prefix.push(rest)
  return Buffer.concat([Buffer.from(prefix), shared])
}

export function etcdWatchService(node: RaftNode, options: EtcdWatchOptions): grpc.UntypedServiceImplementation {
  return {
    Watch: (call: grpc.ServerDuplexStream<WireWatchRequest, unknown>) => serveWatchStream(node, options, call),
  }
}

interface StreamWatch {
  watch: Watch | undefined
  prevKv: boolean
  progressNotify: boolean
  /** The client takes a response in fragments (WatchCreateRequest.fragment). */
  fragment: boolean
  /** Something was sent since the last progress tick. */
  sent: boolean
}

function serveWatchStream(node: RaftNode, options: EtcdWatchOptions, call: grpc.ServerDuplexStream<WireWatchRequest, unknown>): void {
  const { kv, hub } = options
  const maxRequestBytes = options.maxRequestBytes ?? defaultMaxRequestBytes
  const watches = new Map<number, StreamWatch>()
  let nextId = 0
  let open = true
  const header = (): Record<string, unknown> => etcdHeader(node, kv.revision)
  const send = (response: Record<string, unknown>): boolean => {
    if (!open) return false
    call.write({ header: header(), ...response })
    return call.writableLength <= maxQueuedWatchResponses
  }
  /**
   * A watch's events, as send({ watch_id: id, events }) would send them, from a shared encoding;
   * for a watch that takes fragments, cut as etcd cuts them when the response would reach
   * maxRequestBytes. Every fragment is written before the queue is looked at: a client waits for
   * the last one.
   */
  const sendEvents = (id: number, events: KeyEvent[], entry: StreamWatch): boolean => {
    if (!open) return false
    const { prevKv } = entry
    // A negative id (a client's choice) is a 10-byte varint: the ordinary way.
    const whole = id < 0 || !Number.isSafeInteger(id) ? undefined : withWatchId(id, encodedEvents(header(), events, prevKv))
    if (entry.fragment && events.length > 1) {
      const parts = fragmentsOf(header(), id, events, prevKv, maxRequestBytes, whole?.length)
      if (parts.length > 1) {
        let within = true
        for (const [i, part] of parts.entries()) within = send({ watch_id: id, fragment: i < parts.length - 1, events: part.map((event) => eventToWire(event, prevKv)) })
        return within
      }
    }
    if (whole === undefined) return send({ watch_id: id, events: events.map((event) => eventToWire(event, prevKv)) })
    call.write(new EncodedWatchResponse(whole))
    return call.writableLength <= maxQueuedWatchResponses
  }
  const cancel = (id: number, reason: string, extra: Record<string, unknown> = {}): void => {
    const entry = watches.get(id)
    watches.delete(id)
    entry?.watch?.cancel()
    if (entry !== undefined || reason !== '') send({ watch_id: id, canceled: true, cancel_reason: reason, ...extra })
  }

  const create = (request: NonNullable<WireWatchRequest['create_request']>): void => {
    const key = request.key ?? Buffer.alloc(0)
    const rangeEnd = request.range_end ?? Buffer.alloc(0)
    if (emptyRange(key, rangeEnd)) {
      // etcd's answer, before it looks at the id: a watch that could never fire is refused, not kept.
      send({ watch_id: -1, created: true, canceled: true, cancel_reason: 'mvcc: watcher range is empty' })
      return
    }
    let id = Number(request.watch_id ?? 0)
    if (id === 0) {
      while (watches.has(nextId)) nextId++
      id = nextId++
    } else if (watches.has(id)) {
      // Watch id -1, as etcd: a cancel naming `id` would make the client drop the watch that runs.
      send({ watch_id: -1, created: true, canceled: true, cancel_reason: 'mvcc: duplicate watch ID provided on the WatchStream' })
      return
    }
    const filters = request.filters ?? []
    const entry: StreamWatch = { watch: undefined, prevKv: request.prev_kv === true, progressNotify: request.progress_notify === true, fragment: request.fragment === true, sent: false }
    watches.set(id, entry)
    send({ watch_id: id, created: true })
    const deliver = (events: KeyEvent[]): void => {
      for (const part of byRevision(events)) {
        entry.sent = true
        if (!sendEvents(id, part, entry)) {
          cancel(id, `raftlog: watcher too slow: more than ${maxQueuedWatchResponses} responses queued on its stream; watch again from revision ${(part.at(-1) as KeyEvent).change.mod + 1}`)
          throw new Error('watch cancelled as too slow')
        }
      }
    }
    entry.watch = hub.watch(
      { key, rangeEnd, startRevision: Number(request.start_revision ?? 0), noPut: filters.includes('NOPUT'), noDelete: filters.includes('NODELETE') },
      {
        events: deliver,
        compacted: (compactRevision) => {
          watches.delete(id)
          send({ watch_id: id, canceled: true, compact_revision: compactRevision, cancel_reason: 'etcdserver: mvcc: required revision has been compacted' })
        },
      },
    )
  }

  const progress = setInterval(() => {
    for (const [id, entry] of watches) {
      if (entry.progressNotify && !entry.sent) send({ watch_id: id, events: [] })
      entry.sent = false
    }
  }, options.progressNotifyMs ?? defaultProgressNotifyMs)
  progress.unref()

  const close = (): void => {
    if (!open) return
    open = false
    clearInterval(progress)
    for (const entry of watches.values()) entry.watch?.cancel()
    watches.clear()
  }
  call.on('data', (request: WireWatchRequest) => {
    if (request.request_union === 'create_request' && request.create_request !== undefined) create(request.create_request)
    else if (request.request_union === 'cancel_request') cancel(Number(request.cancel_request?.watch_id ?? 0), '')
    // A progress request: every watch of the stream is at the store's revision (etcd answers with watch id -1).
    else if (request.request_union === 'progress_request') send({ watch_id: -1 })
  })
  call.on('end', () => {
    close()
    call.end()
  })
  call.on('error', close)
  call.on('cancelled', close)
  call.on('close', close)
}

/** A range end that is set, not "\0" (every key from `key` up), and not above `key`: no key is in the range. */
function emptyRange(key: Buffer, rangeEnd: Buffer): boolean {
  if (rangeEnd.length === 0 || (rangeEnd.length === 1 && rangeEnd[0] === 0)) return false
  return Buffer.compare(key, rangeEnd) >= 0
}

const serializeResponse = (etcdProtocol.Watch.service.Watch as grpc.MethodDefinition<unknown, unknown>).responseSerialize

/**
 * etcd's sendFragments (v3rpc/watch.go): a response of watch `id` below `maxRequestBytes`, or of
 * one event, goes whole; else its events are cut into responses, each taking events while it
 * stays below the limit (and at least one). `wholeBytes`: the whole response's size, when known.
 */
function fragmentsOf(header: Record<string, unknown>, id: number, events: KeyEvent[], prevKv: boolean, maxRequestBytes: number, wholeBytes: number | undefined): KeyEvent[][] {
  const eventBytes = (event: KeyEvent): number => serializeResponse({ events: [eventToWire(event, prevKv)] }).length
  // The response without events, marked a fragment (field 7, 2 bytes): repeated events add their own bytes to it.
  const fixedBytes = serializeResponse({ header, watch_id: id, fragment: true }).length
  const sizes = wholeBytes !== undefined && wholeBytes < maxRequestBytes ? undefined : events.map(eventBytes)
  if (sizes === undefined || fixedBytes - 2 + sizes.reduce((sum, size) => sum + size, 0) < maxRequestBytes) return [events]
  const parts: KeyEvent[][] = []
  let part: KeyEvent[] = []
  let bytes = fixedBytes
  events.forEach((event, i) => {
    const size = sizes[i] as number
    if (part.length > 0 && bytes + size >= maxRequestBytes) {
      parts.push(part)
      part = []
      bytes = fixedBytes
    }
    part.push(event)
    bytes += size
  })
  parts.push(part)
  return parts
}

/** `events` cut into responses of whole revisions, about maxEventsPerResponse events each. */
function byRevision(events: KeyEvent[]): KeyEvent[][] {
  if (events.length <= maxEventsPerResponse) return [events]
  const parts: KeyEvent[][] = []
  let part: KeyEvent[] = []
  for (const event of events) {
    const last = part.at(-1)
    if (part.length >= maxEventsPerResponse && last !== undefined && last.change.mod !== event.change.mod) {
      parts.push(part)
      part = []
    }
    part.push(event)
  }
  if (part.length > 0) parts.push(part)
  return parts
}

/**
 * The wire form of events, made once per event and per prevKv choice: the store hands every
 * watch of a key the same KeyEvent objects, and a thousand watchers of one key need one copy.
 */
const wireEvents = [new WeakMap<KeyEvent, Record<string, unknown>>(), new WeakMap<KeyEvent, Record<string, unknown>>()] as const

function eventToWire(event: KeyEvent, withPrevious: boolean): Record<string, unknown> {
  const cache = wireEvents[withPrevious ? 1 : 0]
  let wire = cache.get(event)
  if (wire === undefined) {
    wire = makeWireEvent(event, withPrevious)
    cache.set(event, wire)
  }
  return wire
}

/** etcd's Event: a delete's kv holds the key and the delete's revision alone. */
function makeWireEvent(event: KeyEvent, withPrevious: boolean): Record<string, unknown> {
  const deleted = event.change.value === undefined
  const kv = deleted ? { key: Buffer.from(event.key, 'latin1'), mod_revision: event.change.mod } : keyValueToWire(keyValue(event.key, event.change))
  const prev = withPrevious && event.prev !== undefined ? { prev_kv: keyValueToWire(keyValue(event.key, event.prev)) } : {}
  return { type: deleted ? 'DELETE' : 'PUT', kv, ...prev }
}
