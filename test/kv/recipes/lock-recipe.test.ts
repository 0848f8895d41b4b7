// etcd's lock recipe on a store in this process: a lock no one holds is taken in one round through
// the log, reading its holder in the same transaction (no ReadIndex after it), and a waiter gets
// it once the key before its own is deleted, with a larger fencing token.
import { describe, expect, it } from 'vitest'
import { decodeTxnResult, encodeKvCommand, KvStateMachine, type KvCommand } from '../../../src/kv/kv-state-machine.js'
import type { TxnRequest } from '../../../src/kv/kv-txn.js'
import { acquire, release } from '../../../src/kv/recipes/lock-recipe.js'
import { rangeRequest, type RecipeHost } from '../../../src/kv/recipes/recipe-host.js'
import { RaftLogError } from '../../../src/errors.js'
import { WatchHub } from '../../../src/kv/watch/watch-hub.js'
import { EntryType } from '../../../src/storage/log-entry.js'
import { abortAfterNextTxn } from '../../helpers/recipe-hosts.js'

function setUp() {
  const kv = new KvStateMachine()
  let index = 0
  const apply = (command: KvCommand): Uint8Array => kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) })
  const rounds = { txns: 0, reads: 0 }
  const host: RecipeHost = {
    kv,
    hub: new WatchHub(kv),
    txn: async (txn: TxnRequest) => {
      rounds.txns++
      return decodeTxnResult(apply({ op: 'txn', txn }))
    },
    read: async () => {
      rounds.reads++
    },
  }
  apply({ op: 'leaseGrant', id: 1, ttl: 60 })
  apply({ op: 'leaseGrant', id: 2, ttl: 60 })
  return { host, rounds, apply }
}

const prefix = Buffer.from('jobs/')

describe('the lock recipe', () => {
  it('takes a lock no one holds in one transaction, with no ReadIndex after it', async () => {
    const { host, rounds } = setUp()
    const held = await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)
    expect(held.key.toString()).toBe('jobs/1')
    expect(rounds).toEqual({ txns: 1, reads: 0 })
    // Asked again by the same lease: it holds it already, still one round.
    expect((await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)).createRevision).toBe(held.createRevision)
    expect(rounds).toEqual({ txns: 2, reads: 0 })
  })

  it('makes a second caller wait for the holder to release, then hands it a larger fencing token', async () => {
    const { host } = setUp()
    const first = await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)
    let second: Awaited<ReturnType<typeof acquire>> | undefined
    const waiting = acquire(host, prefix, 2, Buffer.alloc(0), new AbortController().signal).then((held) => (second = held))
    await new Promise((resolve) => setImmediate(resolve))
    expect(second).toBeUndefined()
    expect(await release(host, first.key, first.createRevision)).toBe(true)
    await waiting
    expect(second!.key.toString()).toBe('jobs/2')
    expect(second!.createRevision).toBeGreaterThan(first.createRevision)
  })

  it('deletes the key of a caller that left while its turn came: the lock is not granted to no one', async () => {
    const { host } = setUp()
    const first = await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)
    const controller = new AbortController()
    // The waiter's last read is under way when its client gives up (etcdctl's deadline, say).
    const read = host.read
    let reading: (() => void) | undefined
    const waiting = acquire(host, prefix, 2, Buffer.alloc(0), controller.signal)
    await new Promise((resolve) => setImmediate(resolve))
    host.read = () => new Promise<void>((resolve) => (reading = resolve))
    await release(host, first.key, first.createRevision)
    await new Promise((resolve) => setImmediate(resolve))
    expect(reading).toBeDefined()
    controller.abort()
    host.read = read
    reading!()
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_CANCELLED' })
    expect(host.kv.range(rangeRequest(Buffer.from('jobs/2'))).kvs).toEqual([])
  })

  it('deletes the key of a caller that left while it was created, when no one held the lock', async () => {
    const { host } = setUp()
    const controller = new AbortController()
    abortAfterNextTxn(host, controller)
    await expect(acquire(host, prefix, 1, Buffer.alloc(0), controller.signal)).rejects.toMatchObject({ code: 'ERR_CANCELLED' })
    expect(host.kv.range(rangeRequest(Buffer.from('jobs/1'))).kvs).toEqual([])
  })

  it("deletes a waiter's key when its wait fails (no leader to read from): it does not stay in the queue", async () => {
    const { host } = setUp()
    await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)
    const read = host.read
    host.read = () => Promise.reject(new RaftLogError('ERR_NOT_LEADER', 'no leader'))
    await expect(acquire(host, prefix, 2, Buffer.alloc(0), new AbortController().signal)).rejects.toMatchObject({ code: 'ERR_NOT_LEADER' })
    host.read = read
    expect(host.kv.range(rangeRequest(Buffer.from('jobs/2'))).kvs).toEqual([])
  })

  it("leaves the key to a later call of the same lease when an earlier one fails: the later one still waits, then holds the lock", async () => {
    const { host } = setUp()
    const first = await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)
    // A client's Lock times out and it asks again at once, with the same lease: its server-side wait
    // may end after the new call came, which found the same key (NAME/<lease>) and waits on it.
    const earlier = new AbortController()
    const gaveUp = acquire(host, prefix, 2, Buffer.alloc(0), earlier.signal).catch((error: unknown) => error)
    await new Promise((resolve) => setImmediate(resolve))
    const again = acquire(host, prefix, 2, Buffer.alloc(0), new AbortController().signal)
    await new Promise((resolve) => setImmediate(resolve))
    earlier.abort()
    expect(await gaveUp).toMatchObject({ code: 'ERR_CANCELLED' })
    expect(host.kv.range(rangeRequest(Buffer.from('jobs/2'))).kvs).toHaveLength(1)
    await release(host, first.key, first.createRevision)
    const held = await again
    expect(held.key.toString()).toBe('jobs/2')
    expect(host.kv.range(rangeRequest(held.key)).kvs[0]?.createRevision).toBe(held.createRevision)
  })

  it("deletes a cancelled waiter's key once a leader takes the write, when the first try finds none (an election, a transfer)", async () => {
    const { host } = setUp()
    await acquire(host, prefix, 1, Buffer.alloc(0), new AbortController().signal)
    const controller = new AbortController()
    const waiting = acquire(host, prefix, 2, Buffer.alloc(0), controller.signal).catch((error: unknown) => error)
    await new Promise((resolve) => setImmediate(resolve))
    const txn = host.txn
    let refusals = 2
    host.txn = async (request) => {
      if (refusals-- > 0) throw new RaftLogError('ERR_NOT_LEADER', 'Node 1 is not the leader and knows of none')
      return txn(request)
    }
    controller.abort()
    expect(await waiting).toMatchObject({ code: 'ERR_CANCELLED' })
    expect(host.kv.range(rangeRequest(Buffer.from('jobs/2'))).kvs).toEqual([])
  })
})
