// Backup and restore end to end (issue 22): three `raftlog node` processes under a write load,
// `raftlog snapshot save` while the writes go on, `snapshot status` on the file and on damaged
// copies, and `snapshot restore` into a fresh three-node cluster that must hold every write
// acknowledged before the save started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, freePort, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { tmpdir } from 'node:os'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import { checkBackupFile } from '../../src/storage/backup-file.js'
import { loadClusterConfig } from '../../src/net/config/cluster-config.js'
import type { RaftLogError } from '../../src/errors.js'

const writers = 8

interface Cluster {
  config: string
  ports: number[]
  nodes: NodeProcess[]
  client: ClusterClient
}

async function startCluster(dir: string, settings: Record<string, string | number> = {}): Promise<Cluster> {
  const { path: config, ports } = await writeConfig(dir, 3, settings)
  const nodes = [1, 2, 3].map((id) => startNode(config, id))
  await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'), 30_000)
  return { config, ports, nodes, client: new ClusterClient(ports.map((port) => `127.0.0.1:${port}`)) }
}

function stopCluster(cluster: Cluster | undefined): void {
  cluster?.client.close()
  for (const node of cluster?.nodes ?? []) node.child.kill('SIGKILL')
}

async function clusterId(config: string): Promise<string> {
  const result = await runCli(['status', '--config', config, '--json'])
  const ids = new Set((JSON.parse(result.stdout) as { clusterId?: string }[]).map((s) => s.clusterId).filter((id) => id !== undefined))
  expect(ids.size).toBe(1)
  return [...ids][0] as string
}

describe('raftlog snapshot save / status / restore', () => {
  let work: string
  let old: Cluster | undefined
  let restored: Cluster | undefined
  let backup: string
  /** Every put acknowledged before the save started, and every one acknowledged at all. */
  let ackedBeforeSave: Map<string, string>
  let ackedAtAll: Map<string, string>
  let saveOutput: string

  beforeAll(async () => {
    // Not tempDir(): that one goes after each test, and the clusters live across them.
    work = mkdtempSync(join(tmpdir(), 'raftlog-backup-'))
    // Snapshots of their own every 300 entries too: the save must get along with them.
    mkdirSync(join(work, 'old'))
    old = await startCluster(join(work, 'old'), { snapshot_threshold: 300, snapshot_trailing_entries: 100 })
    const acked = new Map<string, string>()
    let writing = true
    // Each key is written once, with a value of its own: present in the restored cluster means
    // with that value, and a key acknowledged before the save must be there.
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; writing; i++) {
        const key = `w${w}-${i}`
        const value = `value-${w}-${i}-${'v'.repeat(200)}`
        try {
          await old!.client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)
          acked.set(key, value)
        } catch (error) {
          // May or may not be in: the restored cluster may hold it or not, and either is right.
          if ((error as RaftLogError).code !== 'ERR_UNKNOWN_OUTCOME' && (error as RaftLogError).code !== 'ERR_NO_LEADER') throw error
        }
      }
    }
    const load = Promise.all(Array.from({ length: writers }, (_, w) => writer(w)))
    await waitFor('500 acknowledged puts', async () => (acked.size >= 500 ? true : undefined), 30_000)
    ackedBeforeSave = new Map(acked)
    backup = join(work, 'backup.rlb')
    const save = await runCli(['snapshot', 'save', backup, '--config', old.config])
    saveOutput = save.stdout
    expect(save.stderr).toBe('')
    expect(save.status).toBe(0)
    // The load went on during the save, and goes on a little after it.
    const afterSave = acked.size
    await waitFor('puts after the save', async () => (acked.size >= afterSave + 100 ? true : undefined), 30_000)
    writing = false
    await load
    ackedAtAll = new Map(acked)
  }, 120_000)

  afterAll(() => {
    stopCluster(old)
    stopCluster(restored)
    rmSync(work, { recursive: true, force: true })
  })

  it('save says what it saved, from the leader, and writes a file only its owner reads', async () => {
    expect(saveOutput).toMatch(/^Saved a snapshot of cluster [0-9a-f]{32} from node [123] \(leader\) to .*backup\.rlb: index \d+, term \d+, [\d.]+ (KiB|MiB), checksum [0-9a-f]{8}\n$/)
    expect(statSync(backup).mode & 0o777).toBe(0o600)
    const existing = await runCli(['snapshot', 'save', backup, '--config', old!.config])
    expect(existing.status).toBe(1)
    expect(existing.stderr).toBe(`Error: ${backup} exists already: choose another file name, or remove it first\n`)
  })

  it('status checks a good file and prints what it holds', async () => {
    const text = await runCli(['snapshot', 'status', backup])
    expect(text.status).toBe(0)
    expect(text.stdout).toMatch(/a raftlog backup\n {2}checksum +[0-9a-f]{8} \(ok/)
    expect(text.stdout).toMatch(/configuration +voters 1, 2, 3, learners none/)
    const json = JSON.parse((await runCli(['snapshot', 'status', backup, '--json'])).stdout) as { ok: boolean; index: number; keys: number; clusterId: string }
    expect(json.ok).toBe(true)
    expect(json.clusterId).toBe(await clusterId(old!.config))
    // At least every key acknowledged before the save; at most every key ever written.
    expect(json.keys).toBeGreaterThanOrEqual(ackedBeforeSave.size)
    expect(json.keys).toBeLessThanOrEqual(ackedAtAll.size + writers)
  })

  it('status refuses a file with one byte flipped, naming the file, wherever the byte is', async () => {
    const size = readFileSync(backup).length
    for (const at of [10, 100, Math.floor(size / 2), size - 30, size - 5]) {
      const copy = join(work, `flipped-${at}.rlb`)
      copyFileSync(backup, copy)
      const bytes = readFileSync(copy)
      bytes[at] = (bytes[at] as number) ^ 0x40
      writeFileSync(copy, bytes)
      const result = await runCli(['snapshot', 'status', copy])
      expect(result.status, `byte ${at}`).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(new RegExp(`^Error: Backup ${copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt at byte \\d+: .+\\n$`))
    }
    const notBackup = join(work, 'not-a-backup')
    writeFileSync(notBackup, 'hello, this is not a backup file at all\n')
    const result = await runCli(['snapshot', 'status', notBackup])
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/^Error: .*not-a-backup is not a raftlog backup file/)
  })

  it('restore builds a new three-node cluster that holds every write acknowledged before the save', async () => {
    const newDir = join(work, 'new')
    mkdirSync(newDir)
    const { path: config } = await writeConfig(newDir, 3)
    for (const id of [1, 2, 3]) {
      const result = await runCli(['snapshot', 'restore', backup, '--node-id', String(id), '--config', config])
      expect(result.stderr).toBe('')
      expect(result.status).toBe(0)
      expect(result.stdout).toMatch(new RegExp(`into .*node_${id} as node ${id} of a new cluster [0-9a-f]{32}: voters 1, 2, 3, learners none\\n`))
    }
    restored = { config, ports: [], nodes: [1, 2, 3].map((id) => startNode(config, id)), client: ClusterClient.forCluster(loadClusterConfig(config)) }
    await waitFor('a leader of the restored cluster', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'), 30_000)
    const missing: string[] = []
    const wrong: string[] = []
    for (const [key, value] of ackedBeforeSave) {
      const got = decodeKvResult(await restored.client.read(key, 10_000))
      if (got.value === undefined || got.value === null) missing.push(key)
      else if (Buffer.from(got.value).toString() !== value) wrong.push(key)
    }
    expect(missing).toEqual([])
    expect(wrong).toEqual([])
    // Later writes may or may not be there; those that are hold what was written.
    for (const [key, value] of [...ackedAtAll].filter(([key]) => !ackedBeforeSave.has(key)).slice(0, 200)) {
      const got = decodeKvResult(await restored.client.read(key, 10_000))
      if (got.value !== undefined && got.value !== null) expect(Buffer.from(got.value).toString()).toBe(value)
    }
    // A cluster of its own: another id, and it takes writes.
    await restored.client.propose(encodeKvCommand({ op: 'put', key: 'after-restore', value: 'yes' }), 10_000)
    await waitFor('the new cluster id', async () => ((await clusterId(config)) !== '' ? true : undefined))
    expect(await clusterId(config)).not.toBe(await clusterId(old!.config))
  }, 120_000)

  it('restore with --initial-cluster prints the configuration file the node starts with, which starts it', async () => {
    const dir = join(work, 'initial')
    const [p1, p2] = await Promise.all([freePort(), freePort()])
    const result = await runCli(['snapshot', 'restore', backup, '--node-id', '1', '--initial-cluster', `1=127.0.0.1:${p1},2=127.0.0.1:${p2}`, '--data-dir', join(dir, 'data')])
    expect(result.status, result.stderr).toBe(0)
    const yaml = result.stdout.split('FILE a configuration of the new cluster:\n')[1] as string
    expect(yaml).toBe(`# first rename ${join(dir, 'data')} to ${join(dir, 'node_1')}: a node's directory is node_<id> in log_directory\nnodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: ${p1} }\n  - { node_id: 2, ip_address: "127.0.0.1", port: ${p2} }\ncluster_settings:\n  log_directory: "${dir}"\n`)
    // As it says: renamed, the file written, the node starts on the restored directory (alone it is no majority, but it serves).
    renameSync(join(dir, 'data'), join(dir, 'node_1'))
    const config = join(dir, 'cluster.yaml')
    writeFileSync(config, yaml.split('\n').filter((line) => !line.startsWith('#')).join('\n'))
    const node = startNode(config, 1)
    try {
      await waitFor('the restored node to serve', async () => (node.output.some((line) => line.includes('"event":"serving"')) ? true : undefined), 20_000).catch((error: Error) => {
        throw new Error(`${error.message}; it said:\n${node.output.join('\n')}`)
      })
    } finally {
      node.child.kill('SIGKILL')
    }
  }, 60_000)

  it('restore refuses a directory that holds anything', async () => {
    const dir = join(work, 'busy')
    mkdirSync(dir)
    writeFileSync(join(dir, 'something'), 'x')
    const result = await runCli(['snapshot', 'restore', backup, '--node-id', '1', '--initial-cluster', '1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3', '--data-dir', dir])
    expect(result.status).toBe(1)
    expect(result.stderr).toBe(`Error: ${dir} is not empty (something): a snapshot is restored only into an empty or new directory, never over a node's files\n`)
    expect(readFileSync(join(dir, 'something'), 'utf8')).toBe('x')
  })

  it('a node restored from another backup file is refused at its start, naming both clusters', async () => {
    await old!.client.propose(encodeKvCommand({ op: 'put', key: 'after-first-backup', value: 'yes' }), 10_000)
    const other = join(work, 'other.rlb')
    const save = await runCli(['snapshot', 'save', other, '--config', old!.config])
    expect(save.status, save.stderr).toBe(0)
    const dir = join(work, 'mixed')
    mkdirSync(dir)
    const { path: config } = await writeConfig(dir, 3)
    for (const [id, file] of [[1, other], [2, backup], [3, backup]] as const) {
      const result = await runCli(['snapshot', 'restore', file, '--node-id', String(id), '--config', config])
      expect(result.status, result.stderr).toBe(0)
    }
    const two = [2, 3].map((id) => startNode(config, id))
    try {
      await waitFor('a leader of nodes 2 and 3', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'), 30_000)
      const stray = startNode(config, 1)
      two.push(stray)
      const code = await Promise.race([exited(stray.child), new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000))])
      expect(code, stray.output.join('\n')).toBe(1)
      expect(stray.output.join('\n')).toMatch(/belongs to cluster [0-9a-f]{32}, but node [23] at 127\.0\.0\.1:\d+ belongs to cluster [0-9a-f]{32}: the directory was copied from another cluster, or restored from another backup file/)
    } finally {
      for (const node of two) node.child.kill('SIGKILL')
    }
  }, 90_000)

  it('ClusterClient.saveSnapshot writes the same format to a stream', async () => {
    const path = join(work, 'streamed.rlb')
    const stream = createWriteStream(path)
    const saved = await old!.client.saveSnapshot(stream)
    stream.end()
    await once(stream, 'finish')
    const summary = await checkBackupFile(path)
    expect({ index: summary.index, term: summary.term, sizeBytes: summary.sizeBytes, checksum: summary.checksum }).toEqual({ index: saved.index, term: saved.term, sizeBytes: saved.sizeBytes, checksum: saved.checksum })
  })
})
