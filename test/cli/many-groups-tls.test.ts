// End to end: a many-group cluster (cluster_settings.groups) whose file has peer_tls and client_tls
// with client_cert_auth, run by `raftlog cluster` as three real node processes with certificates
// from `raftlog certs init`'s code. kv put and get, group list and create, and status take TLS from
// the file as the one-group commands do; a client without a certificate, or in plaintext, is refused.
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, startCluster, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { makeCertificates, tlsSettings } from '../helpers/tls.js'

interface HostLine {
  reachable: boolean
  groups: number
  catalogLeader: boolean
}

describe('a many-group cluster with peer and client TLS (real processes)', () => {
  it('takes puts and gets, lists and creates groups over TLS; refuses a client without a certificate', { timeout: 40_000 }, async () => {
    const dir = tempDir('raftlog-many-groups-tls-')
    const certs = makeCertificates(dir, [1, 2, 3])
    const { path: config } = await writeConfig(dir, 3, { ...tlsSettings({ clientCertAuth: true }), groups: 4 })
    const cluster = startCluster(config, ['--dashboard-port', '0'])
    try {
      await waitFor('the catalog led and 4 groups on every node', async () => {
        const status = await runCli(['status', '--config', config, '--json', '--timeout', '1000'])
        const all = status.status === 0 ? (JSON.parse(status.stdout) as HostLine[]) : []
        return all.length === 3 && all.every((s) => s.reachable && s.groups === 4) && all.some((s) => s.catalogLeader) ? true : undefined
      }, 25_000)
      for (const key of ['a', 'b', 'c']) {
        const put = await runCli(['kv', 'put', key, `value-${key}`, '--config', config])
        expect(put, put.stderr).toMatchObject({ status: 0, stdout: 'OK\n' })
      }
      for (const key of ['a', 'b', 'c']) expect((await runCli(['kv', 'get', key, '--config', config])).stdout).toBe(`value-${key}\n`)
      const list = await runCli(['group', 'list', '--config', config, '--json'])
      expect(list, list.stderr).toMatchObject({ status: 0 })
      expect((JSON.parse(list.stdout) as { group: number }[]).map((g) => g.group)).toEqual([1, 2, 3, 4])
      // The options, etcdctl's names, in place of the file's client_tls.
      const withOptions = await runCli(['group', 'create', '--replication', '2', '--config', config, '--json', '--cacert', join(certs, 'ca.crt'), '--cert', join(certs, 'client.crt'), '--key', join(certs, 'client.key')])
      expect(withOptions, withOptions.stderr).toMatchObject({ status: 0 })
      expect(JSON.parse(withOptions.stdout)).toMatchObject({ group: 5 })

      // The CA but no client certificate: refused at the handshake, at once, saying why.
      const noCertificate = await runCli(['kv', 'put', 'd', '4', '--config', config, '--cacert', join(certs, 'ca.crt'), '--timeout', '1500'])
      expect(noCertificate.status).not.toBe(0)
      expect(noCertificate.stderr).toMatch(/refused the client: This cluster requires a client certificate/)
      // A file without the TLS settings: plaintext to the TLS ports.
      const plaintextConfig = join(dir, 'plaintext.yaml')
      writeFileSync(plaintextConfig, readFileSync(config, 'utf8').replace(/  peer_tls:.*\n  client_tls:.*\n/, ''))
      expect(readFileSync(plaintextConfig, 'utf8')).not.toMatch(/tls/)
      for (const args of [['kv', 'put', 'd', '4'], ['group', 'list']]) {
        const plaintext = await runCli([...args, '--config', plaintextConfig, '--timeout', '1500'])
        expect(plaintext.status).not.toBe(0)
      }
      expect((await runCli(['kv', 'get', 'd', '--config', config])).stdout).not.toBe('4\n')
    } finally {
      cluster.child.kill('SIGINT')
    }
    expect(await exited(cluster.child)).toBe(0)
    // raftlog cluster's own watcher reached the nodes with the file's client certificate.
    expect(cluster.output.text).toMatch(/leaders: node 1 leads/)
  })
})
