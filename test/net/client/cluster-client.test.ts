// ClusterClient against fake nodes: gRPC servers whose client service answers as the test says.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { protocol } from '../../../src/net/protocol.js'
import { decodeEnvelope, type SessionEnvelope } from '../../../src/session/session-envelope.js'
import type { RaftLogError } from '../../../src/errors.js'
import { tempDir } from '../../helpers/temp-dir.js'

type Answer = (method: string, envelope: SessionEnvelope | undefined, request: Record<string, unknown>) => { reply?: unknown; error?: Partial<grpc.StatusObject> } | 'hang'

const servers: grpc.Server[] = []
const clients: ClusterClient[] = []

afterEach(() => {
  for (const client of clients.splice(0)) client.close()
  for (const server of servers.splice(0)) server.forceShutdown()
})

/** A fake node; `calls` lists what reached it (method, and the envelope of a Propose). */
async function fakeNode(answer: Answer): Promise<{ address: string; calls: { method: string; envelope?: SessionEnvelope }[] }> {
  const calls: { method: string; envelope?: SessionEnvelope }[] = []
  const handler = (method: string) => (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    const envelope = method === 'Propose' ? decodeEnvelope(new Uint8Array(call.request.command as Buffer)) : undefined
    calls.push(envelope === undefined ? { method } : { method, envelope })
    const answered = answer(method, envelope, call.request)
    if (answered === 'hang') return
    if (answered.error !== undefined) callback(answered.error)
    else callback(null, answered.reply)
  }
  const server = new grpc.Server()
  servers.push(server)
  server.addService(protocol.RaftClient.service, { Propose: handler('Propose'), Read: handler('Read'), Status: handler('Status') })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, calls }
}

function client(endpoints: string[], ids: number[] = [], options: { failFast?: boolean } = {}): ClusterClient {
  const made = new ClusterClient(endpoints, ids, options)
  clients.push(made)
  return made
}

const result = (text: string) => ({ reply: { result: Buffer.from(text) } })
const clientId = (id: number) => {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64LE(BigInt(id))
  return { reply: { result: bytes } }
}
/** A leader: opens session 7, answers commands with `text`. */
const leaderAnswer = (text: string): Answer => (_method, envelope) => (envelope?.kind === 'open' ? clientId(7) : result(text))
const commands = (calls: { envelope?: SessionEnvelope }[]) => calls.map((c) => c.envelope).filter((e) => e?.kind === 'command') as Extract<SessionEnvelope, { kind: 'command' }>[]

describe('ClusterClient', () => {
  it('follows a NOT_LEADER answer to the leader it names, and goes straight there next time', async () => {
    const leader = await fakeNode(leaderAnswer('done'))
    const follower = await fakeNode(() => ({ reply: { notLeader: { leaderId: 2, leaderAddress: leader.address } } }))
    const cluster = client([follower.address, leader.address])
    expect(Buffer.from(await cluster.propose(new Uint8Array([1]), 5000)).toString()).toBe('done')
    expect(Buffer.from(await cluster.propose(new Uint8Array([2]), 5000)).toString()).toBe('done')
    // The session was opened once; only the first call went to the follower.
    expect(follower.calls.map((c) => c.envelope?.kind)).toEqual(['open'])
    expect(leader.calls.map((c) => c.envelope?.kind)).toEqual(['open', 'command', 'command'])
  })

  it('tries the other nodes while nobody knows a leader', async () => {
    let asked = 0
    const undecided = await fakeNode(() => ({ reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
    const later = await fakeNode((method, envelope) => (++asked < 3 ? { reply: { notLeader: { leaderId: 0, leaderAddress: '' } } } : leaderAnswer('v')(method, envelope, {})))
    expect(Buffer.from(await client([undecided.address, later.address]).propose(new Uint8Array([1]), 5000)).toString()).toBe('v')
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

  it('asks the other nodes while one is starting (ERR_STARTING, nothing done), and says so at its deadline', async () => {
    const starting = { error: { code: grpc.status.UNAVAILABLE, details: 'ERR_STARTING: node 1 is starting (checking its cluster, replaying its log): ask again shortly' } }
    const early = await fakeNode(() => starting)
    const leader = await fakeNode(leaderAnswer('done'))
    expect(Buffer.from(await client([early.address, leader.address]).propose(new Uint8Array([1]), 5000)).toString()).toBe('done')
    // A node that restarts after a command: starting, it did nothing with the next one, so the
    // client says no leader, not ERR_UNKNOWN_OUTCOME (nor ERR_MANY_GROUPS).
    let restarted = false
    const restarting = await fakeNode((method, envelope) => (restarted ? starting : leaderAnswer('first')(method, envelope, {})))
    const cluster = client([restarting.address])
    expect(Buffer.from(await cluster.propose(new Uint8Array([2]), 5000)).toString()).toBe('first')
    restarted = true
    await expect(cluster.propose(new Uint8Array([3]), 800)).rejects.toMatchObject({ code: 'ERR_NO_LEADER', message: expect.stringMatching(/node 1 is starting/) })
  })

  it('refuses a timeout no timer can wait (over 2^31 - 1 ms, or not a number of ms from 1) before any call', async () => {
    const node = await fakeNode(leaderAnswer('ok'))
    const c = client([node.address])
    for (const timeoutMs of [2 ** 31, 1e20, 0, Number.NaN]) {
      const refusal = { code: 'ERR_BAD_ARGUMENT', message: `timeoutMs must be a number of milliseconds from 1 to 2147483647, got ${String(timeoutMs)}` }
      await expect(c.propose(new Uint8Array([9]), timeoutMs)).rejects.toMatchObject(refusal)
      await expect(c.read('k', timeoutMs)).rejects.toMatchObject(refusal)
    }
    expect(node.calls).toEqual([])
    expect(new TextDecoder().decode(await c.propose(new Uint8Array([9]), 2 ** 31 - 1))).toBe('ok')
  })

  it('refuses the same timeouts for status, backup and the etcd-API helpers, before any call', async () => {
    const node = await fakeNode(leaderAnswer('ok'))
    const c = client([node.address])
    const target = join(tempDir(), 'backup.snap')
    for (const timeoutMs of [2 ** 31, 1e20, 0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const refusal = { code: 'ERR_BAD_ARGUMENT', message: `timeoutMs must be a number of milliseconds from 1 to 2147483647, got ${String(timeoutMs)}` }
      await expect(c.statuses(timeoutMs)).rejects.toMatchObject(refusal)
      await expect(c.saveSnapshot(target, { timeoutMs })).rejects.toMatchObject(refusal)
      await expect(c.grantLease(10, { timeoutMs })).rejects.toMatchObject(refusal)
      await expect(c.keepLeaseAlive(7, timeoutMs)).rejects.toMatchObject(refusal)
      await expect(c.leaseTimeToLive(7, timeoutMs)).rejects.toMatchObject(refusal)
      await expect(c.revokeLease(7, timeoutMs)).rejects.toMatchObject(refusal)
      await expect(c.leases(timeoutMs)).rejects.toMatchObject(refusal)
      await expect(c.electionLeader('e', timeoutMs)).rejects.toMatchObject(refusal)
      // A lock or a campaign may also wait without a deadline (Infinity, the default).
      if (timeoutMs === Number.POSITIVE_INFINITY) continue
      const orForever = { code: 'ERR_BAD_ARGUMENT', message: `timeoutMs must be a number of milliseconds from 1 to 2147483647, or Infinity, got ${String(timeoutMs)}` }
      await expect(c.lock('l', { timeoutMs })).rejects.toMatchObject(orForever)
      await expect(c.campaign('e', 'me', { timeoutMs })).rejects.toMatchObject(orForever)
    }
    expect(node.calls).toEqual([])
    expect(existsSync(target)).toBe(false)
    c.close()
  })

  it('does not resend a command the node refused as malformed', async () => {
    const node = await fakeNode((_method, envelope) => (envelope?.kind === 'open' ? clientId(7) : { error: { code: grpc.status.INVALID_ARGUMENT, details: 'Not a key-value command' } }))
    await expect(client([node.address]).propose(new Uint8Array([9]), 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND' })
    expect(commands(node.calls)).toHaveLength(1)
  })

  it('sends a command again, the same session entry, when its answer was lost, and returns the answer', async () => {
    let commandCalls = 0
    const node = await fakeNode((_method, envelope) => {
      if (envelope?.kind === 'open') return clientId(7)
      return ++commandCalls === 1 ? { error: { code: grpc.status.ABORTED, details: 'ERR_LEADERSHIP_LOST: node 1 lost leadership' } } : result('once')
    })
    expect(Buffer.from(await client([node.address]).propose(new Uint8Array([4]), 5000)).toString()).toBe('once')
    const sent = commands(node.calls)
    expect(sent).toHaveLength(2)
    expect(sent.map((e) => [e.clientId, e.sequence])).toEqual([
      [7, 1],
      [7, 1],
    ])
  })

  it('numbers commands, and tells the state machine which answers it may forget', async () => {
    const node = await fakeNode(leaderAnswer('ok'))
    const cluster = client([node.address])
    await cluster.propose(new Uint8Array([1]), 5000)
    await cluster.propose(new Uint8Array([2]), 5000)
    expect(commands(node.calls).map((e) => [e.sequence, e.lowestPending])).toEqual([
      [1, 1],
      [2, 2],
    ])
  })

  it('reports an unknown outcome only when the session expired after the command may have been applied', async () => {
    let commandCalls = 0
    const node = await fakeNode((_method, envelope) => {
      if (envelope?.kind === 'open') return clientId(7)
      return ++commandCalls === 1 ? { error: { code: grpc.status.ABORTED, details: 'ERR_LEADERSHIP_LOST: lost' } } : { error: { code: grpc.status.FAILED_PRECONDITION, details: 'ERR_SESSION_EXPIRED: Client session 7 is unknown or expired' } }
    })
    await expect(client([node.address]).propose(new Uint8Array([4]), 5000)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_OUTCOME', message: expect.stringMatching(/may or may not have been applied: its client session expired/) })
  })

  it('opens a new session when the first attempt finds its session expired, and sends the command there', async () => {
    let opened = 0
    const node = await fakeNode((_method, envelope) => {
      if (envelope?.kind === 'open') return clientId(++opened)
      if (envelope?.kind === 'command' && envelope.clientId === 1) return { error: { code: grpc.status.FAILED_PRECONDITION, details: 'ERR_SESSION_EXPIRED: gone' } }
      return result('fresh')
    })
    expect(Buffer.from(await client([node.address]).propose(new Uint8Array([4]), 5000)).toString()).toBe('fresh')
    expect(commands(node.calls).map((e) => e.clientId)).toEqual([1, 2])
  })

  it('reports an unknown outcome when the node goes away in the middle of a command, after retrying to the deadline', async () => {
    const server = new grpc.Server()
    let received: () => void = () => {}
    const arrived = new Promise<void>((resolve) => (received = resolve))
    // Opens sessions, takes the command and never answers: the node dies with it maybe committed.
    server.addService(protocol.RaftClient.service, {
      Propose: (call: grpc.ServerUnaryCall<{ command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        if (decodeEnvelope(new Uint8Array(call.request.command)).kind === 'open') callback(null, clientId(3).reply)
        else received()
      },
      Read: () => {},
      Status: () => {},
    })
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const outcome = client([`127.0.0.1:${port}`]).propose(new Uint8Array([4]), 1500)
    await arrived
    server.forceShutdown()
    await expect(outcome).rejects.toMatchObject({ code: 'ERR_UNKNOWN_OUTCOME', message: expect.stringMatching(/no leader answered within 1500 ms/) })
  })

  it('spreads reads over the nodes, and moves on from one that knows no leader', async () => {
    const a = await fakeNode(() => result('from a'))
    const b = await fakeNode(() => ({ reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
    const cluster = client([a.address, b.address])
    const answers = [await cluster.read('k', 5000), await cluster.read('k', 5000), await cluster.read('k', 5000)].map((r) => Buffer.from(r).toString())
    expect(answers).toEqual(['from a', 'from a', 'from a'])
    expect(b.calls.map((c) => c.method)).toEqual(['Read'])
    expect(a.calls.map((c) => c.method)).toEqual(['Read', 'Read', 'Read'])
  })

  it("rejects at once with the state machine's own error (FAILED_PRECONDITION) and does not send the command again", async () => {
    const node = await fakeNode((_method, envelope) => (envelope?.kind === 'open' ? clientId(7) : { error: { code: grpc.status.FAILED_PRECONDITION, details: 'ERR_INSUFFICIENT_FUNDS: account 4 holds 3' } }))
    await expect(client([node.address]).propose(new Uint8Array([4]), 5000)).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_FUNDS', message: 'account 4 holds 3' })
    expect(commands(node.calls)).toHaveLength(1)
  })

  it('a leader whose disk is full (ERR_DISK_FULL, refused before the log) is asked again, the other nodes first, until one takes the command', async () => {
    let refusals = 0
    const full = await fakeNode((_method, envelope) => (envelope?.kind === 'open' ? clientId(7) : ++refusals <= 2 ? { error: { code: grpc.status.UNAVAILABLE, details: 'ERR_DISK_FULL: Node 1 cannot write: its disk is full' } } : result('taken')))
    const undecided = await fakeNode(() => ({ reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
    expect(Buffer.from(await client([full.address, undecided.address]).propose(new Uint8Array([1]), 5000)).toString()).toBe('taken')
    expect(commands(full.calls)).toHaveLength(3)
  })

  it('says ERR_DISK_FULL at its deadline when every answer was that refusal (the command certainly not applied)', async () => {
    const full = await fakeNode((_method, envelope) => (envelope?.kind === 'open' ? clientId(7) : { error: { code: grpc.status.UNAVAILABLE, details: 'ERR_DISK_FULL: Node 1 cannot write: its disk is full' } }))
    await expect(client([full.address]).propose(new Uint8Array([1]), 1000)).rejects.toMatchObject({ code: 'ERR_DISK_FULL', message: expect.stringMatching(/\(ERR_DISK_FULL\): .*its disk is full/) })
  })

  it('rejects at once with ERR_LOG_FULL (RESOURCE_EXHAUSTED, never applied) and does not send the command again', async () => {
    const node = await fakeNode((_method, envelope) => (envelope?.kind === 'open' ? clientId(7) : { error: { code: grpc.status.RESOURCE_EXHAUSTED, details: "ERR_LOG_FULL: Node 1's log holds 300 bytes" } }))
    await expect(client([node.address]).propose(new Uint8Array([4]), 5000)).rejects.toMatchObject({ code: 'ERR_LOG_FULL', message: `${node.address} refused the write (ERR_LOG_FULL): Node 1's log holds 300 bytes` })
    expect(commands(node.calls)).toHaveLength(1)
  })

  it('sends bytes as a Read query and a string as a key-value key (its UTF-8 bytes)', async () => {
    const requests: Record<string, unknown>[] = []
    const node = await fakeNode((_method, _envelope, request) => {
      requests.push(request)
      return result('answer')
    })
    const cluster = client([node.address])
    await cluster.read(new Uint8Array([1, 2]), 5000)
    await cluster.read('clé', 5000)
    expect(requests.map((r) => [(r.key as Buffer).toString('hex'), [...(r.query as Buffer)]])).toEqual([
      ['', [1, 2]],
      [Buffer.from('clé').toString('hex'), []],
    ])
  })

  describe('with failFast', () => {
    it('gives up at once when no node answers, naming every address it tried', async () => {
      const started = Date.now()
      await expect(client(['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'], [], { failFast: true }).read('k', 10_000)).rejects.toMatchObject({
        code: 'ERR_NO_CLUSTER',
        message: 'no node answered: is the cluster running? tried 127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3',
      })
      expect(Date.now() - started).toBeLessThan(1000)
      // Without it, the client waits for the timeout: a cluster may be on its way up.
      const patient = Date.now()
      await expect(client(['127.0.0.1:1'], []).read('k', 700)).rejects.toMatchObject({ code: 'ERR_NO_LEADER' })
      expect(Date.now() - patient).toBeGreaterThanOrEqual(690)
    })

    it('gives up at once when fewer than a majority answer and none knows a leader; a proposal was never applied', async () => {
      const lonely = await fakeNode((method) => (method === 'Status' ? { reply: { id: 1, role: 'follower', leaderId: 0 } } : { reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
      const started = Date.now()
      await expect(client([lonely.address, '127.0.0.1:2', '127.0.0.1:3'], [], { failFast: true }).propose(new Uint8Array([1]), 10_000)).rejects.toMatchObject({
        code: 'ERR_NO_MAJORITY',
        message: `no majority of the cluster is reachable: 1 of 3 nodes answered (${lonely.address}) and none knows a leader; electing one needs 2`,
      })
      expect(Date.now() - started).toBeLessThan(1500)
    })

    it('says a lost majority as it is when the session open may have reached a leader: the command itself was never sent', async () => {
      // What a client meets just after a majority is lost: the old leader took the open and its
      // answer was lost, then every node that answers knows no leader.
      let proposals = 0
      const deposed = await fakeNode((method) => (method === 'Status' ? { reply: { id: 1, role: 'follower', leaderId: 0 } } : ++proposals === 1 ? { error: { code: grpc.status.INTERNAL, details: 'stream reset' } } : { reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
      const failure = await client([deposed.address, '127.0.0.1:2', '127.0.0.1:3'], [], { failFast: true })
        .propose(new Uint8Array([1]), 10_000)
        .catch((error: unknown) => error as RaftLogError)
      expect(failure).toMatchObject({ code: 'ERR_NO_MAJORITY', message: `no majority of the cluster is reachable: 1 of 3 nodes answered (${deposed.address}) and none knows a leader; electing one needs 2` })
      expect(deposed.calls.filter((call) => call.method === 'Propose').every((call) => call.envelope?.kind === 'open')).toBe(true)
    })

    it('keeps trying while a majority answers (an election may be under way)', async () => {
      let asked = 0
      const undecided = await fakeNode((method) => (method === 'Status' ? { reply: { id: 1, role: 'candidate', leaderId: 0 } } : { reply: { notLeader: { leaderId: 0, leaderAddress: '' } } }))
      const later = await fakeNode((method, envelope) => (method === 'Status' ? { reply: { id: 2, role: 'follower', leaderId: 0 } } : ++asked < 6 ? { reply: { notLeader: { leaderId: 0, leaderAddress: '' } } } : leaderAnswer('v')(method, envelope, {})))
      const answer = await client([undecided.address, later.address, '127.0.0.1:3'], [], { failFast: true }).propose(new Uint8Array([1]), 10_000)
      expect(Buffer.from(answer).toString()).toBe('v')
    })
  })

  it('reports every node, an unreachable one by its configured id', async () => {
    const node = await fakeNode(() => ({ reply: { id: 1, role: 'leader', term: 4, leaderId: 1, commitIndex: 9, lastApplied: 9, firstIndex: 1, lastIndex: 9 } }))
    const statuses = await client([node.address, '127.0.0.1:1'], [1, 2]).statuses(1000)
    expect(statuses[0]).toEqual({ id: 1, address: node.address, reachable: true, role: 'leader', term: 4, leaderId: 1, commitIndex: 9, lastApplied: 9, firstIndex: 1, lastIndex: 9, snapshotIndex: 0, snapshotTerm: 0, kvWritesApplied: 0, diskBytes: 0, reads: 0, clusterId: '', foundingId: '', configurationIndex: 0, members: [], diskFull: false, diskFullReason: '', logBytes: 0, maxLogBytes: 0 })
    expect(statuses[1]).toMatchObject({ id: 2, address: '127.0.0.1:1', reachable: false })
  })
})
