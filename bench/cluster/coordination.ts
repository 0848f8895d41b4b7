// The coordination rows (issue 24): watch event delivery and lock acquire/release, run on raftlog
// and on etcd with the same client code: raw @grpc/grpc-js over etcd's own .proto files
// (src/net/etcd-protocol.ts), which both serve on their client port. Writes and lock calls go to
// the leader (etcd's best setup, and raftlog's); watch streams are spread over the members,
// followers first, as a deployment spreads its watchers.
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { packageRoot } from '../../src/package-root.js'
import { closedLoop } from './closed-loop.js'
import { operationTimeoutMs } from './kv-cluster.js'

/** A member's etcd API address, host:port, and which of them leads. */
export interface EtcdApiEndpoints {
  leader: string
  members: string[]
}

export interface CoordinationMeasure {
  ops: number
  errors: number
  firstError: string | undefined
  seconds: number
  latenciesMs: number[]
}

/**
 * etcd's services from raftlog's copies of its .proto files, loaded as src/net/etcd-protocol.ts
 * loads them but with 64-bit numbers as strings: etcd's lease ids use all 64 bits, beyond what a
 * JavaScript number holds exactly.
 */
const etcdProtocol = (() => {
  const protoDir = join(packageRoot(import.meta.url), 'proto', 'etcd')
  const files = ['rpc.proto', 'v3lock.proto'].map((file) => join(protoDir, file))
  const definition = protoLoader.loadSync(files, { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: Record<'KV' | 'Watch' | 'Lease', grpc.ServiceClientConstructor>; v3lockpb: { Lock: grpc.ServiceClientConstructor } }
  return { ...loaded.etcdserverpb, Lock: loaded.v3lockpb.Lock }
})()

type Unary = (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => void

function call<T>(client: grpc.Client, method: string, request: unknown, timeoutMs = operationTimeoutMs): Promise<T> {
  return new Promise((resolve, reject) => {
    const send = (client as unknown as Record<string, Unary>)[method] as Unary
    send.call(client, request, { deadline: Date.now() + timeoutMs }, (error, response) => (error === null ? resolve(response as T) : reject(error)))
  })
}

/** Watches per gRPC stream (etcd's benchmark defaults to 10 as well): 1,000 watchers are 100 streams. */
export const watchersPerStream = 10
/** How long the last events may take to reach every watcher after the writer stops. */
const drainMs = 5000
/** Width of the values the writer puts (its sequence number, padded). */
export const watchValueBytes = 100

interface WireWatchResponse {
  watch_id: number
  created?: boolean
  canceled?: boolean
  cancel_reason?: string
  events?: { kv?: { value?: Buffer } }[]
}

/**
 * `watchers` watches of one key, `watchersPerStream` to a stream, the streams spread over the
 * members (followers first); one writer puts the key at the leader, closed loop when
 * `putsPerSecond` is 0, else at that rate (a put starts no sooner than 1/rate after the last
 * started, and never before the last answered). Each value carries the put's sequence number:
 * an event's latency runs from the put's send to the event's arrival at its watcher. ops: events
 * delivered; errors: events never delivered within drainMs after the writer stopped.
 */
export async function measureWatch(endpoints: EtcdApiEndpoints, key: string, watchers: number, putsPerSecond: number, seconds: number): Promise<CoordinationMeasure> {
  const order = [...endpoints.members.filter((member) => member !== endpoints.leader), endpoints.leader]
  const watchClients = order.map((member) => new etcdProtocol.Watch(member, grpc.credentials.createInsecure()))
  const kv = new etcdProtocol.KV(endpoints.leader, grpc.credentials.createInsecure())
  const sentAt: number[] = []
  const latenciesMs: number[] = []
  const seen = new Array<number>(watchers).fill(0)
  let firstError: string | undefined
  let measuring = false
  const streams: grpc.ClientDuplexStream<unknown, unknown>[] = []
  try {
    const created: Promise<void>[] = []
    for (let s = 0; s * watchersPerStream < watchers; s++) {
      const client = watchClients[s % watchClients.length] as grpc.Client
      const stream = (client as unknown as { Watch(): grpc.ClientDuplexStream<unknown, unknown> }).Watch()
      streams.push(stream)
      const first = s * watchersPerStream
      const count = Math.min(watchersPerStream, watchers - first)
      let pending = count
      created.push(
        new Promise<void>((resolve, reject) => {
          stream.on('error', (error: grpc.ServiceError) => {
            if (error.code !== grpc.status.CANCELLED) {
              firstError ??= `watch stream: ${error.details}`
              reject(error)
            }
          })
          stream.on('data', (response: WireWatchResponse) => {
            if (response.created === true && !response.canceled) {
              if (--pending === 0) resolve()
              return
            }
            if (response.canceled === true) {
              firstError ??= `watch ${response.watch_id} cancelled: ${response.cancel_reason ?? ''}`
              return
            }
            const arrived = performance.now()
            const watcher = Number(response.watch_id) - 1
            for (const event of response.events ?? []) {
              const seq = Number.parseInt(event.kv?.value?.toString('latin1') ?? '', 10)
              const sent = sentAt[seq]
              if (!measuring || sent === undefined) continue
              latenciesMs.push(arrived - sent)
              seen[watcher] = (seen[watcher] as number) + 1
            }
          })
        }),
      )
      // watch ids 1..watchers over all streams: an event's watch id names its watcher.
      for (let i = 0; i < count; i++) stream.write({ create_request: { key: Buffer.from(key), watch_id: first + i + 1 } })
    }
    await withTimeout(Promise.all(created), operationTimeoutMs, `${watchers} watches were not all created`)
    measuring = true
    const value = (seq: number): Buffer => Buffer.from(String(seq).padEnd(watchValueBytes, ' '), 'latin1')
    const intervalMs = putsPerSecond > 0 ? 1000 / putsPerSecond : 0
    let nextStart = performance.now()
    const writer = await closedLoop(1, seconds, async (seq) => {
      if (intervalMs > 0) {
        const wait = nextStart - performance.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        nextStart = Math.max(nextStart + intervalMs, performance.now())
      }
      sentAt[seq] = performance.now()
      await call(kv, 'Put', { key: Buffer.from(key), value: value(seq) })
    })
    const puts = writer.ops
    const expected = puts * watchers
    const drainUntil = performance.now() + drainMs
    while (latenciesMs.length < expected && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10))
    measuring = false
    const missing = Math.max(0, expected - latenciesMs.length)
    if (writer.errors > 0) firstError ??= `put: ${writer.firstError}`
    if (missing > 0) firstError ??= `${missing} of ${expected} events not delivered within ${drainMs} ms`
    // Delivered events over the writer's time (the drain adds the last events' time, no more).
    return { ops: latenciesMs.length, errors: missing + writer.errors, firstError, seconds: writer.seconds, latenciesMs }
  } finally {
    for (const stream of streams) stream.cancel()
    for (const client of [...watchClients, kv]) client.close()
  }
}

/**
 * `clients` loops at the leader, each with its own lease (TTL 60 s, granted before the row and
 * revoked after it), taking a lock and releasing it (v3lock Lock then Unlock): one operation. With
 * `contended`, all loops take the same lock (the rate is its hand-over rate); else each its own.
 */
export async function measureLock(endpoints: EtcdApiEndpoints, name: string, clients: number, contended: boolean, seconds: number): Promise<CoordinationMeasure> {
  const lockClient = new etcdProtocol.Lock(endpoints.leader, grpc.credentials.createInsecure())
  const leaseClient = new etcdProtocol.Lease(endpoints.leader, grpc.credentials.createInsecure())
  try {
    const leases = await Promise.all(Array.from({ length: clients }, async () => (await call<{ ID: string }>(leaseClient, 'LeaseGrant', { TTL: 60 })).ID))
    const loop = await closedLoop(clients, seconds, async (_, mine) => {
      const lockName = Buffer.from(contended ? name : `${name}-${mine}`)
      const held = await call<{ key: Buffer }>(lockClient, 'Lock', { name: lockName, lease: leases[mine] })
      await call(lockClient, 'Unlock', { key: held.key })
    })
    await Promise.all(leases.map((ID) => call(leaseClient, 'LeaseRevoke', { ID }).catch(() => undefined)))
    return loop
  } finally {
    lockClient.close()
    leaseClient.close()
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
