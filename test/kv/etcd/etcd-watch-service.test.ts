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
  stalled = false
  private queued = 0
  get writableLength(): number {
    return this.queued
  }
  write(response: Record<string, unknown> | EncodedWatchResponse): boolean {
    // Events go out encoded once for every watcher: read them back as a client would.
    const decode = (etcdProtocol.Watch.service.Watch as grpc.MethodDefinition<unknown, Record<string, unknown>>).responseDeserialize
    this.written.push(response instanceof EncodedWatchResponse ? decode(response.bytes) : response)
    if (this.stalled) this.queued++
    return !this.stalled
  }
  end(): void {}
}

function setUp(progressNotifyMs?: number) {
  const kv = new KvStateMachine()
  const hub = new WatchHub(kv)
  let index = 0
  const put = (key: string, value: string): void => {
    kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key, value }) })
  }
  const service = etcdWatchService(node, { kv, hub, ...(progressNotifyMs === undefined ? {} : { progressNotifyMs }) })
  const stream = new FakeStream()
  ;(service.Watch as (call: unknown) => void)(stream)
  const send = (request: Record<string, unknown>): void => {
    stream.emit('data', request)
  }
  return { kv, hub, put, stream, send }
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
    expect(stream.written.at(-1)).toMatchObject({ watch_id: -1, created: true, canceled: true })
    expect(hub.size).toBe(1)
    put('k', 'v')
    expect(stream.written.at(-1)).toMatchObject({ watch_id: 7 })
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
