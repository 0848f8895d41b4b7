// etcd's election recipe on a store in this process. A candidate that campaigns again with its
// lease and another value shows that value at once, as etcd's Campaign does (it proclaims before
// waiting); a campaign that fails, or whose client left as it came to lead, deletes its key, so
// leadership is not held for no one. A resign that finds its key gone or another answers OK, as etcd's.
import { describe, expect, it } from 'vitest'
import { decodeTxnResult, encodeKvCommand, KvStateMachine, type KvCommand } from '../../../src/kv/kv-state-machine.js'
import type { TxnRequest } from '../../../src/kv/kv-txn.js'
import { campaign, resign } from '../../../src/kv/recipes/election-recipe.js'
import { rangeRequest, type RecipeHost } from '../../../src/kv/recipes/recipe-host.js'
import { WatchHub } from '../../../src/kv/watch/watch-hub.js'
import { EntryType } from '../../../src/storage/log-entry.js'
import { abortAfterNextTxn } from '../../helpers/recipe-hosts.js'

function setUp() {
  const kv = new KvStateMachine()
  let index = 0
  const apply = (command: KvCommand): Uint8Array => kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) })
  const host: RecipeHost = {
    kv,
    hub: new WatchHub(kv),
    txn: async (txn: TxnRequest) => decodeTxnResult(apply({ op: 'txn', txn })),
    read: async () => undefined,
  }
  apply({ op: 'leaseGrant', id: 1, ttl: 60 })
  apply({ op: 'leaseGrant', id: 2, ttl: 60 })
  return { host }
}

const name = Buffer.from('chief')
const valueOf = (host: RecipeHost, key: string): string | undefined => host.kv.range(rangeRequest(Buffer.from(key))).kvs[0]?.value.toString()
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('the election recipe', () => {
  it("shows a waiting candidate's new value at once when it campaigns again with its lease", async () => {
    const { host } = setUp()
    const chief = await campaign(host, name, 1, Buffer.from('a'), new AbortController().signal)
    const first = new AbortController()
    const waiting = campaign(host, name, 2, Buffer.from('b1'), first.signal).catch((error: unknown) => error)
    await turn()
    const again = campaign(host, name, 2, Buffer.from('b2'), new AbortController().signal)
    await turn()
    expect(valueOf(host, 'chief/2')).toBe('b2')
    await resign(host, chief)
    const leader = await again
    expect(leader.key.toString()).toBe('chief/2')
    expect(valueOf(host, 'chief/2')).toBe('b2')
    first.abort()
    await waiting
  })

  it("answers a resign that names no leader any more as etcd does (OK), deleting only the key created at the leader key's revision", async () => {
    const { host } = setUp()
    const chief = await campaign(host, name, 1, Buffer.from('a'), new AbortController().signal)
    // A stale revision, another key: etcd's Resign is a delete under a compare, answered OK whether the compare held or not.
    await expect(resign(host, { ...chief, rev: chief.rev + 5 })).resolves.toBeUndefined()
    await expect(resign(host, { ...chief, key: Buffer.from('chief/ff') })).resolves.toBeUndefined()
    expect(valueOf(host, 'chief/1')).toBe('a')
    await expect(resign(host, chief)).resolves.toBeUndefined()
    expect(valueOf(host, 'chief/1')).toBeUndefined()
    // Twice: the second finds no key and answers alike.
    await expect(resign(host, chief)).resolves.toBeUndefined()
  })

  it('deletes the key of a candidate whose client left as it came to lead', async () => {
    const { host } = setUp()
    const controller = new AbortController()
    abortAfterNextTxn(host, controller)
    await expect(campaign(host, name, 1, Buffer.from('a'), controller.signal)).rejects.toMatchObject({ code: 'ERR_CANCELLED' })
    expect(valueOf(host, 'chief/1')).toBeUndefined()
  })
})
