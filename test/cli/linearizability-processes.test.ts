// Linearizability on real processes: three `raftlog node` processes over gRPC, clients recording
// every get, put and cas while a nemesis kills nodes with SIGKILL, pauses the leader with
// SIGSTOP/SIGCONT and restarts them; the history goes through the checker, and the store's own
// count of applied writes shows that no retried write was applied twice.
import { describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/temp-dir.js'
import { exited, startNode, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand, type KvCommand } from '../../src/kv/kv-state-machine.js'
import type { RaftLogError } from '../../src/errors.js'
import { seededRandom } from '../../src/raft/core/seeded-random.js'
import { HistoryRecorder } from '../linearizability/history.js'
import { checkLinearizable } from '../linearizability/checker.js'
import { kvModel, textValue, type KvInput, type KvOutput } from '../linearizability/kv-model.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)
const loadMs = 15_000
const keys = ['a', 'b', 'c']

describe(`linearizability with real processes and a nemesis (RAFT_SEED=${seed})`, () => {
  it('every history is linearizable and no write is applied twice, through kills, pauses and restarts', async () => {
    const random = seededRandom(seed)
    const dir = tempDir('raftlog-nemesis-')
    const { path: config, ports } = await writeConfig(dir, 3, { snapshot_threshold: 300, snapshot_trailing_entries: 100 })
    const nodes = new Map<number, NodeProcess>([1, 2, 3].map((id) => [id, startNode(config, id)]))
    const endpoints = ports.map((port) => `127.0.0.1:${port}`)
    const observer = new ClusterClient(endpoints, [1, 2, 3])
    const history = new HistoryRecorder<KvInput, KvOutput>()
    let issuedWrites = 0
    let acknowledgedWrites = 0
    let nextValue = 1
    const stopAt = Date.now() + loadMs
    try {
      await waitFor('a leader', async () => ((await observer.statuses(1000)).some((s) => s.role === 'leader') ? true : undefined))
      const worker = async (clientId: number): Promise<void> => {
        const client = new ClusterClient(endpoints)
        const pick = seededRandom(seed + clientId)
        try {
          while (Date.now() < stopAt) {
            const key = keys[Math.floor(pick() * keys.length)] as string
            const roll = pick()
            if (roll < 0.5) {
              const op = history.invoke(clientId, { op: 'get', key })
              try {
                const result = decodeKvResult(await client.read(key, 3000))
                history.ok(op, { ok: result.ok, value: textValue(result.value ?? null) })
              } catch {
                history.fail(op)
              }
              continue
            }
            const value = `v${nextValue++}`
            let command: KvInput & KvCommand = { op: 'put', key, value }
            if (roll > 0.8) {
              const seen = await client.read(key, 3000).then((r) => textValue(decodeKvResult(r).value ?? null), () => null)
              command = { op: 'cas', key, expected: seen, value }
            }
            issuedWrites++
            const op = history.invoke(clientId, command)
            try {
              const result = decodeKvResult(await client.propose(encodeKvCommand(command), 4000))
              acknowledgedWrites++
              history.ok(op, command.op === 'cas' ? { ok: result.ok, value: textValue(result.value ?? null) } : { ok: true })
            } catch (error) {
              const code = (error as RaftLogError).code
              if (code === 'ERR_NO_LEADER') history.fail(op)
              else if (code === 'ERR_UNKNOWN_OUTCOME') history.unknown(op)
              else throw error
            }
          }
        } finally {
          client.close()
        }
      }
      const nemesis = async (): Promise<string[]> => {
        const done: string[] = []
        while (Date.now() < stopAt - 2000) {
          await new Promise((resolve) => setTimeout(resolve, 1500 + random() * 1000))
          const statuses = await observer.statuses(500)
          const leader = statuses.find((s) => s.reachable && s.role === 'leader')?.id ?? undefined
          if (random() < 0.5 && leader !== undefined && leader !== null) {
            // The leader stops, still believing it leads, and comes back.
            const child = nodes.get(leader)!.child
            child.kill('SIGSTOP')
            await new Promise((resolve) => setTimeout(resolve, 800 + random() * 800))
            child.kill('SIGCONT')
            done.push(`paused ${leader}`)
          } else {
            const victim = 1 + Math.floor(random() * 3)
            const child = nodes.get(victim)!.child
            child.kill('SIGKILL')
            await exited(child)
            await new Promise((resolve) => setTimeout(resolve, 300 + random() * 700))
            nodes.set(victim, startNode(config, victim))
            done.push(`killed ${victim}`)
          }
        }
        return done
      }
      const [actions] = await Promise.all([nemesis(), ...[1, 2, 3, 4].map(worker)])
      expect(actions.length).toBeGreaterThan(3)
      // Everyone catches up; the store's count of writes is state, equal everywhere.
      const settled = await waitFor('every node applied everything', async () => {
        const statuses = await observer.statuses(1000)
        const commit = Math.max(...statuses.map((s) => s.commitIndex ?? 0))
        return statuses.every((s) => s.reachable && s.lastApplied === commit) ? statuses : undefined
      }, 60_000)
      const writes = settled.map((s) => s.kvWritesApplied)
      expect(new Set(writes).size).toBe(1)
      // Every acknowledged write applied once; the others once or never; none twice.
      expect(writes[0]).toBeGreaterThanOrEqual(acknowledgedWrites)
      expect(writes[0]).toBeLessThanOrEqual(issuedWrites)
      const operations = history.history()
      expect(operations.length).toBeGreaterThan(200)
      const result = checkLinearizable(kvModel, operations, { timeoutMs: 30_000 })
      expect(result.timedOut).toBeUndefined()
      expect(result.ok, result.counterexample?.explanation).toBe(true)
    } finally {
      observer.close()
      for (const node of nodes.values()) node.child.kill('SIGCONT')
      for (const node of nodes.values()) node.child.kill('SIGTERM')
      await Promise.all([...nodes.values()].map((node) => exited(node.child)))
    }
  }, 180_000)
})
