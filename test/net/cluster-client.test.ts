// ClusterClient against fake nodes: gRPC servers whose client service answers as the test says.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { ClusterClient } from '../../src/net/cluster-client.js'
import { protocol } from '../../src/net/protocol.js'

type Answer = (request: Record<string, unknown>) => { reply?: unknown; error?: Partial<grpc.StatusObject> }

const servers: grpc.Server[] = []
const clients: ClusterClient[] = []

afterEach(() => {
  for (const client of clients.splice(0)) client.close()
  for (const server of servers.splice(0)) server.forceShutdown()
})

/** A fake node; `calls` counts what reached it. */
async function fakeNode(answer: Answer): Promise<{ address: string; calls: string[] }> {
  const calls: string[] = []
  const handler = (method: string) => (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    calls.push(method)
    const { reply, error } = answer(call.request)
    if (error !== undefined) callback(error)
    else callback(null, reply)
  }
  const server = new grpc.Server()
  servers.push(server)
  server.addService(protocol.RaftClient.service, { Propose: handler('Propose'), Read: handler('Read'), Status: handler('Status') })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, calls }
}

function client(endpoints: string[], ids: number[] = []): ClusterClient {
  const made = new ClusterClient(endpoints, ids)
  clients.push(made)
  return made
}

const result = (text: string) => ({ reply: { result: Buffer.from(text) } })

describe('ClusterClient', () => {
  it('follows a NOT_LEADER answer to the leader it names', async () => {
    const leader = await fakeNode(() => result('done'))
    const follower = await fakeNode(() => ({ reply: { notLeader: { leaderId: 2, leaderAddress: leader.address } } }))
    const reply = await client([follower.address]).propose(new Uint8Array([1]), 5000)
    expect(Buffer.from(reply).toString()).toBe('done')
    expect([follower.calls, leader.calls]).toEqual([['Propose'], ['Propose']])
  })

  it('tries the other nodes while nobody knows a leader', async () => {
    let asked = 0
    const undecided = await fakeNode(() => ({ reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
    const later = await fakeNode(() => (++asked < 3 ? { reply: { notLeader: { leaderId: 0, leaderAddress: '' } } } : result('v')))
    expect(Buffer.from(await client([undecided.address, later.address]).read('k', 5000)).toString()).toBe('v')
    expect(later.calls).toEqual(['Read', 'Read', 'Read'])
  })

  it('gives up with ERR_NO_LEADER and what it tried when no leader answers in time', async () => {
    const undecided = await fakeNode(() => ({ reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
    const started = Date.now()
    await expect(client([undecided.address, '127.0.0.1:1']).propose(new Uint8Array([1]), 600)).rejects.toMatchObject({
      code: 'ERR_NO_LEADER',
      message: expect.stringMatching(/^No leader could be reached within 600 ms \(tried 127\.0\.0\.1:\d+, 127\.0\.0\.1:1; last: /),
    })
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('does not resend a command the node refused as malformed', async () => {
    const node = await fakeNode(() => ({ error: { code: grpc.status.INVALID_ARGUMENT, details: 'Not a key-value command' } }))
    await expect(client([node.address]).propose(new Uint8Array([9]), 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND' })
    expect(node.calls).toEqual(['Propose'])
  })

  it('reports an unknown outcome instead of resending a cas, but resends a put', async () => {
    let calls = 0
    const node = await fakeNode(() => (++calls === 1 ? { error: { code: grpc.status.ABORTED, details: 'ERR_STOPPED: Node 1 stopped' } } : result('ok')))
    await expect(client([node.address]).propose(new Uint8Array([4]), 5000, 'once')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_OUTCOME', message: expect.stringMatching(/may or may not have been applied/) })
    calls = 0
    expect(Buffer.from(await client([node.address]).propose(new Uint8Array([1]), 5000, 'idempotent')).toString()).toBe('ok')
    expect(calls).toBe(2)
  })

  it('sends a cas on to the next node when the first one could not be reached at all', async () => {
    const node = await fakeNode(() => result('ok'))
    expect(Buffer.from(await client(['127.0.0.1:1', node.address]).propose(new Uint8Array([4]), 5000, 'once')).toString()).toBe('ok')
  })

  it('reports an unknown outcome when the node goes away in the middle of a cas', async () => {
    const server = new grpc.Server()
    let received: () => void = () => {}
    const arrived = new Promise<void>((resolve) => (received = resolve))
    // Takes the call and never answers: the node dies with the command maybe committed.
    server.addService(protocol.RaftClient.service, { Propose: () => received(), Read: () => {}, Status: () => {} })
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const outcome = client([`127.0.0.1:${port}`]).propose(new Uint8Array([4]), 5000, 'once')
    await arrived
    server.forceShutdown()
    await expect(outcome).rejects.toMatchObject({ code: 'ERR_UNKNOWN_OUTCOME' })
  })

  it('reports every node, an unreachable one by its configured id', async () => {
    const node = await fakeNode(() => ({ reply: { id: 1, role: 'leader', term: 4, leaderId: 1, commitIndex: 9, lastApplied: 9, firstIndex: 1, lastIndex: 9 } }))
    const statuses = await client([node.address, '127.0.0.1:1'], [1, 2]).statuses(1000)
    expect(statuses[0]).toEqual({ id: 1, address: node.address, reachable: true, role: 'leader', term: 4, leaderId: 1, commitIndex: 9, lastApplied: 9, firstIndex: 1, lastIndex: 9, snapshotIndex: 0, snapshotTerm: 0 })
    expect(statuses[1]).toMatchObject({ id: 2, address: '127.0.0.1:1', reachable: false })
  })
})
