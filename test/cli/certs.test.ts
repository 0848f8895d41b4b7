// raftlog certs init: a test CA and certificates that a node accepts as they are.
import { describe, expect, it } from 'vitest'
import { X509Certificate } from 'node:crypto'
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'
import { writeConfig } from '../helpers/processes.js'
import { nodeIdOf } from '../../src/net/tls/node-identity.js'

describe('raftlog certs init', () => {
  it('writes a CA, a certificate per node naming it, and a client certificate; keys for the owner only', async () => {
    const dir = tempDir('raftlog-certs-')
    const { path: config } = await writeConfig(dir, 2)
    const result = await runCli(['certs', 'init', join(dir, 'certs'), '--nodes', '1,2', '-c', config])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/for testing only/)
    expect(readdirSync(join(dir, 'certs')).sort()).toEqual(['ca.crt', 'ca.key', 'client.crt', 'client.key', 'node-1.crt', 'node-1.key', 'node-2.crt', 'node-2.key'])
    const ca = new X509Certificate(readFileSync(join(dir, 'certs', 'ca.crt')))
    const node2 = new X509Certificate(readFileSync(join(dir, 'certs', 'node-2.crt')))
    const client = new X509Certificate(readFileSync(join(dir, 'certs', 'client.crt')))
    expect(ca.ca).toBe(true)
    expect(node2.verify(ca.publicKey) && client.verify(ca.publicKey)).toBe(true)
    expect(nodeIdOf(node2)).toBe(2)
    expect(nodeIdOf(client)).toBeUndefined()
    expect(node2.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(node2.checkHost('localhost')).toBe('localhost')
    expect(statSync(join(dir, 'certs', 'node-2.key')).mode & 0o777).toBe(0o600)
    // Never over files that exist, unless asked.
    const again = await runCli(['certs', 'init', join(dir, 'certs'), '--nodes', '1'])
    expect(again.status).not.toBe(0)
    expect(again.stderr).toMatch(/already holds ca\.crt, ca\.key, client\.crt, client\.key, node-1\.crt, node-1\.key: choose another directory, or --force/)
    expect((await runCli(['certs', 'init', join(dir, 'certs'), '--nodes', '1', '--force'])).status).toBe(0)
  })

  it('takes a configuration that already names the certificates it is about to write', async () => {
    const dir = tempDir('raftlog-certs-')
    const { path: config } = await writeConfig(dir, 2, { peer_tls: '{ ca_file: certs/ca.crt, cert_file: "certs/node-{node_id}.crt", key_file: "certs/node-{node_id}.key" }' })
    const result = await runCli(['certs', 'init', join(dir, 'certs'), '-c', config])
    expect(result.status, result.stderr).toBe(0)
    expect(readdirSync(join(dir, 'certs'))).toContain('node-2.crt')
  })

  it("takes the nodes of cluster_config.yaml here when neither --nodes nor --config is given, as every command reads it by default", async () => {
    const dir = tempDir('raftlog-certs-')
    const { path } = await writeConfig(dir, 2)
    renameSync(path, join(dir, 'cluster_config.yaml'))
    const result = await runCli(['certs', 'init', 'certs'], { cwd: dir })
    expect(result.status, result.stderr).toBe(0)
    expect(readdirSync(join(dir, 'certs')).filter((file) => file.startsWith('node-')).sort()).toEqual(['node-1.crt', 'node-1.key', 'node-2.crt', 'node-2.key'])
    const elsewhere = await runCli(['certs', 'init', 'certs'], { cwd: tempDir('raftlog-certs-') })
    expect(elsewhere.status).toBe(2)
    expect(elsewhere.stderr).toMatch(/--nodes is required \(or --config, to take its nodes\): there is no cluster_config\.yaml here/)
  })

  it('explains itself and refuses bad node lists', async () => {
    const help = await runCli(['certs', '--help'])
    expect(help.stdout).toMatch(/Usage: raftlog certs init DIR \[--nodes 1,2,3\]/)
    expect(help.stdout).toMatch(/For testing/)
    const bad = await runCli(['certs', 'init', tempDir(), '--nodes', '1,x'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--nodes must be node ids/)
    expect((await runCli(['certs', 'init'])).stderr).toMatch(/certs init needs a directory/)
  })
})
