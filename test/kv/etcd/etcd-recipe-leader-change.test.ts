// A Lock or Campaign runs on the leader and waits there; its wait outlives a change of leader (the
// node still applies the log and reads through the new leader). Its writes did not: a waiter whose
// client gave up once its node no longer led could not delete its key (the proposal was refused
// here), so the key kept its place in the lock's queue and was granted in its turn for no one,
// held for as long as its lease lived. Those writes now go to the leader's KV.Txn.
import { describe, expect, it } from 'vitest'
import { pause, settled } from '../../helpers/node-servers.js'
import { useEtcdCluster } from '../../helpers/etcd-cluster.js'

const cluster = useEtcdCluster()
const { call } = cluster
const stub = cluster.client

describe('lock and election waits across a change of leader', () => {
  it('a Lock waiting on a leader that lost leadership, cancelled by its client, leaves the queue', async () => {
    const servers = cluster.servers
    const { leader } = await settled(servers)
    const lease = stub('Lease', leader.node.id)
    const lock = stub('Lock', leader.node.id)
    const grant = async (): Promise<number> => Number((await call<{ ID: number }>(lease, 'LeaseGrant', { TTL: 60 }, 10_000)).ID)
    const name = Buffer.from('moved-on')
    const held = await call<{ key: Buffer }>(lock, 'Lock', { name, lease: await grant() }, 10_000)
    const waiter = await grant()
    const waiting = cluster.start(lock, 'Lock', { name, lease: waiter }, 30_000)
    await pause(300)
    const successor = servers.servers.find((server) => server !== leader)!
    await leader.node.transferLeadership(successor.node.id)
    const now = await settled(servers)
    expect(now.leader).not.toBe(leader)
    waiting.cancel()
    await pause(500)
    const kv = stub('KV', now.leader.node.id)
    const left = await call<{ kvs: { key: Buffer }[] }>(kv, 'Range', { key: Buffer.from(`moved-on/${waiter.toString(16)}`) }, 5000)
    expect(left.kvs).toEqual([])
    await call(stub('Lock', now.leader.node.id), 'Unlock', { key: held.key }, 10_000)
    await expect(call(stub('Lock', now.leader.node.id), 'Lock', { name, lease: await grant() }, 5000)).resolves.toMatchObject({ key: expect.any(Buffer) })
  }, 60_000)
})

describe("a recipe's transaction sent to the leader's KV.Txn", () => {
  it('reads back as the same transaction, and its answer as the outcome applied here', async () => {
    const { txnFromWire, txnToWireRequest, txnOutcomeFromWire, txnToWire } = await import('../../../src/kv/etcd/etcd-wire.js')
    const { ownerRequest, putOp, rangeRequest } = await import('../../../src/kv/recipes/recipe-host.js')
    const key = Buffer.from('jobs/1f')
    const txn = {
      compare: [{ key, rangeEnd: Buffer.alloc(0), target: 'create' as const, result: 'equal' as const, operand: 7 }],
      success: [putOp(key, Buffer.from('v'), 31), { range: ownerRequest(Buffer.from('jobs/'), { beforeRevision: 9, last: true }) }],
      failure: [{ range: rangeRequest(key) }, { deleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: true } }],
    }
    expect(txnFromWire(txnToWireRequest(txn) as never)).toEqual(txn)
    const kv = { key, value: Buffer.from('v'), createRevision: 7, modRevision: 8, version: 2, lease: 31 }
    const outcome = { revision: 12, succeeded: false, responses: [{ range: { kvs: [kv], more: true, count: 2 } }, { deleteRange: { deleted: 1, prevKvs: [kv] } }] }
    expect(txnOutcomeFromWire(txnToWire(outcome, { revision: 12 }) as never)).toEqual(outcome)
  })
})
