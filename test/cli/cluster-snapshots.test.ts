// End to end with snapshots: three `raftlog node` processes that snapshot every 1,000 entries,
// 20,000 puts, one node SIGKILLed during them and restarted after the others compacted past it.
import { describe, expect, it } from 'vitest'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import type { RaftLogError } from '../../src/errors.js'

const keys = 500
const puts = 20_000
const writers = 25

function directoryBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0)
}

describe('a 3-process cluster with snapshots', () => {
  it('stays bounded on disk, and a node killed during 20,000 puts catches up by snapshot', async () => {
    const dir = tempDir('raftlog-e2e-snapshots-')
    const { path: config, ports } = await writeConfig(dir, 3, { snapshot_threshold: 1000, snapshot_trailing_entries: 1000 })
    const nodes = new Map<number, NodeProcess>([1, 2, 3].map((id) => [id, startNode(config, id)]))
    await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
    const client = new ClusterClient(ports.map((port) => `127.0.0.1:${port}`))
    const last = new Map<string, string>()
    let done = 0
    let victim: number | undefined
    // Each writer owns the keys k ≡ w (mod writers) and writes them in order, so the last
    // acknowledged put of a key is its value (a put with an unknown outcome is followed by more).
    const writer = async (w: number): Promise<void> => {
      for (let i = w; i < puts; i += writers) {
        const key = `key-${i % keys}`
        const value = `value-${i}-${'p'.repeat(100)}`
        for (;;) {
          try {
            await client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)
            last.set(key, value)
            break
          } catch (error) {
            if ((error as RaftLogError).code !== 'ERR_UNKNOWN_OUTCOME' && (error as RaftLogError).code !== 'ERR_NO_LEADER') throw error
          }
        }
        done++
        if (done === 5000 && victim === undefined) {
          // A follower dies a quarter of the way through, and comes back near the end.
          const all = await statuses(config)
          victim = all.find((s) => s.reachable && s.role === 'follower')!.id
          nodes.get(victim)!.child.kill('SIGKILL')
        }
        if (done === 17_000 && victim !== undefined) nodes.set(victim, startNode(config, victim))
      }
    }
    await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)))
    // One more round with nothing in the way, so that every key's last value is acknowledged.
    for (let k = 0; k < keys; k++) {
      const value = `final-${k}`
      await client.propose(encodeKvCommand({ op: 'put', key: `key-${k}`, value }), 10_000)
      last.set(`key-${k}`, value)
    }
    await waitFor('every node applied everything', async () => {
      const all = await statuses(config)
      const commit = Math.max(...all.map((s) => s.commitIndex ?? 0))
      return all.every((s) => s.reachable && s.lastApplied === commit) ? all : undefined
    }, 60_000)
    for (const [key, value] of last) expect(decodeKvResult(await client.read(key, 10_000))).toEqual({ ok: true, value: Buffer.from(value) })
    client.close()
    const victimLog = nodes.get(victim!)!.output.join('\n')
    for (const node of nodes.values()) node.child.kill('SIGTERM')
    expect(await Promise.all([...nodes.values()].map((node) => exited(node.child)))).toEqual([0, 0, 0])
    for (const id of [1, 2, 3]) {
      const logDir = join(dir, 'logs', `node_${id}`)
      // 20,500 puts of ~130 bytes went through; what is left is at most the trailing entries in a
      // few 1 MiB segments (and one spare), two snapshots of 500 keys, the state file.
      expect(directoryBytes(logDir), `node ${id}: ${readdirSync(logDir).join(', ')}`).toBeLessThan(6 * 1024 * 1024)
      expect(readdirSync(logDir).filter((name) => name.endsWith('.snap')).length).toBeGreaterThan(0)
      const verify = await runCli(['verify', logDir])
      expect(verify.status, verify.stdout + verify.stderr).toBe(0)
    }
    // It was gone for 12,000 entries, far more than the others keep behind their snapshots.
    expect(victimLog).toMatch(/"event":"snapshot-installed"/)
    expect(victimLog).not.toMatch(/"event":"error"/)
  }, 180_000)
})
