// `raftlog cluster --restart`: a node that dies is started again, after a pause that grows while
// it keeps dying; without --restart it stays down.
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { alive, exited, startCluster, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { RestartBackoff, restartMaxMs, restartMinMs, restartStableMs } from '../../src/cli/restart-backoff.js'

describe('the restart back-off', () => {
  it('doubles while a node keeps dying soon after its start, up to the maximum, and starts over once it ran a while', () => {
    const backoff = new RestartBackoff()
    const pauses = Array.from({ length: 7 }, () => backoff.next(100))
    expect(pauses).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
    expect(restartMinMs).toBe(1000)
    expect(restartMaxMs).toBe(30_000)
    expect(backoff.next(restartStableMs)).toBe(1000)
  })
})

describe('raftlog cluster --restart', () => {
  it('starts a node killed with SIGKILL again; it rejoins and serves', async () => {
    const dir = tempDir('raftlog-restart-')
    const { path: config } = await writeConfig(dir, 3)
    const { child, output } = startCluster(config, ['--restart'])
    try {
      await waitFor('a leader line', async () => (/cluster: node \d leads/.test(output.text) ? true : undefined))
      const pid = Number(/cluster: node 2 is process (\d+)/.exec(output.text)?.[1])
      process.kill(pid, 'SIGKILL')
      await waitFor('node 2 started again', async () => ((output.text.match(/cluster: node 2 is process \d+/g) ?? []).length === 2 ? true : undefined), 20_000)
      expect(output.text).toContain('cluster: error: node 2 exited (SIGKILL)')
      expect(output.text).toContain('cluster: warning: restarting node 2 in 1 s')
      expect(alive(pid)).toBe(false)
      await waitFor('node 2 reachable and caught up', async () => {
        const all = await statuses(config)
        return all.every((s) => s.reachable) && new Set(all.map((s) => s.commitIndex)).size === 1 ? true : undefined
      })
      expect((await runCli(['kv', 'put', 'after', 'restart', '--config', config])).stdout).toBe('OK\n')
    } finally {
      child.kill('SIGINT')
      expect(await exited(child), output.text).toBe(0)
    }
  }, 60_000)

  it('does not start a node again that stopped because it was removed', async () => {
    const dir = tempDir('raftlog-restart-removed-')
    const { path: config } = await writeConfig(dir, 3)
    const { child, output } = startCluster(config, ['--restart'])
    try {
      await waitFor('a leader line', async () => (/cluster: node \d leads/.test(output.text) ? true : undefined))
      await waitFor('every node caught up', async () => {
        const all = await statuses(config)
        return all.every((s) => s.reachable) && new Set(all.map((s) => s.commitIndex)).size === 1 ? true : undefined
      })
      const leader = Number(/cluster: node (\d) leads/.exec(output.text)?.[1])
      const victim = [1, 2, 3].find((id) => id !== leader)!
      // Down (killed; the cluster restarts it after 1 s) while the others remove it.
      process.kill(Number(new RegExp(`cluster: node ${victim} is process (\\d+)`).exec(output.text)?.[1]), 'SIGKILL')
      const removed = await runCli(['member', 'remove', String(victim), '--config', config])
      expect(removed.status, removed.stderr).toBe(0)
      // Back up, its log does not say it was removed: a member tells it, and it stops for good.
      await waitFor('the removed node stopped', async () => (output.text.includes(`node ${victim} stopped: it was removed from the cluster`) ? true : undefined), 30_000)
      const restarts = (output.text.match(new RegExp(`restarting node ${victim}`, 'g')) ?? []).length
      await new Promise((resolve) => setTimeout(resolve, 3000))
      expect((output.text.match(new RegExp(`restarting node ${victim}`, 'g')) ?? []).length).toBe(restarts)
      expect((await runCli(['kv', 'put', 'after', 'removal', '--config', config])).stdout).toBe('OK\n')
    } finally {
      child.kill('SIGINT')
      await exited(child)
    }
  }, 90_000)

  it('does not start a node again whose directory is damaged, and says where and what to run', async () => {
    const dir = tempDir('raftlog-restart-damaged-')
    const { path: config } = await writeConfig(dir, 3)
    let { child, output } = startCluster(config, ['--restart'])
    await waitFor('a leader line', async () => (/cluster: node \d leads/.test(output.text) ? true : undefined))
    for (let i = 0; i < 10; i++) expect((await runCli(['kv', 'put', `k${i}`, 'v'.repeat(100), '--config', config])).status).toBe(0)
    await waitFor('every node caught up', async () => {
      const all = await statuses(config)
      return all.every((s) => s.reachable) && new Set(all.map((s) => s.commitIndex)).size === 1 ? true : undefined
    })
    child.kill('SIGINT')
    expect(await exited(child), output.text).toBe(0)
    // A byte of an early entry flipped, with valid entries after it: damage, not a torn write.
    const nodeDir = join(dir, 'logs', 'node_2')
    const segment = join(nodeDir, 'segment_00000000000000000001.log')
    const bytes = readFileSync(segment)
    bytes[300] = (bytes[300] as number) ^ 0xff
    writeFileSync(segment, bytes)
    ;({ child, output } = startCluster(config, ['--restart']))
    try {
      await waitFor('node 2 stopped', async () => (output.text.includes('node 2 stopped: its directory is damaged') ? true : undefined), 20_000)
      expect(output.text).toContain('ERR_CORRUPT')
      expect(output.text).toContain(`raftlog verify ${nodeDir}`)
      expect(output.text).toContain(`raftlog repair ${nodeDir}`)
      await new Promise((resolve) => setTimeout(resolve, 2500))
      expect(output.text).not.toContain('restarting node 2')
      expect((await runCli(['kv', 'put', 'after', 'damage', '--config', config])).stdout).toBe('OK\n')
    } finally {
      child.kill('SIGINT')
      await exited(child)
    }
  }, 90_000)
})
