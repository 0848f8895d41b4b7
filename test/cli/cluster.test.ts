// End to end: real `raftlog node` processes on 127.0.0.1 talking gRPC, a real client, a leader
// killed with SIGKILL, failover, and a restarted node catching up to identical logs.
import { describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:net'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { alive, exited, startCluster, startNode, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { encodeKvCommand } from '../../src/kv/kv-state-machine.js'

/** A plain TCP server on `port`, so that a node cannot bind it. */
function occupy(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const blocker = createServer()
    blocker.listen(port, '127.0.0.1', () => resolve(blocker))
  })
}

describe('a 3-process cluster over gRPC', () => {
  it('writes, survives the leader being SIGKILLed, and the restarted node catches up to identical logs', async () => {
    const dir = tempDir('raftlog-e2e-')
    const { path: config, ports } = await writeConfig(dir, 3)
    const nodes = new Map([1, 2, 3].map((id) => [id, startNode(config, id)]))
    const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
    for (const [key, value] of [['a', '1'], ['b', '2']]) {
      const put = await runCli(['kv', 'put', key!, value!, '--config', config])
      expect(put.stdout.trim(), put.stderr).toBe('OK')
    }
    expect((await runCli(['kv', 'get', 'a', '--config', config])).stdout.trim()).toBe('1')
    expect(nodes.get(leader.id)!.output.some((line) => line.includes('"event":"election-won"'))).toBe(true)
    const all = await statuses(config)
    expect(Object.keys(all[0]!).sort()).toEqual(['address', 'behind', 'clusterId', 'commitIndex', 'diskBytes', 'diskFull', 'diskFullReason', 'firstIndex', 'id', 'lastApplied', 'lastIndex', 'leaderId', 'logBytes', 'maxLogBytes', 'reachable', 'role', 'suffrage', 'term'])
    // A command no node could apply is refused before it reaches the log (the client's session,
    // opened by a first good command, is the last entry before and after).
    const client = new ClusterClient([`127.0.0.1:${ports[leader.id - 1]}`])
    await client.propose(encodeKvCommand({ op: 'put', key: 'z', value: '26' }), 5000)
    const before = (await statuses(config)).find((s) => s.id === leader.id)!.commitIndex
    await expect(client.propose(new Uint8Array([42, 0]), 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND' })
    client.close()
    expect((await statuses(config)).find((s) => s.id === leader.id)!.commitIndex).toBe(before)

    nodes.get(leader.id)!.child.kill('SIGKILL')
    await exited(nodes.get(leader.id)!.child)
    const next = await waitFor('a new leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader' && s.id !== leader.id))
    expect(next.term).toBeGreaterThan(leader.term)
    expect((await statuses(config)).find((s) => s.id === leader.id)).toMatchObject({ id: leader.id, reachable: false })
    const put = await runCli(['kv', 'put', 'c', '3', '--config', config, '--timeout', '10000'])
    expect(put.stdout.trim(), put.stderr).toBe('OK')
    const cas = await runCli(['kv', 'cas', 'a', '1', 'one', '--config', config, '--json'])
    expect(JSON.parse(cas.stdout)).toEqual({ op: 'cas', key: 'a', ok: true, value: '1' })

    nodes.set(leader.id, startNode(config, leader.id))
    await waitFor('the restarted node caught up', async () => {
      const all = await statuses(config)
      return all.every((s) => s.reachable) && new Set(all.map((s) => s.commitIndex)).size === 1 ? true : undefined
    })
    // Asked first, the restarted follower points the client to the leader.
    const viaFollower = await runCli(['kv', 'get', 'c', '--endpoints', `127.0.0.1:${ports[leader.id - 1]}`])
    expect(viaFollower.stdout.trim(), viaFollower.stderr).toBe('3')

    // Followers first, then the leader: a leader stopped while the others run hands over, and its
    // successor's first entry might reach only some of them before they stop.
    const leaderNow = (await statuses(config)).find((s) => s.role === 'leader')!.id
    const order = [...nodes.keys()].sort((a, b) => Number(a === leaderNow) - Number(b === leaderNow))
    const codes: (number | null)[] = []
    for (const id of order) {
      nodes.get(id)!.child.kill('SIGTERM')
      codes.push(await exited(nodes.get(id)!.child))
    }
    expect(codes).toEqual([0, 0, 0])
    const dumps: string[] = []
    for (const id of [1, 2, 3]) {
      const logDir = join(dir, 'logs', `node_${id}`)
      const verify = await runCli(['verify', logDir])
      expect(verify.status, verify.stdout).toBe(0)
      dumps.push((await runCli(['dump', logDir, '--format', 'json'])).stdout)
    }
    expect(dumps[0]!.split('\n').length).toBeGreaterThan(5)
    expect(dumps[1]).toBe(dumps[0])
    expect(dumps[2]).toBe(dumps[0])
  }, 90_000)

  it('refuses a bad configuration, a missing one, an unknown node and a taken port', async () => {
    const dir = tempDir('raftlog-e2e-')
    const { path: config, ports } = await writeConfig(dir, 3)
    const unknown = await runCli(['node', '--node-id', '99', '--config', config])
    expect([unknown.status, unknown.stderr.trim()]).toEqual([1, `Error: Node ID 99 not found in configuration file ${config} (ids: 1, 2, 3)`])
    const directory = await runCli(['node', '-n', '1', '-c', dir])
    expect([directory.status, directory.stderr]).toEqual([1, `Error: Configuration file ${dir} is a directory, not a YAML file\n`])
    const missing = await runCli(['node', '-n', '1', '-c', 'missing_config.yaml'])
    expect([missing.status, missing.stderr.trim()]).toEqual([1, 'Error: Configuration file not found: missing_config.yaml'])
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: 1 }\n  - { node_id: 1, ip_address: "127.0.0.1", port: 2 }\n')
    expect((await runCli(['node', '-n', '1', '-c', bad])).stderr).toMatch(/Invalid configuration file .*bad\.yaml: nodes\[1\]\.node_id 1 is used twice/)
    writeFileSync(bad, 'nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: 1 }\ncluster_settings:\n  heartbeat_interval: 1500\n')
    expect((await runCli(['node', '-n', '1', '-c', bad])).stderr).toMatch(/cluster_settings\.heartbeat_interval 1500 must be below the election timeout's min \(1000\)/)
    writeFileSync(bad, 'nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: 1, colour: red }\n')
    expect((await runCli(['node', '-n', '1', '-c', bad])).stderr).toMatch(/nodes\[0\]\.colour is not a known setting/)
    writeFileSync(bad, 'nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: 1 }\ncluster_settings:\n  election_timeout_range: { min: 400, max: 200 }\n')
    expect((await runCli(['node', '-n', '1', '-c', bad])).stderr).toMatch(/election_timeout_range min 400 must be below max 200/)

    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(ports[0], '127.0.0.1', resolve))
    try {
      const taken = await runCli(['node', '-n', '1', '-c', config])
      expect([taken.status, taken.stderr.trim()]).toEqual([1, `Error: Failed to bind to 127.0.0.1:${ports[0]} - address already in use`])
    } finally {
      blocker.close()
    }
    const noLeader = await runCli(['kv', 'get', 'x', '--config', config, '--timeout', '700'])
    expect(noLeader.status).toBe(1)
    expect(noLeader.stderr).toMatch(/^Error: no node answered: is the cluster running\? tried 127\.0\.0\.1:/)
    expect((await runCli(['kv', 'frob', 'x'])).status).toBe(2)
    for (const command of ['node', 'cluster', 'kv', 'status']) expect((await runCli([command, '--help'])).stdout).toMatch(new RegExp(`Usage: raftlog ${command}`))
  }, 60_000)

  it('raftlog --version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    for (const flag of ['--version', '-V']) expect(await runCli([flag])).toEqual({ status: 0, stdout: `raftlog ${version}\n`, stderr: '' })
  })
})

describe('raftlog cluster (what npm start runs)', () => {
  it('exits 1 with each node\'s reason when every node fails to start', async () => {
    const dir = tempDir('raftlog-e2e-')
    const { path: config } = await writeConfig(dir, 2)
    // The log directory is a file: no node can make its directory in it.
    writeFileSync(join(dir, 'logs'), 'not a directory')
    const result = await runCli(['cluster', '--config', config], { timeoutMs: 20_000 })
    expect(result.status).toBe(1)
    for (const id of [1, 2]) expect(result.stderr).toContain(`[node ${id}] Error: Cannot create log directory ${join(dir, 'logs', `node_${id}`)}: ENOTDIR`)
    expect(result.stderr).toMatch(/cluster: error: every node has exited/)
  }, 30_000)

  it('refuses to start when a node\'s port is taken (most often: the cluster runs already), before it starts any node', async () => {
    const dir = tempDir('raftlog-e2e-')
    const { path: config, ports } = await writeConfig(dir, 3)
    // A running cluster's nodes answer on those ports: the leader watcher reported that cluster's leader as this one's.
    const blockers = await Promise.all(ports.slice(0, 2).map(occupy))
    try {
      const result = await runCli(['cluster', '--config', config], { timeoutMs: 20_000 })
      expect(result.status).toBe(1)
      expect(result.stderr.trim()).toBe(`Error: node 1's 127.0.0.1:${ports[0]}, node 2's 127.0.0.1:${ports[1]} are in use already: is this cluster running already (\`raftlog status -c ${config}\`)? Stop what listens there, or give the nodes other ports in ${config}`)
      expect(result.stdout).not.toMatch(/starting|leads/)
      expect(existsSync(join(dir, 'logs'))).toBe(false)
    } finally {
      for (const blocker of blockers) blocker.close()
    }
    // Ports freed within a few seconds (a cluster stopped just before, a supervisor starting it again at once): it waits, then starts.
    const late = await Promise.all(ports.slice(0, 2).map(occupy))
    const { child, output } = startCluster(config)
    setTimeout(() => late.forEach((blocker) => blocker.close()), 1000)
    try {
      await waitFor('the cluster to start once the ports are free', async () => (/starting 3 nodes/.test(output.text) ? true : undefined), 15_000)
      expect(output.text).not.toMatch(/in use already/)
    } finally {
      child.kill('SIGINT')
      await exited(child)
    }
  }, 40_000)

  it('leaves no node running when it is killed with SIGKILL', async () => {
    const dir = tempDir('raftlog-e2e-')
    const { path: config } = await writeConfig(dir, 3)
    const { child, output } = startCluster(config)
    await waitFor('a leader line', async () => (/cluster: node \d leads/.test(output.text) ? true : undefined))
    const pids = [...output.text.matchAll(/cluster: node \d is process (\d+)/g)].map((match) => Number(match[1]))
    expect(pids).toHaveLength(3)
    child.kill('SIGKILL')
    await waitFor('every node to stop', async () => (pids.every((pid) => !alive(pid)) ? true : undefined), 10_000)
    // They stopped cleanly: every log opens and verifies.
    for (const id of [1, 2, 3]) expect((await runCli(['verify', join(dir, 'logs', `node_${id}`)])).status).toBe(0)
  }, 30_000)

  it('starts every node, reports the leader, serves clients and stops them all on SIGINT', async () => {
    const dir = tempDir('raftlog-e2e-')
    const { path: config } = await writeConfig(dir, 3)
    const { child, output: captured } = startCluster(config)
    await waitFor('a leader line', async () => (/cluster: node \d leads \(term \d+\)/.test(captured.text) ? true : undefined))
    expect((await runCli(['kv', 'put', 'k', 'v', '--config', config])).stdout.trim()).toBe('OK')
    child.kill('SIGINT')
    expect(await exited(child)).toBe(0)
    const output = captured.text
    expect(output).toMatch(/stopping every node/)
    expect(output.match(/\[node \d\] node \d stopped/g)?.length).toBe(3)
    // Text status lines on a terminal: the winner says so, the others name their leader.
    expect(output).toMatch(/\[node \d\] election won: leader for term \d+/)
    expect(output).toMatch(/\[node \d\] leader is node \d \(term \d+\)/)
  }, 60_000)
})
