// A stranger with a plain gRPC client of the Raft service sends a running 3-node cluster an
// AppendEntries and a RequestVote under another node's id: nothing may change. (Against the code
// before message-check.ts, the first test failed: the follower went from term 2 to term 13 and
// appended and committed the forged entry.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import type { NodeServer } from '../../../src/net/server/node-server.js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand } from '../../../src/kv/kv-state-machine.js'
import { clientTlsFrom } from '../../helpers/tls.js'
import { pause, sendRaw, settled, startServers as startCluster, stopServers as stopCluster, type Servers as Cluster } from '../../helpers/node-servers.js'

/** What the core's state shows: term, log, commit, role, leader (a vote changes the term or the role). */
function stateOf(server: NodeServer): Record<string, unknown> {
  const { term, lastIndex, commitIndex, role, leaderId } = server.node.status()
  return { term, lastIndex, commitIndex, role, leaderId }
}

/**
 * A RequestVote and an AppendEntries from `from` to `follower` that would depose the leader and
 * overwrite the log, in batches with the cluster's id: it is no secret (a hash of the first
 * configuration), so a forger may know it; `clusterId: ''` leaves it out.
 */
function forgeries(from: number, follower: NodeServer, termJump = 5, clusterId = follower.node.status().foundingId): Record<string, unknown>[] {
  const { term, lastIndex } = follower.node.status()
  const to = follower.node.id
  return [
    { clusterId, messages: [{ requestVote: { from, to, term: term + termJump, preVote: false, lastLogIndex: lastIndex + 100, lastLogTerm: term + termJump, transfer: true } }] },
    {
      clusterId,
      messages: [
        {
          appendEntries: {
            from,
            to,
            term: term + 2 * termJump,
            prevLogIndex: lastIndex,
            prevLogTerm: term,
            leaderCommit: lastIndex + 1,
            seq: 1,
            entries: [{ index: lastIndex + 1, term: term + 2 * termJump, type: 0, data: Buffer.from('forged') }],
          },
        },
      ],
    },
  ]
}

describe('forged Raft messages to a plaintext cluster', () => {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster(false)
  })
  afterAll(() => stopCluster(cluster))

  it('are dropped when a field is out of range: a term past 2^53 changes nothing', async () => {
    const { leader, follower } = await settled(cluster!)
    const before = stateOf(follower)
    // uint64 max: decodes to a JavaScript number that is not a safe integer.
    await sendRaw(follower.config.address, forgeries(leader.node.id, follower, 2 ** 62))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    expect(cluster!.warnings.get(follower.node.id)!.join('\n')).toMatch(/dropped a Raft message \(out-of-range\)/)
  })

  it('are dropped when a term has no room left to grow: 2^52 and up, safe integers still, change nothing', async () => {
    const { leader, follower } = await settled(cluster!)
    const before = stateOf(follower)
    const term = follower.node.status().term
    // A RequestVote at exactly 2^52 and an AppendEntries at 2^53 - term: persisted, either would
    // leave every later election asking for a term nobody takes.
    await sendRaw(follower.config.address, forgeries(leader.node.id, follower, 2 ** 52 - term))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    expect(follower.node.status().term).toBeLessThan(2 ** 52)
  })

  it('are dropped when one stream speaks for two nodes, or for a node that is not a member', async () => {
    const { leader, follower } = await settled(cluster!)
    const other = cluster!.servers.find((server) => server !== leader && server !== follower)!
    const before = stateOf(follower)
    // The stream's first message names the other follower (harmless: an old term); the forgeries then claim the leader.
    const opener = { clusterId: follower.node.status().foundingId, messages: [{ requestVoteResponse: { from: other.node.id, to: follower.node.id, term: 1, preVote: false, voteGranted: false } }] }
    await sendRaw(follower.config.address, [opener, ...forgeries(leader.node.id, follower)])
    await sendRaw(follower.config.address, forgeries(7, follower))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    const warnings = cluster!.warnings.get(follower.node.id)!.join('\n')
    expect(warnings).toMatch(/\(sender-mismatch\)/)
    expect(warnings).toMatch(/\(not-member\)/)
  })

  it('are dropped whole when they carry no cluster id, or another cluster\'s', async () => {
    const { leader, follower } = await settled(cluster!)
    const before = stateOf(follower)
    const rejected = (): number => follower.transport.counts.rejected['other-cluster']
    const already = rejected()
    await sendRaw(follower.config.address, forgeries(leader.node.id, follower, 5, ''))
    await sendRaw(follower.config.address, forgeries(leader.node.id, follower, 5, 'f'.repeat(32)))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    expect(rejected() - already).toBe(4)
  })
})

describe('forged Raft messages to a cluster with peer TLS', () => {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster(true)
  })
  afterAll(() => stopCluster(cluster))

  it("are dropped: a RequestVote and an AppendEntries under the leader's id change no term, vote or log, whoever sends them", async () => {
    const { leader, follower } = await settled(cluster!)
    const before = stateOf(follower)
    const certs = cluster!.certs!
    const other = cluster!.servers.find((server) => server !== leader && server !== follower)!
    // No certificate, the client's certificate (it names no node), and another member's own certificate.
    const noCertificate = await sendRaw(follower.config.address, forgeries(leader.node.id, follower), clientTlsFrom(certs))
    const clientCertificate = await sendRaw(follower.config.address, forgeries(leader.node.id, follower), clientTlsFrom(certs, 'client'))
    const otherNode = await sendRaw(follower.config.address, forgeries(leader.node.id, follower), clientTlsFrom(certs, `node-${other.node.id}`))
    // Plaintext to a TLS port: never even a stream.
    const plaintext = await sendRaw(follower.config.address, forgeries(leader.node.id, follower))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    // client_cert_auth: a caller without a certificate is refused at the TLS handshake, before any call.
    expect(noCertificate?.code).toBe(grpc.status.UNAVAILABLE)
    expect(clientCertificate?.code).toBe(grpc.status.UNAUTHENTICATED)
    expect(otherNode).toBeNull()
    expect(plaintext).not.toBeNull()
    const warnings = cluster!.warnings.get(follower.node.id)!.join('\n')
    expect(warnings).toMatch(/\(unauthenticated\)/)
    expect(warnings).toMatch(new RegExp(`\\(sender-mismatch\\): RequestVote from node ${leader.node.id} .* stream of node ${other.node.id}`))
  })

  it("a removed member's certificate opens nothing, at once: its stream is ended saying it was removed", async () => {
    const { leader, follower } = await settled(cluster!)
    const certs = cluster!.certs!
    const gone = cluster!.servers.find((server) => server !== leader && server !== follower)!
    await gone.stop()
    cluster!.servers = cluster!.servers.filter((server) => server !== gone)
    await leader.node.changeMembership({ remove: [gone.node.id] })
    await settled(cluster!)
    const before = stateOf(follower)
    // The decommissioned machine still holds its certificate, and speaks for itself.
    const ended = await sendRaw(follower.config.address, forgeries(gone.node.id, follower), clientTlsFrom(certs, `node-${gone.node.id}`))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    expect(ended?.code).toBe(grpc.status.PERMISSION_DENIED)
    expect(ended?.details).toContain(`node ${gone.node.id} was removed from this cluster`)
  })

  it('turn away a client without a certificate at once, saying why', async () => {
    const client = new ClusterClient(cluster!.config.nodes.map((node) => node.address), [], { tls: clientTlsFrom(cluster!.certs!) })
    const started = Date.now()
    try {
      await expect(client.propose(encodeKvCommand({ op: 'put', key: 'k', value: 'v' }), 10_000)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED', message: expect.stringMatching(/requires a client certificate/) })
    } finally {
      client.close()
    }
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('still elects, commits and replicates between the members', async () => {
    const { leader } = await settled(cluster!)
    // Through a client with the configuration's client certificate (client_tls).
    const client = ClusterClient.forCluster(cluster!.config)
    try {
      expect(decodeKvResult(await client.propose(encodeKvCommand({ op: 'put', key: 'k', value: 'v' }), 5000))).toEqual({ ok: true })
    } finally {
      client.close()
    }
    const { commitIndex } = leader.node.status()
    for (const server of cluster!.servers) {
      const deadline = Date.now() + 5000
      while (server.node.status().commitIndex < commitIndex && Date.now() < deadline) await pause(20)
      expect(server.node.status().commitIndex).toBeGreaterThanOrEqual(commitIndex)
    }
  })
})

describe('cluster ids a peer claims', () => {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster(false)
  })
  afterAll(() => stopCluster(cluster))

  it('are checked at the gate and never written into a log line: an 8 MiB id and one with a newline', async () => {
    const { leader, follower } = await settled(cluster!)
    const rejected = (): number => follower.transport.counts.rejected['other-cluster']
    const already = rejected()
    const before = stateOf(follower)
    // The first is logged (one line per reason every 10 s): before the gate checked ids, that
    // line was 8 MiB long, and another came every 10 s.
    await sendRaw(follower.config.address, forgeries(leader.node.id, follower, 5, 'f'.repeat(8 * 1024 * 1024)))
    await sendRaw(follower.config.address, forgeries(leader.node.id, follower, 5, `${'f'.repeat(31)}\n2026-12-01T00:00:00.000Z [node ${follower.node.id}] election won: leader for term 99`))
    await pause(300)
    expect(stateOf(follower)).toEqual(before)
    expect(rejected() - already).toBe(4)
    const lines = cluster!.warnings.get(follower.node.id)!.filter((line) => line.includes('(other-cluster)'))
    expect(lines).toEqual([expect.stringMatching(/^dropped a Raft message \(other-cluster\): a batch of a cluster id that is not 32 hex digits \(8388608 characters\) from [\d.:]+$/)])
  })
})
