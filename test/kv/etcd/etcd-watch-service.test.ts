// etcd's Watch service on one stream, with a stand-in for the gRPC call: created and canceled
// answers, progress requests and notifications, and a reader too slow to keep up cancelled with
// a reason instead of growing the node's memory.
import { describe, expect, it } from 'vitest'
import { EventEmitter } from 'node:events'
import { encodeKvCommand, KvStateMachine } from '../../../src/kv/kv-state-machine.js'
import { WatchHub } from '../../../src/kv/watch/watch-hub.js'
import { EncodedWatchResponse, etcdWatchService, maxQueuedWatchResponses } from '../../../src/kv/etcd/etcd-watch-service.js'
import { etcdProtocol } from '../../../src/net/etcd-protocol.js'
import type * as grpc from '@grpc/grpc-js'
import { EntryType } from '../../../src/storage/log-entry.js'
import type { RaftNode } from '../../../src/raft/node/raft-node.js'

const node = { id: 1, clusterId: '', status: () => ({ term: 1 }) } as unknown as RaftNode

/** A server stream whose reader reads nothing while `stalled`: written responses stay queued. */
class FakeStream extends EventEmitter {
  readonly written: Record<string, unknown>[] = []
  /** The encoded size of each response written. */
  readonly bytes: number[] = []
  stalled = false
  private queued = 0
  get writableLength(): number {
    return this.queued
  }
  write(response: Record<string, unknown> | EncodedWatchResponse): boolean {
    // Events go out encoded once for every watcher: read them back as a client would.
    const method = etcdProtocol.Watch.service.Watch as grpc.MethodDefinition<unknown, Record<string, unknown>>
    this.written.push(response instanceof EncodedWatchResponse ? method.responseDeserialize(response.bytes) : response)
    this.bytes.push(response instanceof EncodedWatchResponse ? response.bytes.length : method.responseSerialize(response).length)
    if (this.stalled) this.queued++
    return !this.stalled
  }
  end(): void {}
}

function setUp(progressNotifyMs?: number, maxRequestBytes?: number) {
  const kv = new KvStateMachine()
  const hub = new WatchHub(kv)
  let index = 0
  const put = (key: string, value: string): void => {
    kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key, value }) })
  }
  /** Deletes the keys from `key` to `rangeEnd` in one write: one revision. */
  const deleteRange = (key: string, rangeEnd: string): void => {
    const txn = { compare: [], success: [{ deleteRange: { key: Buffer.from(key), rangeEnd: Buffer.from(rangeEnd), prevKv: false } }], failure: [] }
    kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'txn', txn }) })
  }
  const service = etcdWatchService(node, { kv, hub, ...(progressNotifyMs === undefined ? {} : { progressNotifyMs }), ...(maxRequestBytes === undefined ? {} : { maxRequestBytes }) })
  const stream = new FakeStream()
  ;(service.Watch as (call: unknown) => void)(stream)
  const send = (request: Record<string, unknown>): void => {
    stream.emit('data', request)
  }
  return { kv, hub, put, deleteRange, stream, send }
}

describe("etcd's Watch service", () => {
  it('answers created, then events, then canceled, with ids chosen from 0 up', () => {
    const { put, stream, send, hub } = setUp()
    send({ request_union: 'create_request', create_request: { key: Buffer.from('k') } })
    send({ request_union: 'create_request', create_request: { key: Buffer.from('k'), prev_kv: true } })
    put('k', 'v')
    send({ request_union: 'cancel_request', cancel_request: { watch_id: 0 } })
    expect(stream.written.map((r) => ({ id: Number(r.watch_id), created: r.created === true, canceled: r.canceled === true, events: (r.events as unknown[] | undefined)?.length ?? 0 }))).toEqual([
      { id: 0, created: true, canceled: false, events: 0 },
      { id: 1, created: true, canceled: false, events: 0 },
      { id: 0, created: false, canceled: false, events: 1 },
      { id: 1, created: false, canceled: false, events: 1 },
      { id: 0, created: false, canceled: true, events: 0 },
    ])
    // Only watch 1 asked for the previous value (the key had none: the field stays empty).
    expect((stream.written[3]?.events as { prev_kv?: unknown }[])[0]?.prev_kv ?? null).toBeNull()
    expect(hub.size).toBe(1)
    stream.emit('end')
    expect(hub.size).toBe(0)
  })

  it('answers a progress request with the store\'s revision for the whole stream (watch id -1)', () => {
    const { put, stream, send } = setUp()
    put('a', '1')
    put('a', '2')
    send({ request_union: 'progress_request', progress_request: {} })
    expect(stream.written.at(-1)).toMatchObject({ watch_id: -1, header: { revision: 3 } })
  })

  it('sends a progress notification to a quiet watch that asked for them', async () => {
    const { stream, send } = setUp(20)
    send({ request_union: 'create_request', create_request: { key: Buffer.from('k'), progress_notify: true } })
    await new Promise((resolve) => setTimeout(resolve, 70))
    expect(stream.written.filter((r) => r.watch_id === 0 && Array.isArray(r.events) && (r.events as unknown[]).length === 0).length).toBeGreaterThan(0)
    stream.emit('end')
  })

  it('cancels a watch whose reader is too slow, saying from which revision to watch again', () => {
    const { put, stream, send, hub } = setUp()
    send({ request_union: 'create_request', create_request: { key: Buffer.from('k') } })
    stream.stalled = true
    for (let i = 0; i <= maxQueuedWatchResponses + 5; i++) put('k', String(i))
    const canceled = stream.written.find((r) => r.canceled === true)
    expect(canceled?.cancel_reason).toMatch(/watcher too slow: more than 1024 responses queued on its stream; watch again from revision \d+/)
    expect(hub.size).toBe(0)
    // Nothing more is queued for it after the cancel.
    const count = stream.written.length
    put('k', 'after')
    expect(stream.written.length).toBe(count)
  })

  it('refuses a watch id already in use on the stream with watch id -1, as etcd, leaving that watch to its client', () => {
    const { put, stream, send, hub } = setUp()
    send({ request_union: 'create_request', create_request: { key: Buffer.from('k'), watch_id: 7 } })
    send({ request_union: 'create_request', create_request: { key: Buffer.from('other'), watch_id: 7 } })
    // An answer that named watch 7 as canceled would make the client drop the watch that runs.
    expect(stream.written.at(-1)).toMatchObject({ watch_id: -1, created: true, canceled: true, cancel_reason: 'mvcc: duplicate watch ID provided on the WatchStream' })
    expect(hub.size).toBe(1)
    put('k', 'v')
    expect(stream.written.at(-1)).toMatchObject({ watch_id: 7 })
  })

  it("cuts a response at the node's max request bytes into fragments for a watch that asked (as etcd: 4 deletes of 1.4 MB with prev_kv)", () => {
    const { put, deleteRange, stream, send } = setUp()
    const big = 'v'.repeat(1_400_000)
    for (const key of ['f/1', 'f/2', 'f/3', 'f/4']) put(key, big)
    const watch = (id: number, fragment: boolean): void => send({ request_union: 'create_request', create_request: { key: Buffer.from('f/'), range_end: Buffer.from('f0'), prev_kv: true, fragment, watch_id: id } })
    watch(1, true)
    watch(2, false)
    const before = stream.written.length
    deleteRange('f/', 'f0')
    const sent = stream.written.slice(before).map((r, i) => ({ id: Number(r.watch_id), fragment: r.fragment === true, keys: (r.events as { kv: { key: Buffer } }[]).map((e) => e.kv.key.toString()), small: (stream.bytes[before + i] as number) < 1536 * 1024 }))
    expect(sent).toEqual([
      { id: 1, fragment: true, keys: ['f/1'], small: true },
      { id: 1, fragment: true, keys: ['f/2'], small: true },
      { id: 1, fragment: true, keys: ['f/3'], small: true },
      { id: 1, fragment: false, keys: ['f/4'], small: true },
      // Without fragment, the response goes whole, as from etcd.
      { id: 2, fragment: false, keys: ['f/1', 'f/2', 'f/3', 'f/4'], small: false },
    ])
  })

  it('fills each fragment with events while it stays below the limit, and sends a response below it whole', () => {
    const maxRequestBytes = 1000
    const { put, deleteRange, stream, send } = setUp(undefined, maxRequestBytes)
    for (let i = 0; i < 10; i++) put(`f/${i}`, 'v'.repeat(200))
    send({ request_union: 'create_request', create_request: { key: Buffer.from('f/'), range_end: Buffer.from('f0'), prev_kv: true, fragment: true } })
    put('f/small', 'x')
    expect(stream.written.at(-1)).toMatchObject({ fragment: false, events: [{ kv: { key: Buffer.from('f/small') } }] })
    const before = stream.written.length
    deleteRange('f/', 'f0')
    const sent = stream.written.slice(before)
    const sizes = stream.bytes.slice(before)
    expect(sent.flatMap((r) => (r.events as { kv: { key: Buffer } }[]).map((e) => e.kv.key.toString()))).toEqual([...Array.from({ length: 10 }, (_, i) => `f/${i}`), 'f/small'])
    expect(sent.map((r) => r.fragment === true)).toEqual([...sent.slice(1).map(() => true), false])
    // Each event is about 230 bytes: 4 make about 940, a fifth would reach the limit.
    expect(sent.map((r) => (r.events as unknown[]).length)).toEqual([4, 4, 3])
    for (const size of sizes) expect(size).toBeLessThan(maxRequestBytes)
  })

  it('refuses a watch whose range end is not above its key as etcd does (watch id -1, range is empty), keeping none', () => {
    const { put, stream, send, hub } = setUp()
    for (const [key, rangeEnd] of [['w/z', 'w/a'], ['w/k', 'w/k']]) {
      send({ request_union: 'create_request', create_request: { key: Buffer.from(key as string), range_end: Buffer.from(rangeEnd as string) } })
      expect(stream.written.at(-1)).toMatchObject({ watch_id: -1, created: true, canceled: true, cancel_reason: 'mvcc: watcher range is empty' })
    }
    expect(hub.size).toBe(0)
    // "\0" is every key from the key up, not an end below it; the refused watches took no id.
    send({ request_union: 'create_request', create_request: { key: Buffer.from('w/k'), range_end: Buffer.of(0) } })
    expect(stream.written.at(-1)).toMatchObject({ watch_id: 0, created: true })
    put('w/z', 'v')
    expect(stream.written.at(-1)).toMatchObject({ watch_id: 0, events: [{ kv: { key: Buffer.from('w/z') } }] })
    expect(hub.size).toBe(1)
  })
})
