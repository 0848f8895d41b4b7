// End to end with real `raftlog node` processes and certificates from `raftlog certs init`'s
// code: a cluster with mutual TLS elects, commits and fails over; a client without a certificate
// is refused; a node whose certificate comes from another CA cannot send the cluster anything.
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, startNode, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { makeCertificates, tlsSettings } from '../helpers/tls.js'

describe('a cluster with peer and client TLS (real processes)', () => {
  it('elects, commits and fails over; refuses a client without a certificate and a node with another CA\'s', { timeout: 40_000 }, async () => {
    const dir = tempDir('raftlog-tls-cluster-')
    const certs = makeCertificates(dir, [1, 2, 3])
    const { path: config, ports } = await writeConfig(dir, 3, tlsSettings({ clientCertAuth: true }))
    const nodes = new Map([1, 2, 3].map((id) => [id, startNode(config, id)]))
    // status and kv take TLS from the configuration: peer_tls's CA, client_tls's certificate.
    const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
    expect((await runCli(['kv', 'put', 'a', '1', '-c', config])).status).toBe(0)
    expect((await runCli(['kv', 'get', 'a', '-c', config])).stdout.trim()).toBe('1')

    // The same with the options, etcdctl's names.
    const endpoints = ports.map((port) => `127.0.0.1:${port}`).join(',')
    const withOptions = await runCli(['kv', 'get', 'a', '--endpoints', endpoints, '--cacert', join(certs, 'ca.crt'), '--cert', join(certs, 'client.crt'), '--key', join(certs, 'client.key')])
    expect(withOptions.stdout.trim()).toBe('1')
    // The CA but no client certificate: refused at once, saying why.
    const noCertificate = await runCli(['kv', 'put', 'b', '2', '--endpoints', endpoints, '--cacert', join(certs, 'ca.crt'), '--timeout', '3000'])
    expect(noCertificate.status).not.toBe(0)
    expect(noCertificate.stderr).toMatch(/requires a client certificate/)
    // Plaintext to a TLS port: no answer at all, and a hint that TLS may be why.
    const plaintext = await runCli(['kv', 'put', 'b', '2', '--endpoints', endpoints, '--timeout', '2000'])
    expect(plaintext.status).not.toBe(0)
    expect(plaintext.stderr).toMatch(/a node that serves TLS takes no plaintext client/)

    // Failover.
    nodes.get(leader.id)!.child.kill('SIGKILL')
    await exited(nodes.get(leader.id)!.child)
    const next = await waitFor('a new leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader' && s.id !== leader.id))
    expect((await runCli(['kv', 'put', 'c', '3', '-c', config])).status).toBe(0)

    // A node with a certificate from another CA, in the dead leader's place. It trusts the
    // cluster's CA too, so it reaches the members; they see no certificate they trust.
    const rogueCerts = makeCertificates(dir, [leader.id], 'other-ca')
    writeFileSync(join(dir, 'both-cas.crt'), readFileSync(join(certs, 'ca.crt'), 'utf8') + readFileSync(join(rogueCerts, 'ca.crt'), 'utf8'))
    const rogueConfig = join(dir, 'rogue.yaml')
    const rogueSettings = `  peer_tls: { ca_file: both-cas.crt, cert_file: "other-ca/node-{node_id}.crt", key_file: "other-ca/node-{node_id}.key" }\n`
    writeFileSync(rogueConfig, readFileSync(config, 'utf8').replace('"./logs"', '"./rogue-logs"').replace(/  peer_tls:.*\n  client_tls:.*\n/, rogueSettings))
    const before = (await statuses(config)).filter((s) => s.reachable).map(({ id, term, lastIndex, commitIndex, leaderId }) => ({ id, term, lastIndex, commitIndex, leaderId }))
    const rogue = startNode(rogueConfig, leader.id)
    const survivors = [...nodes.entries()].filter(([id]) => id !== leader.id).map(([, node]) => node)
    // With client_cert_auth its connections are refused at the TLS handshake: it campaigns
    // (election timeout 150-300 ms) for a few seconds without reaching anyone.
    await waitFor('the rogue node started', async () => (rogue.output.some((line) => line.includes('"event":"started"')) ? true : undefined), 10_000)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const after = (await statuses(config)).filter((s) => s.reachable).map(({ id, term, lastIndex, commitIndex, leaderId }) => ({ id, term, lastIndex, commitIndex, leaderId }))
    expect(after).toEqual(before)
    expect(after.every((s) => s.leaderId === next.id)).toBe(true)
    rogue.child.kill('SIGKILL')
    for (const node of survivors) node.child.kill('SIGTERM')
  })

  it('without TLS, warns once at start when the node serves an address other machines may reach', async () => {
    const dir = tempDir('raftlog-plaintext-')
    const { path: config } = await writeConfig(dir, 1)
    writeFileSync(config, readFileSync(config, 'utf8').replace('"127.0.0.1"', '"0.0.0.0"'))
    const node = startNode(config, 1)
    await waitFor('the node serving', async () => (node.output.some((line) => line.includes('"event":"started"')) ? true : undefined), 10_000)
    const warnings = node.output.filter((line) => line.includes('"event":"plaintext"'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/plaintext on 0\.0\.0\.0:\d+, which other machines may reach/)
    node.child.kill('SIGTERM')
    await exited(node.child)
  })
})
