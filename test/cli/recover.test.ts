// raftlog recover DIR --as-new-cluster with real processes: a cluster that lost two of its three
// nodes for good (SIGKILL after acknowledged writes) comes back from the third's directory as a
// one-node cluster holding every acknowledged write, and grows back to three under new ids; and
// clusters whose configuration names voters that never started (added and waiting to vote, or
// founding voters that never ran) come back the same way.
import { afterEach, describe, expect, it } from 'vitest'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { caughtUp, expectReadable, kill, members, put, running, statusesAt, threeNodesWithWrites } from '../helpers/cluster-cli.js'
import { exited, freePort, startNode, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

afterEach(() => {
  for (const node of running.splice(0)) node.child.kill('SIGKILL')
})

async function recover(nodeDir: string): Promise<string> {
  const result = await runCli(['recover', nodeDir, '--as-new-cluster', '--yes'])
  expect(result.status, result.stderr).toBe(0)
  return result.stdout
}

describe('raftlog recover --as-new-cluster', () => {
  it('brings back every acknowledged write from the one node left of three, then grows back to three under new ids', async () => {
    const dir = tempDir('raftlog-recover-')
    // Snapshots every 20 entries, 2 kept behind, 4 KiB segments: the survivor's log starts after
    // a snapshot of the old cluster, too recent for the recovered node to reach the next one by
    // itself before members are added: they need a snapshot, and one of the new cluster.
    const { config, ports, nodes, leader, written } = await threeNodesWithWrites(dir, 12, { snapshot_threshold: 20, snapshot_trailing_entries: 2, log_segment_size: 4096 })
    for (let i = 0; i < 8; i++) {
      await put(['--config', config], `large-${i}`, `${i}`.repeat(1500))
      written.set(`large-${i}`, `${i}`.repeat(1500))
    }
    // The survivor is a follower: the leader and the other follower are lost for good.
    const survivor = [1, 2, 3].find((id) => id !== leader)!
    const lost = [1, 2, 3].filter((id) => id !== survivor)
    await caughtUp(config, survivor)
    const survivorDir = join(dir, 'logs', `node_${survivor}`)
    const address = `127.0.0.1:${ports[survivor - 1]}`
    await waitFor('the survivor to compact its log behind a snapshot', async () => ((await statusesAt([address]))[0]!.firstIndex > 1 ? true : undefined))

    // Refused while the node's process holds the directory.
    const whileRunning = await runCli(['recover', survivorDir, '--as-new-cluster', '--yes'])
    expect(whileRunning.status).toBe(1)
    expect(whileRunning.stderr).toContain('is locked by a running raftlog process: stop the node first')

    for (const id of lost) await kill(nodes[id - 1]!)
    await kill(nodes[survivor - 1]!)
    // Off a terminal it asks for --yes, changing nothing.
    const unconfirmed = await runCli(['recover', survivorDir, '--as-new-cluster'])
    expect(unconfirmed.status).toBe(1)
    expect(unconfirmed.stderr).toContain('standard input is not a terminal: give --yes')
    // The plan names the backup folder as one still to make: a refusal makes none.
    expect(unconfirmed.stdout).toMatch(/^ {2}before it changes anything: copies raft_state\.meta, .+ to .+\.recover-[^ ]+$/m)
    expect(readdirSync(join(dir, 'logs')).filter((name) => name.includes('.recover-'))).toEqual([])

    const said = await recover(survivorDir)
    expect(said).toContain(`node ${survivor} at ${address} becomes its only member`)
    expect(said).toMatch(/(entr(y|ies) \(\d+\.\.\d+\) (is|are) beyond the commit index it last recorded|every entry is within the commit index)/)
    expect(said).toContain(`new configuration`)
    expect(said).toContain(`voters ${survivor}, learners none, removed ${lost.join(', ')}`)
    const backup = /backup in (.+)$/m.exec(said)?.[1]
    expect(backup).toBeDefined()
    expect(existsSync(join(backup!, 'raft_state.meta'))).toBe(true)

    // Started with the old file listing three voters: the configuration in its log wins.
    running.push(startNode(config, survivor))
    await waitFor('the recovered node to lead', async () => ((await statusesAt([address])).find((s) => s.role === 'leader') ? true : undefined))
    await expectReadable([address], written)
    // An old member started again beside it is refused, and told that recovery is a cause.
    const old = startNode(config, lost[0]!)
    const oldEnded = await Promise.race([exited(old.child), new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))])
    expect(oldEnded, old.output.join('\n')).toBe(1)
    expect(old.output.join('\n')).toContain(`or node ${survivor} was recovered as a new cluster (raftlog recover), of which this node is not a member: never start this node beside it again`)
    await put(['--endpoints', address], 'after-recovery', 'yes')
    written.set('after-recovery', 'yes')

    // Grow back to three: removed ids are refused, new ids join.
    const reused = await runCli(['member', 'add', String(lost[0]), `127.0.0.1:${await freePort()}`, '--endpoints', address])
    expect(reused.status).toBe(1)
    expect(reused.stderr).toContain('ids are never reused')
    // The operator's new file lists the survivor and the nodes to be added.
    const own = { 4: `127.0.0.1:${await freePort()}`, 5: `127.0.0.1:${await freePort()}` } as Record<number, string>
    const grown = join(dir, 'grown.yaml')
    const line = (id: number, at: string): string => `  - { node_id: ${id}, ip_address: "127.0.0.1", port: ${at.split(':')[1]} }`
    writeFileSync(grown, readFileSync(config, 'utf8').replace(/^nodes:\n(  - .*\n)+/m, `nodes:\n${[line(survivor, address), line(4, own[4]!), line(5, own[5]!)].join('\n')}\n`))
    // A new node started from it without --join would found a cluster of its own beside the
    // recovered one: refused before its directory is made.
    const alone = startNode(grown, 4)
    const ended = await Promise.race([exited(alone.child), new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000))])
    expect(ended, alone.output.join('\n')).toBe(1)
    expect(alone.output.join('\n')).toContain(`would found a new cluster from ${grown}, but node ${survivor} at ${address} belongs to cluster`)
    expect(existsSync(join(dir, 'logs', 'node_4'))).toBe(false)
    const endpoints = [address]
    for (const id of [4, 5]) {
      const added = await runCli(['member', 'add', String(id), own[id]!, '--endpoints', address])
      expect(added.status, added.stderr).toBe(0)
      running.push(startNode(grown, id, ['--join', address]))
      endpoints.push(own[id]!)
      await waitFor(`node ${id} to become a voter`, async () => ((await members([address])).find((m) => m.id === id)?.suffrage === 'voter' ? true : undefined), 30_000)
    }
    await put(['--endpoints', endpoints.join(',')], 'after-growth', 'yes')
    written.set('after-growth', 'yes')
    // The new members caught up: each applied everything the leader committed.
    await waitFor('every member to catch up', async () => {
      const all = await statusesAt(endpoints)
      const leading = all.find((s) => s.role === 'leader')
      return all.length === 3 && leading !== undefined && all.every((s) => s.reachable && s.lastApplied >= leading.commitIndex) ? true : undefined
    })
    expect((await members([address])).map((m) => [m.id, m.suffrage])).toEqual([[survivor, 'voter'], [4, 'voter'], [5, 'voter']])
    // Every write is readable through the new members too.
    await expectReadable(endpoints.slice(1), written)
  }, 120_000)

  it('refuses while the other members answer and would be a majority with the node: nothing is lost, and nothing is changed', async () => {
    const dir = tempDir('raftlog-recover-')
    const { nodes, leader } = await threeNodesWithWrites(dir, 3)
    const stopped = [1, 2, 3].find((id) => id !== leader)!
    await kill(nodes[stopped - 1]!)
    const refused = await runCli(['recover', join(dir, 'logs', `node_${stopped}`), '--as-new-cluster', '--yes'])
    expect(refused.status).toBe(1)
    const others = [1, 2, 3].filter((id) => id !== stopped)
    expect(refused.stderr).toMatch(new RegExp(`^Error: The majority is not lost: node ${others[0]} at 127\\.0\\.0\\.1:\\d+, node ${others[1]} at 127\\.0\\.0\\.1:\\d+ answer as members of cluster [0-9a-f]{32}, and with node ${stopped} started again 3 of its 3 voters run\\. Start node ${stopped} again`))
    expect(readdirSync(join(dir, 'logs')).filter((name) => name.includes('.recover-'))).toEqual([])
    // One more gone: the node and the one left are still two of three.
    const last = others.find((id) => id !== leader)!
    await kill(nodes[last - 1]!)
    const again = await runCli(['recover', join(dir, 'logs', `node_${stopped}`), '--as-new-cluster', '--yes'])
    expect(again.status).toBe(1)
    expect(again.stderr).toMatch(new RegExp(`^Error: The majority is not lost: node ${leader} at 127\\.0\\.0\\.1:\\d+ answers as a member of cluster [0-9a-f]{32}, and with node ${stopped} started again 2 of its 3 voters run\\.`))
    // All others gone for good: recovered.
    await kill(nodes[leader - 1]!)
    const recovered = await runCli(['recover', join(dir, 'logs', `node_${stopped}`), '--as-new-cluster', '--yes'])
    expect(recovered.status, recovered.stderr).toBe(0)
    expect(recovered.stdout).toContain(`recovered: node ${stopped} is the only member of cluster`)
  }, 60_000)

  it('grows back by log alone: a new member catches up through the old cluster\'s configurations, several AppendEntries long', async () => {
    const dir = tempDir('raftlog-recover-')
    // No snapshot before the log's end and 4 entries per AppendEntries: the new member commits
    // the old cluster's configurations (their token) before it reaches the recovered one.
    const { config, ports, nodes, leader, written } = await threeNodesWithWrites(dir, 12, { max_entries_per_query: 4 })
    const survivor = [1, 2, 3].find((id) => id !== leader)!
    await caughtUp(config, survivor)
    for (const node of nodes) await kill(node)
    const address = `127.0.0.1:${ports[survivor - 1]}`
    await recover(join(dir, 'logs', `node_${survivor}`))
    running.push(startNode(config, survivor))
    await waitFor('the recovered node to lead', async () => ((await statusesAt([address])).find((s) => s.role === 'leader') ? true : undefined))
    const own = `127.0.0.1:${await freePort()}`
    const grown = join(dir, 'grown.yaml')
    const line = (id: number, at: string): string => `  - { node_id: ${id}, ip_address: "127.0.0.1", port: ${at.split(':')[1]} }`
    writeFileSync(grown, readFileSync(config, 'utf8').replace(/^nodes:\n(  - .*\n)+/m, `nodes:\n${[line(survivor, address), line(4, own)].join('\n')}\n`))
    const added = await runCli(['member', 'add', '4', own, '--endpoints', address])
    expect(added.status, added.stderr).toBe(0)
    const joiner = startNode(grown, 4, ['--join', address])
    running.push(joiner)
    await waitFor('node 4 to become a voter', async () => ((await members([address])).find((m) => m.id === 4)?.suffrage === 'voter' ? true : undefined), 30_000)
    await waitFor('node 4 to catch up', async () => {
      const [recovered, joined] = await statusesAt([address, own])
      return joined !== undefined && recovered !== undefined && joined.reachable && joined.lastApplied >= recovered.commitIndex ? true : undefined
    })
    expect(joiner.output.join('\n')).not.toContain('other-cluster')
    await expectReadable([own], written)
  }, 90_000)

  it('recovers a cluster whose configuration names members that never started (added, waiting to vote)', async () => {
    const dir = tempDir('raftlog-recover-phantom-')
    const { config, ports, nodes, leader, written } = await threeNodesWithWrites(dir, 5)
    // Two members added to vote whose machines never start.
    for (const id of [4, 5]) {
      const added = await runCli(['member', 'add', String(id), `127.0.0.1:${await freePort()}`, '--config', config])
      expect(added.status, added.stderr).toBe(0)
    }
    await put(['--config', config], 'after-adds', 'yes')
    written.set('after-adds', 'yes')
    const survivor = leader
    await caughtUp(config, survivor)
    for (const node of nodes) await kill(node)
    const said = await recover(join(dir, 'logs', `node_${survivor}`))
    expect(said).toContain('learners 4, 5')
    const others = [1, 2, 3, 4, 5].filter((id) => id !== survivor)
    expect(said).toContain(`voters ${survivor}, learners none, removed ${others.join(', ')}`)
    const address = `127.0.0.1:${ports[survivor - 1]}`
    running.push(startNode(config, survivor))
    await waitFor('the recovered node to lead', async () => ((await statusesAt([address])).find((s) => s.role === 'leader') ? true : undefined))
    expect((await members([address])).map((m) => [m.id, m.suffrage])).toEqual([[survivor, 'voter']])
    await expectReadable([address], written)
  }, 90_000)

  it('recovers a cluster founded with two voters that never started (it never had a majority)', async () => {
    const dir = tempDir('raftlog-recover-never-')
    const { path: config, ports } = await writeConfig(dir, 3)
    const address = `127.0.0.1:${ports[0]}`
    const only = startNode(config, 1)
    running.push(only)
    // Node 1 stands again and again; nodes 2 and 3 never answer, so no write can be acknowledged.
    await waitFor('node 1 to serve', async () => ((await statusesAt([address])).find((s) => s.reachable) ? true : undefined))
    const refused = await runCli(['kv', 'put', 'k', 'v', '--endpoints', address, '--timeout', '1000'])
    expect(refused.status).not.toBe(0)
    await kill(only)
    const said = await recover(join(dir, 'logs', 'node_1'))
    expect(said).toContain('configuration now (index 1): voters 1, 2, 3, learners none')
    expect(said).toContain('voters 1, learners none, removed 2, 3')
    running.push(startNode(config, 1))
    await waitFor('node 1 to lead alone', async () => ((await statusesAt([address])).find((s) => s.role === 'leader') ? true : undefined))
    await put(['--endpoints', address], 'k', 'v')
    await expectReadable([address], new Map([['k', 'v']]))
  }, 60_000)
})
