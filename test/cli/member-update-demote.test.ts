// raftlog member update and demote with real processes: a member moved to another port through
// the log (stopped, updated, restarted there) takes part at once, and a demoted voter is a
// learner in the member list.
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { expectReadable, members, put, running, statusesAt, threeNodesWithWrites } from '../helpers/cluster-cli.js'
import { exited, freePort, startNode, waitFor } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

afterEach(() => {
  for (const node of running.splice(0)) node.child.kill('SIGKILL')
})

describe('raftlog member update and demote', () => {
  it('moves a member to a new port through the log (stopped, updated, restarted there) and demotes a voter to a learner', async () => {
    const dir = tempDir('raftlog-member-update-')
    const { config, ports, nodes, written } = await threeNodesWithWrites(dir, 3)
    const address = (id: number): string => `127.0.0.1:${ports[id - 1]}`
    // Node 2 stops (a leader hands over first), and the cluster is told where it will serve.
    nodes[1]!.child.kill('SIGTERM')
    await exited(nodes[1]!.child)
    const moved = `127.0.0.1:${await freePort()}`
    const taken = await runCli(['member', 'update', '2', '--address', address(3), '--endpoints', `${address(1)},${address(3)}`])
    expect(taken.status).toBe(1)
    expect(taken.stderr).toContain(`node 2's new address ${address(3)} is node 3's already`)
    const update = await runCli(['member', 'update', '2', '--address', moved, '--endpoints', `${address(1)},${address(3)}`])
    expect(update.status, update.stderr).toBe(0)
    expect(update.stdout).toContain(`node 2 now at ${moved}`)
    running.push(startNode(config, 2, ['--listen', moved]))
    const endpoints = [address(1), moved, address(3)]
    await waitFor('node 2 at its new address in the member list', async () => ((await members(endpoints)).find((m) => m.id === 2 && m.address === moved && m.reachable) ? true : undefined))
    // With node 3 stopped, a write needs node 2 at its new port: the cluster works with it there.
    nodes[2]!.child.kill('SIGTERM')
    await exited(nodes[2]!.child)
    await put(['--endpoints', endpoints.join(',')], 'moved', 'yes')
    written.set('moved', 'yes')
    running.push(startNode(config, 3))
    await waitFor('node 3 back', async () => ((await statusesAt(endpoints)).find((s) => s.id === 3 && s.reachable && s.role === 'follower') ? true : undefined))

    const demote = await runCli(['member', 'demote', '3', '--endpoints', endpoints.join(',')])
    expect(demote.status, demote.stderr).toBe(0)
    expect(demote.stdout).toContain('membership now: voters 1, 2, learners 3')
    expect((await members(endpoints)).map((m) => [m.id, m.address, m.suffrage])).toEqual([[1, address(1), 'voter'], [2, moved, 'voter'], [3, address(3), 'learner']])
    const again = await runCli(['member', 'demote', '3', '--endpoints', endpoints.join(',')])
    expect(again.status).toBe(1)
    expect(again.stderr).toContain('node 3 is not a voter (it is a learner already)')
    await expectReadable(endpoints, written)
  }, 90_000)
})
