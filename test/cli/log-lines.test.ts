// The log lines of `raftlog node` and `raftlog cluster`, as a person and a log collector read
// them: timestamps, JSON with --log-format json, "serving" only once a node has bound its port,
// the warning when no majority runs, and pre-vote lines that never make the term seem to go back.
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliPath, runCli } from '../helpers/cli.js'
import { exited, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

const timestamp = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`

/** `raftlog cluster` with extra options, its output gathered. */
function cluster(config: string, options: string[]): { child: ReturnType<typeof spawn>; output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [cliPath, 'cluster', '--config', config, '--dashboard-port', '0', ...options], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = { stdout: '', stderr: '' }
  child.stdout!.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()))
  return { child, output }
}

describe('raftlog cluster log lines', () => {
  it('says "serving" only for nodes that bound their port, and warns when no majority runs', async () => {
    const dir = tempDir('raftlog-logs-')
    const { path: config, ports } = await writeConfig(dir, 3)
    // Nodes 2 and 3 cannot make their directories (a file is in the way): they exit before they
    // bind. (A port taken before the start is refused by raftlog cluster itself: cluster.test.ts.)
    mkdirSync(join(dir, 'logs'))
    for (const id of [2, 3]) writeFileSync(join(dir, 'logs', `node_${id}`), 'not a directory')
    const { child, output } = cluster(config, [])
    await waitFor('the quorum warning', async () => (output.stderr.includes('no quorum') && output.stdout.includes('serving') ? true : undefined))
    expect(output.stderr).toMatch(new RegExp(`^${timestamp} cluster: warning: no quorum: 1 of 3 nodes running$`, 'm'))
    expect(output.stdout).toMatch(new RegExp(`^${timestamp} cluster: node 1 serving 127\\.0\\.0\\.1:${ports[0]}$`, 'm'))
    expect(output.stdout).not.toMatch(/node [23] serving/)
    expect(output.stderr).toMatch(new RegExp(`^${timestamp} \\[node 2\\] Error: .*node_2`, 'm'))
    // Every line, the cluster's and the nodes', starts with its time.
    for (const line of `${output.stdout}${output.stderr}`.trim().split('\n')) expect(line).toMatch(new RegExp(`^${timestamp} (cluster:|\\[node \\d\\]) `))
    child.kill('SIGINT')
    expect(await exited(child)).toBe(0)
  }, 30_000)

  it('writes JSON lines with --log-format json, and pre-vote lines keep the term from going back', async () => {
    const dir = tempDir('raftlog-logs-')
    const { path: config } = await writeConfig(dir, 3)
    const { child, output } = cluster(config, ['--log-format', 'json'])
    await waitFor('a leader', async () => (output.stdout.includes('"event":"leader"') ? true : undefined))
    // A transfer's election has no pre-vote, and its line says so.
    const transfer = await runCli(['transfer-leader', '--config', config])
    expect(transfer.status, transfer.stderr).toBe(0)
    await waitFor('the transfer candidate line', async () => (output.stdout.includes('the leader handed leadership over (no pre-vote)') ? true : undefined))
    child.kill('SIGINT')
    expect(await exited(child)).toBe(0)
    const records = output.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    for (const record of records) {
      expect(record).toMatchObject({ level: expect.stringMatching(/^(info|warn|error)$/), time: expect.stringMatching(new RegExp(`^${timestamp}$`)), event: expect.any(String), message: expect.any(String) })
    }
    const clusterRecords = records.filter((r) => r.source === 'cluster')
    expect(clusterRecords.filter((r) => r.event === 'serving').map((r) => r.nodeId)).toEqual(expect.arrayContaining([1, 2, 3]))
    expect(clusterRecords.some((r) => r.event === 'dashboard' && /^http:\/\/127\.0\.0\.1:\d+\/$/.test(r.url as string))).toBe(true)
    for (const id of [1, 2, 3]) {
      const lines = records.filter((r) => r.nodeId === id && r.source === undefined)
      expect(lines.map((r) => r.event)).toEqual(expect.arrayContaining(['starting', 'serving', 'started', 'stopping', 'stopped']))
      // A candidate's line is its pre-vote, said in the term the node is in; and the term a
      // node's lines name first never goes back.
      for (const preVote of lines.filter((r) => r.event === 'pre-vote')) expect(preVote.message).toMatch(new RegExp(`^pre-vote: no leader heard in term ${preVote.term}; asking the others before campaigning for term ${(preVote.term as number) + 1}$`))
      // A candidate's line names the term it stands in.
      for (const candidate of lines.filter((r) => r.event === 'candidate')) expect(candidate.message).toMatch(new RegExp(`^candidate for term ${candidate.term}: (asking for votes|the leader handed leadership over \\(no pre-vote\\))$`))
      const terms = lines.map((r) => /term (\d+)/.exec(r.message as string)).filter((m) => m !== null).map((m) => Number(m[1]))
      expect(terms).toEqual([...terms].sort((a, b) => a - b))
    }
    expect(records.some((r) => r.event === 'pre-vote')).toBe(true)
  }, 30_000)

  it('refuses an unknown log format and a bad dashboard port', async () => {
    const dir = tempDir('raftlog-logs-')
    const { path: config } = await writeConfig(dir, 1)
    for (const [args, message] of [
      [['--log-format', 'xml'], "Error: --log-format must be text or json, got 'xml'"],
      [['--dashboard-port', '70000'], "Error: --dashboard-port must be a port number from 0 to 65535, got '70000'"],
    ] as const) {
      const { child, output } = cluster(config, [...args])
      expect(await exited(child)).toBe(2)
      expect(output.stderr.split('\n')[0]).toBe(message)
    }
  })
})

describe('raftlog node log lines', () => {
  it('start with their time in text, and say when the node serves', async () => {
    const dir = tempDir('raftlog-logs-')
    const { path: config, ports } = await writeConfig(dir, 1)
    const child = spawn(process.execPath, [cliPath, 'node', '-n', '1', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    await waitFor('the election', async () => (stdout.includes('election won') ? true : undefined))
    child.kill('SIGTERM')
    expect(await exited(child)).toBe(0)
    expect(stdout).toMatch(new RegExp(`^${timestamp} \\[node 1\\] serving Raft and clients at 127\\.0\\.0\\.1:${ports[0]}$`, 'm'))
    for (const line of stdout.trim().split('\n')) expect(line).toMatch(new RegExp(`^${timestamp} \\[node 1\\] `))
  })
})
