// The host's commit delay (RaftHostOptions.commitDelayMs, after PostgreSQL's commit_delay), in
// real time: a turn that carries several groups' work and starts within the delay of the last
// flush waits for the rest of it, and work that arrives meanwhile shares its flush; a turn of one
// group's work never waits; stop() during the wait ends it.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { LogEngine } from '../../src/engine/log-engine.js'
import { RaftHost } from '../../src/host/raft-host.js'

const cleanups: (() => void)[] = []

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** One host (a cluster of one) with single-voter groups 1 to 3, each elected. */
async function soloHost(commitDelayMs: number): Promise<{ host: RaftHost; engine: LogEngine }> {
  const dir = mkdtempSync(join(tmpdir(), 'raftlog-commit-delay-'))
  const engine = LogEngine.open(dir, { fileSize: 1024 * 1024 })
  const host = new RaftHost({ nodeId: 1, hosts: [1], engine, transport: { send: () => {} }, electionTicks: [2, 3], commitDelayMs })
  cleanups.push(() => {
    host.stop()
    engine.close()
    rmSync(dir, { recursive: true, force: true })
  })
  for (const group of [1, 2, 3]) host.addGroup(group, [1], { apply: () => undefined })
  while (![1, 2, 3].every((group) => host.leaderOf(group) === 1)) {
    host.tick()
    await sleep(1)
  }
  while (!host.idle) await sleep(1)
  return { host, engine }
}

const data = (text: string): Uint8Array => Buffer.from(text)

/**
 * Right after a flush, proposes to groups 2 and 3 together, then to group 1 `laterMs` later, and
 * counts the engine flushes and batches written until all three are applied.
 */
async function threeProposals(host: RaftHost, engine: LogEngine, laterMs: number): Promise<{ flushes: number; batches: number; delayed: number }> {
  await host.propose(1, data('warm'))
  const flushes = host.counters.flushes
  const batches = engine.stats.batchesWritten
  const delayed = host.counters.delayedTurns
  const together = [host.propose(2, data('b')), host.propose(3, data('c'))]
  await sleep(laterMs)
  await Promise.all([...together, host.propose(1, data('d'))])
  return { flushes: host.counters.flushes - flushes, batches: engine.stats.batchesWritten - batches, delayed: host.counters.delayedTurns - delayed }
}

describe('RaftHost commit delay', () => {
  it('holds a turn of several groups\' work after a flush, so that work arriving meanwhile shares its flush', async () => {
    const held = await soloHost(300)
    const withDelay = await threeProposals(held.host, held.engine, 20)
    const plain = await soloHost(0)
    const without = await threeProposals(plain.host, plain.engine, 20)
    expect(withDelay.delayed).toBeGreaterThanOrEqual(1)
    // Held: the three appends go to the engine in one turn's batch, made durable by one flush.
    expect(withDelay.batches).toBe(1)
    expect(without.delayed).toBe(0)
    expect(without.batches).toBe(2)
    expect(withDelay.flushes).toBeLessThan(without.flushes)
  })

  it('never holds a turn of one group\'s work: a lone client waits for no delay', async () => {
    const { host } = await soloHost(300)
    const delayed = host.counters.delayedTurns
    for (let i = 0; i < 20; i++) await host.propose(1 + (i % 3), data(`one at a time ${i}`))
    expect(host.counters.delayedTurns).toBe(delayed)
  })

  it('ends a held turn when the host stops: its proposals are refused, no turn runs after', async () => {
    const { host } = await soloHost(300)
    await host.propose(1, data('warm'))
    const turns = host.counters.turns
    const outcomes = Promise.allSettled([host.propose(2, data('b')), host.propose(3, data('c'))])
    await sleep(5)
    expect(host.counters.delayedTurns).toBeGreaterThanOrEqual(1)
    host.stop()
    const settled = await outcomes
    expect(settled.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected'])
    await sleep(350)
    expect(host.counters.turns).toBe(turns)
  })

  it('refuses a commit delay out of range, naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftlog-commit-delay-'))
    const engine = LogEngine.open(dir)
    cleanups.push(() => {
      engine.close()
      rmSync(dir, { recursive: true, force: true })
    })
    for (const commitDelayMs of [-1, Number.NaN, 5000]) {
      expect(() => new RaftHost({ nodeId: 1, hosts: [1], engine, transport: { send: () => {} }, commitDelayMs })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('commitDelayMs') }))
    }
  })
})
