// A Range's revision filters, as etcd 3.4 applies them (etcdserver/apply.go): a key is left out
// when a bound is not 0 and the key's revision is past it. So a negative maximum leaves out every
// key (the count still counts them) and a negative minimum leaves out none. raftlog took a
// negative maximum for no filter at all.
import { describe, expect, it } from 'vitest'
import { settled } from '../../helpers/node-servers.js'
import { useEtcdCluster } from '../../helpers/etcd-cluster.js'

const cluster = useEtcdCluster()

interface Range {
  kvs: { key: Buffer }[]
  count: number
}

describe("a Range's revision filters", () => {
  it('leave out every key with a negative maximum and none with a negative minimum, in a Range and in a transaction', async () => {
    const { follower } = await settled(cluster.servers)
    const kv = cluster.client('KV', follower.node.id)
    for (const key of ['f/a', 'f/b', 'f/c']) await cluster.call(kv, 'Put', { key: Buffer.from(key), value: Buffer.from('v') })
    const range = { key: Buffer.from('f/'), range_end: Buffer.from('f0'), keys_only: true }
    const keys = (answer: Range): string[] => answer.kvs.map((kv) => kv.key.toString())
    for (const bound of ['max_mod_revision', 'max_create_revision']) {
      const answer = await cluster.call<Range>(kv, 'Range', { ...range, [bound]: -1 })
      expect([keys(answer), Number(answer.count)]).toEqual([[], 3])
    }
    for (const bound of ['min_mod_revision', 'min_create_revision']) {
      expect(keys(await cluster.call<Range>(kv, 'Range', { ...range, [bound]: -5 }))).toEqual(['f/a', 'f/b', 'f/c'])
    }
    // In a transaction that writes (its ranges go through the log with it).
    const txn = await cluster.call<{ responses: { response_range: Range }[] }>(kv, 'Txn', {
      success: [{ request_put: { key: Buffer.from('g'), value: Buffer.from('v') } }, { request_range: { ...range, min_mod_revision: -5 } }, { request_range: { ...range, max_mod_revision: -1 } }],
    })
    expect(txn.responses.slice(1).map((response) => keys(response.response_range))).toEqual([['f/a', 'f/b', 'f/c'], []])
  })
})
