// etcd's checks of a transaction before it runs (etcdserver/api/v3rpc/key.go: checkTxnRequest,
// checkIntervals): a key put twice or put and deleted anywhere in the request, in either branch
// or a nested transaction, is refused whichever branch would run; so are an empty operation, a
// compare without a key and more than 128 operations in a list. Each case below was answered so
// by etcd 3.4.23; raftlog ran several of them (a put and a delete of one key at one revision).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../../src/net/etcd-protocol.js'
import { settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'

let servers: Servers
let kv: grpc.Client

beforeAll(async () => {
  servers = await startServers(false)
  const { follower } = await settled(servers)
  const address = servers.config.nodes.find((node) => node.nodeId === follower.node.id)?.address as string
  kv = new etcdProtocol.KV(address, grpc.credentials.createInsecure())
})

afterAll(async () => {
  kv?.close()
  await stopServers(servers)
})

type Op = Record<string, unknown>
const put = (key: string): Op => ({ request_put: { key: Buffer.from(key), value: Buffer.from('v') } })
const del = (key: string, rangeEnd?: string): Op => ({ request_delete_range: { key: Buffer.from(key), ...(rangeEnd === undefined ? {} : { range_end: Buffer.from(rangeEnd) }) } })
const nested = (success: Op[], failure: Op[] = []): Op => ({ request_txn: { success, failure } })

/** The call's error details, or 'ok'. */
function call(method: string, request: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => {
    ;(kv as unknown as Record<string, (request: unknown, callback: (error: grpc.ServiceError | null) => void) => void>)[method]!(request, (error) => resolve(error === null ? 'ok' : error.details))
  })
}

const duplicate = 'etcdserver: duplicate key given in txn request'

describe("etcd's checks of a transaction", () => {
  it.each([
    ['a put and a delete of the key', [put('b'), del('b')], duplicate],
    ['a delete, then a put of a key it covers', [del('a', 'c'), put('b')], duplicate],
    ['a put of a nested transaction and a delete around it', [del('a', 'c'), nested([put('b')])], duplicate],
    ['a delete of a nested transaction and a put around it', [nested([del('b')]), put('b')], duplicate],
    ['a nested delete, then a nested put of the key', [nested([del('b')]), nested([put('b')])], duplicate],
    ['a nested else put, then a nested then put of the key', [nested([], [put('b')]), nested([put('b')])], duplicate],
    ['a key put in both branches of a nested transaction, and around it', [nested([put('b')], [put('b')]), put('b')], duplicate],
    ['a key put in both branches of a nested transaction', [nested([put('b')], [put('b')])], 'ok'],
    ['a nested put, then a nested delete of the key (etcd checks puts against earlier deletes only)', [nested([put('b')]), nested([del('b')])], 'ok'],
    ['a nested then put and else delete of the key', [nested([put('b')], [del('b')])], 'ok'],
    ['a delete from a key up ("\\0": etcd compares no key with it) and a put', [del('a', '\0'), put('b')], 'ok'],
    ['a delete up to the key put', [del('a', 'c'), put('c')], 'ok'],
    ['two deletes of a key', [del('b'), del('b')], 'ok'],
    ['an empty operation', [{}], 'etcdserver: key not found'],
    ['129 operations', Array.from({ length: 129 }, (_, i) => put(`k${i}`)), 'etcdserver: too many operations in txn request'],
    // A nested transaction's lists get what the longest list around them left of the 128.
    ['101 operations around a nested transaction of 28', [...Array.from({ length: 100 }, (_, i) => put(`k${i}`)), nested(Array.from({ length: 28 }, (_, i) => put(`n${i}`)))], 'etcdserver: too many operations in txn request'],
    ['101 operations around a nested transaction of 27', [...Array.from({ length: 100 }, (_, i) => put(`k${i}`)), nested(Array.from({ length: 27 }, (_, i) => put(`n${i}`)))], 'ok'],
  ])('%s', async (_name, success, answer) => {
    expect(await call('Txn', { success })).toBe(answer)
  })

  it('checks the branch that does not run too, and compares', async () => {
    expect(await call('Txn', { success: [put('b')], failure: [put('z'), put('z')] })).toBe(duplicate)
    expect(await call('Txn', { compare: [{ key: Buffer.alloc(0), target: 'VERSION', result: 'EQUAL' }] })).toBe('etcdserver: key is not provided')
  })

  it('refuses a put that keeps the value and gives one', async () => {
    expect(await call('Put', { key: Buffer.from('p'), value: Buffer.from('1'), ignore_value: true })).toBe('etcdserver: value is provided')
    expect(await call('Txn', { success: [{ request_put: { key: Buffer.from('p'), value: Buffer.from('1'), ignore_value: true } }] })).toBe('etcdserver: value is provided')
  })
})

// raftlog's own check: an enum value etcd's protocol does not define. etcd 3.4 takes a compare with
// an unknown result or target as true (its switch falls through), leaves a range with an unknown
// sort order unsorted and crashes on an unknown sort target; raftlog answered each as if it were
// the default (EQUAL, VERSION, NONE, KEY). A client that sends one is broken: it is refused.
describe('enum values etcd does not define', () => {
  const compare = (fields: Record<string, unknown>): Record<string, unknown> => ({ key: Buffer.from('k'), target: 'VALUE', result: 'EQUAL', value: Buffer.from('none such'), ...fields })
  const range = (fields: Record<string, unknown>): Record<string, unknown> => ({ key: Buffer.from('a'), range_end: Buffer.from('z'), ...fields })
  const invalid = (details: string): string => `INVALID_ARGUMENT ${details}`

  /** The call's status and details, or 'ok'. */
  function answer(method: string, request: Record<string, unknown>): Promise<string> {
    return new Promise((resolve) => {
      ;(kv as unknown as Record<string, (request: unknown, callback: (error: grpc.ServiceError | null) => void) => void>)[method]!(request, (error) => resolve(error === null ? 'ok' : `${grpc.status[error.code]} ${error.details}`))
    })
  }

  it.each([
    ['compare result', { compare: [compare({ result: 9 })] }, 'etcdserver: unknown compare result 9 (known: EQUAL, GREATER, LESS, NOT_EQUAL)'],
    ['compare target', { compare: [compare({ target: 9 })] }, 'etcdserver: unknown compare target 9 (known: VERSION, CREATE, MOD, VALUE, LEASE)'],
    ['nested compare result', { success: [{ request_txn: { compare: [compare({ result: 4 })] } }] }, 'etcdserver: unknown compare result 4 (known: EQUAL, GREATER, LESS, NOT_EQUAL)'],
    ["sort target of a range operation", { success: [{ request_range: range({ sort_target: 9 }) }] }, 'etcdserver: unknown range sort_target 9 (known: KEY, VERSION, CREATE, MOD, VALUE)'],
    ["sort order of a range operation", { failure: [{ request_range: range({ sort_order: 7 }) }] }, 'etcdserver: unknown range sort_order 7 (known: NONE, ASCEND, DESCEND)'],
  ])('a transaction with an unknown %s is refused, naming it', async (_name, txn, details) => {
    expect(await answer('Txn', txn)).toBe(invalid(details))
  })

  it('a range with an unknown sort target or order is refused, naming it; known ones are served', async () => {
    expect(await answer('Range', range({ sort_target: 9 }))).toBe(invalid('etcdserver: unknown range sort_target 9 (known: KEY, VERSION, CREATE, MOD, VALUE)'))
    expect(await answer('Range', range({ sort_order: -1 }))).toBe(invalid('etcdserver: unknown range sort_order -1 (known: NONE, ASCEND, DESCEND)'))
    expect(await answer('Range', range({ sort_target: 'MOD', sort_order: 'DESCEND' }))).toBe('ok')
    expect(await answer('Txn', { compare: [compare({ result: 'NOT_EQUAL', target: 'VALUE' })], success: [{ request_range: range({ sort_target: 'CREATE' }) }] })).toBe('ok')
  })
})

// etcd 3.4's sub-responses: a range's header says the revision it read, the transaction's
// revision before its first write and after it for a range that follows one (seen from etcd
// 3.4.23 in the differential review), so a client watching from that revision + 1 sees the
// transaction's own writes.
describe("a transaction's sub-response headers", () => {
  it("give each range the revision it read: before the transaction's write, then after it", async () => {
    const key = Buffer.from('sub-header')
    const read = { request_range: { key } }
    const response = await new Promise<{ header: { revision: string }; responses: Record<string, { header: { revision: string } }>[] }>((resolve, reject) => {
      ;(kv as unknown as Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, response: never) => void) => void>).Txn!({ success: [read, { request_put: { key, value: Buffer.from('v') } }, read] }, (error, answer) => (error === null ? resolve(answer) : reject(error)))
    })
    const after = Number(response.header.revision)
    const revisions = response.responses.map((op) => Number((op.response_range ?? op.response_put)!.header.revision))
    expect(revisions).toEqual([after - 1, after, after])
  })
})
