// Nobody writes in someone else's client session: a one-node key-value cluster in this process,
// served over real gRPC. An attacker who guesses a victim's client id (ids are log indexes) and
// sends commands numbered as the victim's next ones must be refused; otherwise the victim's next
// puts are answered from the attacker's cached results and never applied.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { loadClusterConfig } from '../../src/net/config/cluster-config.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import type { NodeServer } from '../../src/net/server/node-server.js'
import { startKvNodeServer } from '../../src/kv/kv-node-server.js'
import { protocol } from '../../src/net/protocol.js'
import { ClientSession } from '../../src/session/client-session.js'
import { encodeCommand, sessionSecretBytes } from '../../src/session/session-envelope.js'
import { randomBytes } from 'node:crypto'
import { clientChannelCredentials, type ClientTls } from '../../src/net/tls/client-tls.js'
import { writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { clientTlsFrom, makeCertificates, tlsSettings } from '../helpers/tls.js'
import { RaftLogError } from '../../src/errors.js'

const servers: NodeServer[] = []
const clients: { close(): void }[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await Promise.all(servers.splice(0).map((server) => server.stop()))
})

/** A one-node cluster in `dir`, serving once it leads; its client address. */
async function oneNode(dir: string, settings: Record<string, string> = {}): Promise<string> {
  const { path } = await writeConfig(dir, 1, settings)
  const server = await startKvNodeServer(loadClusterConfig(path), 1, { warn: () => {} })
  servers.push(server)
  while (server.node.status().role !== 'leader') await new Promise((resolve) => setTimeout(resolve, 20))
  return server.config.address
}

/** Proposes raw entries over gRPC, as any program can; errors come back as RaftLogError with the node's code. */
function rawProposer(address: string, tls?: ClientTls): (entry: Uint8Array) => Promise<Uint8Array> {
  const stub = new protocol.RaftClient(address, clientChannelCredentials(tls)) as unknown as grpc.Client & Record<string, (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply: { result: Buffer }) => void) => void>
  clients.push(stub)
  return (entry) =>
    new Promise((resolve, reject) =>
      stub.Propose!.call(stub, { command: Buffer.from(entry) }, { deadline: Date.now() + 5000 }, (error, reply) => {
        if (error === null) return resolve(new Uint8Array(reply.result))
        const match = /^([A-Z_]+): ([\s\S]*)$/.exec(error.details)
        reject(match === null ? error : new RaftLogError(match[1] as string, match[2] as string))
      }),
    )
}

const put = (key: string, value: string): Uint8Array => encodeKvCommand({ op: 'put', key, value })
const valueOf = async (client: ClusterClient, key: string): Promise<string | undefined> => decodeKvResult(await client.read(key, 5000)).value?.toString()

describe('client sessions belong to their client', () => {
  it("an attacker who guesses a victim's client id and next sequence numbers is refused, and the victim's next puts are applied", { timeout: 30_000 }, async () => {
    const address = await oneNode(tempDir('raftlog-session-attack-'))
    const victim = new ClusterClient([address])
    clients.push(victim)
    expect(decodeKvResult(await victim.propose(put('balance', '100'), 5000))).toEqual({ ok: true })

    // The attacker opens a session of its own: its id is a log index, so the victim's is below it.
    const propose = rawProposer(address)
    const own = await ClientSession.open(propose)
    const refusals: string[] = []
    for (let clientId = 1; clientId < own.clientId; clientId++) {
      for (const sequence of [2, 3]) {
        // Any secret but the victim's: 128 random bits cannot be guessed.
        await propose(encodeCommand(clientId, sequence, 1, Date.now(), randomBytes(sessionSecretBytes), put('balance', '0'))).then(
          () => refusals.push(`client ${clientId} #${sequence}: accepted`),
          (error: RaftLogError) => refusals.push(`client ${clientId} #${sequence}: ${error.code}`),
        )
      }
    }
    expect(refusals.filter((outcome) => outcome.endsWith('accepted'))).toEqual([])
    expect(refusals.some((outcome) => outcome.endsWith('ERR_SESSION_FORBIDDEN'))).toBe(true)

    // The victim's next two puts are applied, not answered from the attacker's commands.
    expect(decodeKvResult(await victim.propose(put('balance', '150'), 5000))).toEqual({ ok: true })
    expect(await valueOf(victim, 'balance')).toBe('150')
    expect(decodeKvResult(await victim.propose(put('balance', '175'), 5000))).toEqual({ ok: true })
    expect(await valueOf(victim, 'balance')).toBe('175')
  })

  it("under client TLS a session is bound to its certificate: another certificate with the victim's own entries is refused", { timeout: 30_000 }, async () => {
    const dir = tempDir('raftlog-session-tls-')
    const certs = makeCertificates(dir, [1])
    const address = await oneNode(dir, tlsSettings({ clientCertAuth: true }))
    // The victim holds the client certificate; the thief another one the client CA signed.
    const victim = rawProposer(address, clientTlsFrom(certs, 'client'))
    const thief = rawProposer(address, clientTlsFrom(certs, 'node-1'))
    const session = await ClientSession.open(victim)
    const first = session.command(put('owner', 'victim'))
    expect(decodeKvResult(await victim(first.entry))).toEqual({ ok: true })

    // Everything the victim sent, secret included, leaked: still refused from another certificate.
    const next = session.command(put('owner', 'victim, second'))
    await expect(thief(next.entry)).rejects.toMatchObject({ code: 'ERR_SESSION_FORBIDDEN' })
    await expect(thief(first.entry)).rejects.toMatchObject({ code: 'ERR_SESSION_FORBIDDEN' })
    const reader = new ClusterClient([address], [1], { tls: clientTlsFrom(certs, 'client') })
    clients.push(reader)
    expect(await valueOf(reader, 'owner')).toBe('victim')
    // The victim's own entry is applied when the victim sends it: the thief's copy took nothing.
    expect(decodeKvResult(await victim(next.entry))).toEqual({ ok: true })
    expect(await valueOf(reader, 'owner')).toBe('victim, second')
  })

  it("refuses session entries without a secret (an older client's format) before they enter the log", { timeout: 30_000 }, async () => {
    const address = await oneNode(tempDir('raftlog-session-legacy-'))
    const propose = rawProposer(address)
    const legacyOpen = Buffer.alloc(9)
    legacyOpen[0] = 0xc1
    const before = servers[0]!.node.status().lastIndex
    await expect(propose(legacyOpen)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/without a secret/) })
    expect(servers[0]!.node.status().lastIndex).toBe(before)
  })
})
