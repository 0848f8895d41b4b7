// cluster_settings.peer_tls and client_tls: checked at load (shape, CA files) and at node start
// (the node's own certificate and key), each problem one line naming the file and the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadClusterConfig } from '../../../src/net/config/cluster-config.js'
import { readNodeTls } from '../../../src/net/tls/tls-files.js'
import { plaintextWarning } from '../../../src/net/server/plaintext-warning.js'
import { makeCertificates } from '../../helpers/tls.js'

const nodes = `nodes:
  - { node_id: 1, ip_address: "127.0.0.1", port: 18001 }
  - { node_id: 2, ip_address: "127.0.0.1", port: 18002 }
`
const peer = 'peer_tls: { ca_file: certs/ca.crt, cert_file: "certs/node-{node_id}.crt", key_file: "certs/node-{node_id}.key" }'

let root: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'raftlog-tls-settings-'))
  makeCertificates(root, [1, 2])
  makeCertificates(root, [1, 2], 'other-ca')
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** A configuration in `root` (beside certs/) with these cluster_settings lines. */
function config(...settings: string[]): string {
  const path = join(root, `cluster-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(path, `${nodes}cluster_settings:\n${settings.map((line) => `  ${line}\n`).join('')}`)
  return path
}

function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run()
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message }
  }
  throw new Error('expected a refusal')
}

describe('TLS settings of a cluster configuration', () => {
  it('loads peer_tls and client_tls with paths relative to the configuration file', () => {
    const cluster = loadClusterConfig(config(peer, 'client_tls: { ca_file: certs/ca.crt, cert_file: certs/client.crt, key_file: certs/client.key, client_cert_auth: true }'))
    expect(cluster.peerTls).toEqual({ caFile: join(root, 'certs/ca.crt'), certFile: join(root, 'certs/node-{node_id}.crt'), keyFile: join(root, 'certs/node-{node_id}.key') })
    expect(cluster.clientTls).toEqual({ clientCertAuth: true, caFile: join(root, 'certs/ca.crt'), certFile: join(root, 'certs/client.crt'), keyFile: join(root, 'certs/client.key') })
    const tls = readNodeTls(cluster, 2)
    expect(tls?.nodeId).toBe(2)
    expect(tls?.clientAuth?.authorities).toHaveLength(1)
  })

  it('without TLS settings, changes nothing', () => {
    const cluster = loadClusterConfig(config('heartbeat_interval: 50'))
    expect(cluster.peerTls).toBeUndefined()
    expect(cluster.clientTls).toBeUndefined()
    expect(readNodeTls(cluster, 1)).toBeUndefined()
  })

  it('refuses unknown keys, missing fields and client_tls without peer_tls, naming the field', () => {
    expect(refusal(() => loadClusterConfig(config('peer_tls: { ca_file: certs/ca.crt, cert_file: a, key_file: b, verify: no }'))).message).toMatch(/cluster_settings\.peer_tls\.verify is not a known setting \(known: ca_file, cert_file, key_file\)/)
    expect(refusal(() => loadClusterConfig(config('peer_tls: { ca_file: certs/ca.crt, cert_file: a }'))).message).toMatch(/cluster_settings\.peer_tls\.key_file is missing/)
    expect(refusal(() => loadClusterConfig(config('client_tls: { client_cert_auth: false }'))).message).toMatch(/cluster_settings\.client_tls needs peer_tls too/)
    expect(refusal(() => loadClusterConfig(config(peer, 'client_tls: { client_cert_auth: "yes" }'))).message).toMatch(/client_cert_auth must be true or false/)
    expect(refusal(() => loadClusterConfig(config(peer, 'client_tls: { client_cert_auth: true }'))).message).toMatch(/cluster_settings\.client_tls\.ca_file is missing/)
    expect(refusal(() => loadClusterConfig(config(peer, 'client_tls: { cert_file: certs/client.crt }'))).message).toMatch(/client_tls\.key_file is missing: cert_file and key_file go together/)
  })

  it('names a missing CA file in one line when the configuration is loaded', () => {
    const path = config('peer_tls: { ca_file: certs/nope.crt, cert_file: a, key_file: b }')
    const { code, message } = refusal(() => loadClusterConfig(path))
    expect(code).toBe('ERR_CONFIG')
    expect(message).toBe(`Invalid configuration file ${path}: cluster_settings.peer_tls.ca_file names ${join(root, 'certs/nope.crt')}, which does not exist`)
  })

  it("names the node's missing key, a certificate of another node, another CA's certificate or a key that does not match, when the node starts", () => {
    const missing = loadClusterConfig(config('peer_tls: { ca_file: certs/ca.crt, cert_file: "certs/node-{node_id}.crt", key_file: "certs/missing-{node_id}.key" }'))
    expect(refusal(() => readNodeTls(missing, 1)).message).toMatch(new RegExp(`cluster_settings\\.peer_tls\\.key_file names ${join(root, 'certs/missing-1.key')}, which does not exist$`))
    const swapped = loadClusterConfig(config('peer_tls: { ca_file: certs/ca.crt, cert_file: certs/node-2.crt, key_file: certs/node-2.key }'))
    expect(refusal(() => readNodeTls(swapped, 1)).message).toMatch(/cert_file names .*node-2\.crt, whose certificate names node 2, not node 1 \(raftlog:\/\/node\/1\)/)
    const foreign = loadClusterConfig(config('peer_tls: { ca_file: certs/ca.crt, cert_file: "other-ca/node-{node_id}.crt", key_file: "other-ca/node-{node_id}.key" }'))
    expect(refusal(() => readNodeTls(foreign, 1)).message).toMatch(/other-ca\/node-1\.crt, which is not signed by the CA of cluster_settings\.peer_tls\.ca_file/)
    const mismatched = loadClusterConfig(config('peer_tls: { ca_file: certs/ca.crt, cert_file: "certs/node-{node_id}.crt", key_file: certs/node-2.key }'))
    expect(refusal(() => readNodeTls(mismatched, 1)).message).toMatch(/peer_tls\.key_file names .*node-2\.key, which does not match/)
  })

  it('names a CA file that holds no certificate', () => {
    const dir = join(root, 'empty')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'ca.crt'), 'not a certificate\n')
    copyFileSync(join(root, 'certs/node-1.crt'), join(dir, 'node-1.crt'))
    copyFileSync(join(root, 'certs/node-1.key'), join(dir, 'node-1.key'))
    const cluster = loadClusterConfig(config('peer_tls: { ca_file: empty/ca.crt, cert_file: "empty/node-{node_id}.crt", key_file: "empty/node-{node_id}.key" }'))
    expect(refusal(() => readNodeTls(cluster, 1)).message).toMatch(/peer_tls\.ca_file names .*empty\/ca\.crt, which holds no PEM certificate/)
  })

  it('warns about plaintext only on an address other machines may reach', () => {
    const plain = loadClusterConfig(config('heartbeat_interval: 50'))
    const node = plain.nodes[0]!
    expect(plaintextWarning(plain, node)).toBeUndefined()
    expect(plaintextWarning(plain, { ...node, ipAddress: '10.0.0.5', address: '10.0.0.5:18001' })).toMatch(/plaintext on 10\.0\.0\.5:18001/)
    expect(plaintextWarning(plain, { ...node, ipAddress: '0.0.0.0', address: '0.0.0.0:18001' })).toMatch(/plaintext/)
    expect(plaintextWarning(plain, { ...node, ipAddress: 'localhost', address: 'localhost:18001' })).toBeUndefined()
    const secure = loadClusterConfig(config(peer))
    expect(plaintextWarning(secure, { ...node, ipAddress: '10.0.0.5', address: '10.0.0.5:18001' })).toBeUndefined()
  })
})
