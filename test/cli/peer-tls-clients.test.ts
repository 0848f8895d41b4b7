// A cluster with peer TLS and no client_cert_auth, against real `raftlog node` processes: what a
// client that holds only the CA file may do. (Before, such a stranger could remove members, add
// voters that do not exist and move leadership, and the node printed no warning.)
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, freePort, startNode, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { makeCertificates, tlsSettings } from '../helpers/tls.js'

const peerTlsOnly = (): Record<string, string> => ({ peer_tls: tlsSettings({ clientCertAuth: false }).peer_tls as string })

interface MemberLine {
  id: number
  suffrage: string
}

async function members(config: string): Promise<MemberLine[]> {
  const list = await runCli(['member', 'list', '--json', '-c', config])
  return (JSON.parse(list.stdout) as MemberLine[]).map(({ id, suffrage }) => ({ id, suffrage }))
}

describe('membership and leadership calls on a cluster with peer TLS only (real processes)', () => {
  it('need a certificate from the cluster CA; a joining node presents its own', { timeout: 90_000 }, async () => {
    const dir = tempDir('raftlog-peer-tls-')
    const certs = makeCertificates(dir, [1, 2, 3, 4])
    const { path: config, ports } = await writeConfig(dir, 3, peerTlsOnly())
    const nodes = [1, 2, 3].map((id) => startNode(config, id))
    const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
    const follower = leader.id === 3 ? 2 : 3
    const before = await members(config)

    // The configuration gives only the CA: key-value calls are open (as the README says), admin calls are not.
    expect((await runCli(['kv', 'put', 'a', '1', '-c', config])).status).toBe(0)
    for (const args of [['member', 'remove', String(follower)], ['member', 'add', '9', '127.0.0.1:9'], ['transfer-leader']]) {
      const refused = await runCli([...args, '-c', config, '--timeout', '3000'])
      expect(refused.status).not.toBe(0)
      expect(refused.stderr).toMatch(/refused the client: Membership and leadership calls to a cluster with TLS need a client certificate signed by the cluster CA/)
    }
    expect(await members(config)).toEqual(before)
    expect((await statuses(config)).find((s) => s.role === 'leader')?.id).toBe(leader.id)

    // An operator's certificate from the cluster CA may.
    const endpoints = ports.map((port) => `127.0.0.1:${port}`).join(',')
    const operator = ['--endpoints', endpoints, '--cacert', join(certs, 'ca.crt'), '--cert', join(certs, 'client.crt'), '--key', join(certs, 'client.key')]
    const moved = await runCli(['transfer-leader', '--to', String(follower), ...operator])
    expect(moved.status).toBe(0)
    await waitFor('the new leader', async () => ((await statuses(config)).find((s) => s.role === 'leader')?.id === follower ? true : undefined))

    // A new node joins with its own certificate (peer_tls's, for node 4): no client certificate in the file.
    const port = await freePort()
    const joiner = startNode(config, 4, ['--listen', `127.0.0.1:${port}`, '--join', `127.0.0.1:${ports[0]}`])
    await waitFor('node 4 a learner', async () => ((await members(config)).some((m) => m.id === 4 && m.suffrage === 'learner') ? true : undefined), 30_000)

    // A client that trusts another CA is told the nodes' certificates are not the ones it trusts.
    const otherCa = makeCertificates(dir, [1], 'other-ca')
    const untrusted = await runCli(['kv', 'get', 'a', '--endpoints', endpoints, '--cacert', join(otherCa, 'ca.crt')])
    expect(untrusted.status).toBe(1)
    expect(untrusted.stderr).toMatch(/^Error: the node at 127\.0\.0\.1:\d+ presented a certificate this client does not trust \(self-signed certificate in certificate chain\): --cacert \(or peer_tls\.ca_file\) must be the CA that signed the nodes' certificates\n$/)

    for (const node of [...nodes, joiner]) node.child.kill('SIGTERM')
    await Promise.all([...nodes, joiner].map((node) => exited(node.child)))
  })

  it('warns once at start when the node serves an address other machines may reach', { timeout: 30_000 }, async () => {
    const dir = tempDir('raftlog-peer-tls-warning-')
    makeCertificates(dir, [1])
    const { path: config } = await writeConfig(dir, 1, peerTlsOnly())
    writeFileSync(config, readFileSync(config, 'utf8').replace('"127.0.0.1"', '"0.0.0.0"'))
    const node = startNode(config, 1)
    await waitFor('the node serving', async () => (node.output.some((line) => line.includes('"event":"started"')) ? true : undefined), 15_000)
    const warnings = node.output.filter((line) => line.includes('"event":"unauthenticated-clients"'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/clients need no certificate on 0\.0\.0\.0:\d+ \(client_cert_auth is off\): anyone who can connect can read and write every key/)
    expect(node.output.some((line) => line.includes('"event":"plaintext"'))).toBe(false)
    node.child.kill('SIGTERM')
    await exited(node.child)
  })
})
