// A program that only talks to a cluster runs where the native addon was never built: a copy of
// the package without build/ loads raftlog and raftlog/net, puts and gets through a real cluster,
// saves and checks a backup, and only opening a log says ERR_NATIVE_MISSING.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'

const root = resolve(import.meta.dirname, '..', '..', '..')

/** The package as an application would install it, less the compiled addon. */
function packageWithoutAddon(): string {
  const copy = join(mkdtempSync(join(tmpdir(), 'raftlog-no-addon-')), 'raftlog')
  for (const entry of ['package.json', 'binding.gyp', 'dist', 'proto']) cpSync(join(root, entry), join(copy, entry), { recursive: true })
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'))
  expect(existsSync(join(copy, 'build'))).toBe(false)
  return copy
}

/** Runs an ES module script in another process (this one serves the cluster meanwhile) and returns its stdout. */
async function runScript(script: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
  return stdout
}

describe('without the native addon', () => {
  let cluster: Servers | undefined
  let copy: string

  beforeAll(async () => {
    copy = packageWithoutAddon()
    cluster = await startServers(false)
  })
  afterAll(async () => {
    await stopServers(cluster)
    rmSync(join(copy, '..'), { recursive: true, force: true })
  })

  it('a client puts and gets through a real cluster', async () => {
    await settled(cluster!)
    const endpoints = cluster!.config.nodes.map((node) => `${node.ipAddress}:${node.port}`)
    const output = await runScript(`
      import { ClusterClient, encodeKvCommand, decodeKvResult, encodeKvQuery } from ${JSON.stringify(join(copy, 'dist', 'net-entry.js'))}
      const client = new ClusterClient(${JSON.stringify(endpoints)}, [], { failFast: true })
      const put = decodeKvResult(await client.propose(encodeKvCommand({ op: 'put', key: new TextEncoder().encode('k'), value: new TextEncoder().encode('v') }), 10000))
      const got = decodeKvResult(await client.read(encodeKvQuery({ op: 'get', key: new TextEncoder().encode('k') }), 10000))
      console.log(JSON.stringify({ put: put.ok, value: new TextDecoder().decode(got.value) }))
      client.close()
    `)
    expect(JSON.parse(output)).toEqual({ put: true, value: 'v' })
  })

  it("KvClient's etcd calls (txn, range, compact) work through a real cluster", async () => {
    await settled(cluster!)
    const endpoints = cluster!.config.nodes.map((node) => `${node.ipAddress}:${node.port}`)
    const output = await runScript(`
      import { KvClient } from ${JSON.stringify(join(copy, 'dist', 'net-entry.js'))}
      const client = new KvClient(${JSON.stringify(endpoints)}, [], { failFast: true })
      const put = await client.txn({ compare: [{ key: 'etcd/k', target: 'version', result: 'equal', operand: 0 }], success: [{ put: { key: 'etcd/k', value: 'v' } }] }, 10000)
      const range = await client.range({ key: 'etcd/', prefix: true }, 10000)
      const compacted = await client.compact(put.revision, 10000)
      console.log(JSON.stringify({ succeeded: put.succeeded, keys: range.kvs.map((kv) => kv.key.toString()), compacted: compacted.compacted === put.revision }))
      client.close()
    `)
    expect(JSON.parse(output)).toEqual({ succeeded: true, keys: ['etcd/k'], compacted: true })
  })

  it('a client saves a backup of the cluster, and the CLI checks it', async () => {
    await settled(cluster!)
    const endpoints = cluster!.config.nodes.map((node) => `${node.ipAddress}:${node.port}`)
    const file = join(copy, '..', 'backup.rlb')
    const output = await runScript(`
      import { ClusterClient } from ${JSON.stringify(join(copy, 'dist', 'net-entry.js'))}
      const client = new ClusterClient(${JSON.stringify(endpoints)}, [], { failFast: true })
      const saved = await client.saveSnapshot(${JSON.stringify(file)})
      console.log(JSON.stringify({ index: saved.index, checksum: saved.checksum }))
      client.close()
    `)
    const saved = JSON.parse(output) as { index: number; checksum: string }
    expect(saved.index).toBeGreaterThan(0)
    const { stdout } = await promisify(execFile)(process.execPath, [join(copy, 'dist', 'cli', 'main.js'), 'snapshot', 'status', file, '--json'], { timeout: 30_000 })
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, index: saved.index, checksum: saved.checksum })
  })

  it('the CLI talks to the cluster: raftlog kv and status', async () => {
    await settled(cluster!)
    const endpoints = cluster!.config.nodes.map((node) => `${node.ipAddress}:${node.port}`).join(',')
    const cli = join(copy, 'dist', 'cli', 'main.js')
    const run = promisify(execFile)
    await run(process.execPath, [cli, 'kv', 'put', 'from-cli', 'yes', '--endpoints', endpoints], { timeout: 30_000 })
    expect((await run(process.execPath, [cli, 'kv', 'get', 'from-cli', '--endpoints', endpoints], { timeout: 30_000 })).stdout).toBe('yes\n')
    const status = JSON.parse((await run(process.execPath, [cli, 'status', '--endpoints', endpoints, '--json'], { timeout: 30_000 })).stdout)
    expect(JSON.stringify(status)).toMatch(/"role":"leader"/)
  })

  it('raftlog itself loads; opening a log says what to build', async () => {
    const output = await runScript(`
      import { RaftLog } from ${JSON.stringify(join(copy, 'dist', 'index.js'))}
      try {
        RaftLog.open(${JSON.stringify(join(copy, 'log'))})
        console.log('opened')
      } catch (error) {
        console.log(error.code + ': ' + error.message)
      }
    `)
    expect(output).toMatch(/^ERR_NATIVE_MISSING: The raftlog native addon could not be loaded from .*raftlog_native\.node: in raftlog.s own folder run `npm install`.*in a project that depends on raftlog, `npm rebuild raftlog`/)
  })
})
