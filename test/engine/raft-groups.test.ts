// The engine under real Raft cores: three nodes, each with one LogEngine holding eight groups;
// every driver turn persists every group's hard state and entries of a node with one flush, then
// delivers the messages. Every group elects a leader and commits proposals, and after the engines
// are closed and reopened every node still holds every committed entry and hard state.
import { describe, expect, it } from 'vitest'
import { LogEngine } from '../../src/engine/log-engine.js'
import { RaftCore } from '../../src/raft/core/raft-core.js'
import type { RaftMessage } from '../../src/raft/core/messages.js'
import { seededRandom } from '../../src/raft/core/seeded-random.js'
import { tempDir } from '../helpers/temp-dir.js'

const nodes = [1, 2, 3]
const groups = 8
const quiet = { warn() {} }

function coreFor(engine: LogEngine, node: number, group: number): RaftCore {
  const hard = engine.hardState(group)
  return new RaftCore({
    id: node,
    peers: nodes,
    log: engine.group(group),
    hardState: { currentTerm: hard.term, votedFor: hard.vote, commitIndex: hard.commit },
    electionTicks: [10, 20],
    heartbeatTicks: 2,
    random: seededRandom(node * 1000 + group),
  })
}

describe('LogEngine under Raft cores', () => {
  it('eight groups on three nodes elect, commit with one flush per node per turn, and keep it all across a restart', () => {
    const dirs = nodes.map(() => tempDir())
    const engines = dirs.map((dir) => LogEngine.open(dir, { fileSize: 256 * 1024, logger: quiet }))
    for (const engine of engines) for (let group = 1; group <= groups; group++) engine.createGroup(group)
    const cores = engines.map((engine, n) => Array.from({ length: groups }, (_, g) => coreFor(engine, nodes[n]!, g + 1)))
    let inFlight: Array<{ group: number; message: RaftMessage }> = []
    const proposed = new Map<number, Set<string>>()
    const turn = (): void => {
      const delivering = inFlight
      inFlight = []
      for (const { group, message } of delivering) cores[message.to - 1]![group - 1]!.step(message)
      for (const [n, engine] of engines.entries()) {
        const flushesBefore = engine.stats.flushes
        const readies = cores[n]!.map((core) => {
          core.tick()
          return core.hasReady() ? core.ready() : undefined
        })
        for (const [g, ready] of readies.entries()) {
          if (ready === undefined) continue
          const saved = engine.hardState(g + 1)
          const state = { term: ready.term, vote: cores[n]![g]!.vote, commit: ready.commitIndex }
          if (ready.hardState !== undefined || state.commit !== saved.commit) engine.setHardState(g + 1, state)
        }
        engine.flushSync() // one flush for every group of this node
        expect(engine.stats.flushes - flushesBefore).toBeLessThanOrEqual(1)
        for (const [g, ready] of readies.entries()) {
          if (ready === undefined) continue
          for (const message of ready.messages) inFlight.push({ group: g + 1, message })
          cores[n]![g]!.advance(ready)
        }
      }
    }
    const leaderOf = (group: number) => cores.map((row) => row[group - 1]!).find((core) => core.role === 'leader')
    for (let i = 0; i < 400 && Array.from({ length: groups }, (_, g) => leaderOf(g + 1)).some((leader) => leader === undefined); i++) turn()
    for (let group = 1; group <= groups; group++) {
      const leader = leaderOf(group)
      expect(leader, `group ${group} has a leader`).toBeDefined()
      const texts = new Set<string>()
      for (let k = 0; k < 5; k++) {
        const text = `g${group}-p${k}`
        leader!.propose(new TextEncoder().encode(text))
        texts.add(text)
      }
      proposed.set(group, texts)
    }
    for (let i = 0; i < 60; i++) turn()
    const committedOn = (engine: LogEngine, group: number, upTo: number) =>
      engine
        .entries(group, engine.firstIndex(group), upTo + 1)
        .map((entry) => new TextDecoder().decode(entry.data))
        .filter((text) => text.startsWith('g'))
    const commits = cores.map((row) => row.map((core) => core.committed))
    for (const [n, engine] of engines.entries()) {
      for (let group = 1; group <= groups; group++) {
        expect(new Set(committedOn(engine, group, commits[n]![group - 1]!)), `node ${n + 1} group ${group}`).toEqual(proposed.get(group))
      }
      engine.close()
    }
    // A restart of every node: each group's log and hard state come back from its engine.
    const reopened = dirs.map((dir) => LogEngine.open(dir, { logger: quiet }))
    for (const [n, engine] of reopened.entries()) {
      expect(engine.groupIds().sort((a, b) => a - b)).toEqual(Array.from({ length: groups }, (_, g) => g + 1))
      for (let group = 1; group <= groups; group++) {
        expect(engine.hardState(group).commit).toBeGreaterThan(0)
        expect(new Set(committedOn(engine, group, commits[n]![group - 1]!))).toEqual(proposed.get(group))
        const core = coreFor(engine, nodes[n]!, group)
        expect(core.currentTerm).toBe(engine.hardState(group).term)
      }
      engine.close()
    }
  })
})
