// `raftlog status` (--json, --watch) and `raftlog dashboard` against three real `raftlog node`
// processes, as a script or a person at a terminal uses them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { get as httpGet } from 'node:http'
import { join } from 'node:path'
import { cliPath, runCli } from '../helpers/cli.js'
import { exited, freePort, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { formatBytes } from '../../src/cli/format-bytes.js'

let dir: string
let config: string
const nodes = new Map<number, NodeProcess>()

beforeAll(async () => {
  // Not tempDir(): its cleanup runs after each test, and these nodes live for the whole file.
  dir = mkdtempSync(join(tmpdir(), 'raftlog-status-'))
  config = (await writeConfig(dir, 3)).path
  for (const id of [1, 2, 3]) nodes.set(id, startNode(config, id))
  await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
  expect((await runCli(['kv', 'put', 'k', 'v', '--config', config])).stdout.trim()).toBe('OK')
})

afterAll(async () => {
  for (const node of nodes.values()) node.child.kill('SIGTERM')
  await Promise.all([...nodes.values()].map((node) => exited(node.child)))
  rmSync(dir, { recursive: true, force: true })
})

/** The status of GET /api/cluster on 127.0.0.1:port sent with Host: `host`. */
function statusWithHost(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpGet({ host: '127.0.0.1', port, path: '/api/cluster', headers: { host } }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.on('error', reject)
  })
}

/** `raftlog <args>` left running, its output gathered. */
function running(args: string[]): { child: ReturnType<typeof spawn>; output: { text: string } } {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = { text: '' }
  child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()))
  return { child, output }
}

describe('raftlog status', () => {
  it('--json has every field the text shows', async () => {
    const text = await runCli(['status', '--config', config])
    const json = await runCli(['status', '--config', config, '--json'])
    expect([text.status, json.status]).toEqual([0, 0])
    const nodesJson = JSON.parse(json.stdout) as Record<string, number | string | boolean>[]
    const lines = text.stdout.trim().split('\n')
    expect(nodesJson).toHaveLength(3)
    nodesJson.forEach((node, i) => {
      expect(Object.keys(node).sort()).toEqual(['address', 'behind', 'clusterId', 'commitIndex', 'diskBytes', 'diskFull', 'diskFullReason', 'firstIndex', 'id', 'lastApplied', 'lastIndex', 'leaderId', 'logBytes', 'maxLogBytes', 'reachable', 'role', 'suffrage', 'term'])
      expect(node.suffrage).toBe('voter')
      expect([node.diskFull, node.diskFullReason, node.maxLogBytes]).toEqual([false, '', 0])
      expect(node.diskBytes).toBeGreaterThan(1048576)
      // Both were asked a moment apart: the fields that cannot move between the two agree.
      expect(lines[i]).toMatch(new RegExp(`^node ${node.id} ${node.address}: ${node.role} \\(voter${node.role === 'leader' ? '' : ', \\d+ behind'}\\), term ${node.term}, leader \\d+, commit \\d+, applied \\d+, log ${node.firstIndex}\\.\\.\\d+, disk ${formatBytes(node.diskBytes as number).replace('.', '\\.')}$`))
    })
  })

  it('--watch prints a refresh after another when stdout is not a terminal, and stops on Ctrl-C', async () => {
    const { child, output } = running(['status', '--config', config, '--watch'])
    await waitFor('two refreshes', async () => ((output.text.match(/^--- /gm)?.length ?? 0) >= 2 ? true : undefined))
    child.kill('SIGINT')
    expect(await exited(child)).toBe(0)
    const frames = output.text.split(/^--- .*\n/m).filter((frame) => frame !== '')
    for (const frame of frames) expect(frame.trim().split('\n').map((line) => line.slice(0, 7))).toEqual(['node 1 ', 'node 2 ', 'node 3 '])
    expect(output.text).not.toContain('\x1b[')
  })

  it('--watch --json prints one JSON line per refresh', async () => {
    const { child, output } = running(['status', '--config', config, '--watch', '--json'])
    await waitFor('two refreshes', async () => (output.text.split('\n').length > 2 ? true : undefined))
    child.kill('SIGINT')
    expect(await exited(child)).toBe(0)
    for (const line of output.text.trim().split('\n')) {
      const refresh = JSON.parse(line) as { time: string; nodes: { id: number; reachable: boolean }[] }
      expect(refresh.nodes.map((node) => [node.id, node.reachable])).toEqual([[1, true], [2, true], [3, true]])
      expect(Number.isNaN(Date.parse(refresh.time))).toBe(false)
    }
  })

  it('--watch redraws the table in place on a terminal', async () => {
    // script(1) gives the command a terminal; timeout(1) presses Ctrl-C for us after a while.
    const command = `timeout -s INT 4 ${process.execPath} ${cliPath} status --config ${config} --watch`
    const terminal = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let screen = ''
    terminal.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()))
    await exited(terminal)
    // Cursor home, then the table over the old one: one home per refresh, no scrolling headers.
    expect(screen.split('\x1b[H').length - 1).toBeGreaterThanOrEqual(2)
    expect(screen).toContain('(Ctrl-C to stop)')
    expect(screen).toMatch(/node 3 127\.0\.0\.1:\d+: (leader|follower)/)
    expect(screen).not.toMatch(/^--- /m)
  })

  it('shows an unreachable node with the reason, in text and in JSON', async () => {
    const victim = nodes.get(3)!
    victim.child.kill('SIGKILL')
    await exited(victim.child)
    nodes.delete(3)
    const json = JSON.parse((await runCli(['status', '--config', config, '--json', '--timeout', '1000'])).stdout) as Record<string, unknown>[]
    expect(json[2]).toEqual({ id: 3, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/), reachable: false, suffrage: 'voter', error: 'not running: nothing listens at that address (ECONNREFUSED)' })
    const text = await runCli(['status', '--config', config, '--timeout', '1000'])
    expect(text.stdout.trim().split('\n')[2]).toBe(`node 3 ${json[2]!.address}: unreachable (${json[2]!.error})`)
  })
})

describe('raftlog dashboard', () => {
  it('serves the page, Chart.js and the cluster as JSON, and stops on Ctrl-C', async () => {
    const { child, output } = running(['dashboard', '--config', config, '--port', '0'])
    const url = await waitFor('the URL', async () => /^dashboard of .* at (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C to stop\)$/m.exec(output.text)?.[1])
    const page = await fetch(url)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await page.text()
    expect(html).toContain('<canvas id="rates">')
    expect(html).toContain('<script src="/chart.js">')
    const chart = await fetch(new URL('/chart.js', url))
    expect([chart.status, (await chart.text()).length]).toEqual([200, expect.any(Number)])
    const view = await waitFor('a leader on the page', async () => {
      const answer = (await (await fetch(new URL('/api/cluster', url))).json()) as { leader: { id: number } | null; nodes: { id: number }[] }
      return answer.leader === null ? undefined : answer
    })
    expect(view.nodes.map((node) => node.id)).toEqual([1, 2, 3])
    child.kill('SIGINT')
    expect(await exited(child)).toBe(0)
  })

  it('answers only a Host header that names this machine (no DNS rebinding), and warns when it serves beyond loopback', async () => {
    const { child, output } = running(['dashboard', '--config', config, '--port', '0', '--host', '0.0.0.0'])
    try {
      const port = Number(await waitFor('the URL', async () => /^dashboard of .* at http:\/\/0\.0\.0\.0:(\d+)\/ \(Ctrl-C to stop\)$/m.exec(output.text)?.[1]))
      // The warning goes to stderr, the URL to stdout: two pipes, so either may arrive first.
      await waitFor('the warning', async () => (/^warning: the status page serves 0\.0\.0\.0, which other machines may reach: anyone who can connect reads every node's status/m.test(output.text) ? true : undefined))
      // A page of evil.example whose name now resolves to this machine: the browser sends its name.
      expect(await statusWithHost(port, 'evil.example')).toBe(403)
      expect(await statusWithHost(port, `evil.example:${port}`)).toBe(403)
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${hostname()}:${port}`, '10.1.2.3']) expect(await statusWithHost(port, host)).toBe(200)
    } finally {
      child.kill('SIGINT')
    }
    expect(await exited(child)).toBe(0)
    // The default bind, 127.0.0.1, says nothing.
    const quiet = running(['dashboard', '--config', config, '--port', '0'])
    await waitFor('the URL', async () => (quiet.output.text.includes('Ctrl-C to stop') ? true : undefined))
    quiet.child.kill('SIGINT')
    expect(await exited(quiet.child)).toBe(0)
    expect(quiet.output.text).not.toMatch(/warning/)
  })

  it('says so in one line when its port is taken or not a port', async () => {
    const port = await freePort()
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    try {
      const taken = await runCli(['dashboard', '--config', config, '--port', String(port)])
      expect([taken.status, taken.stderr.trim()]).toEqual([1, `Error: Failed to bind the dashboard to 127.0.0.1:${port} - address already in use`])
    } finally {
      blocker.close()
    }
    const bad = await runCli(['dashboard', '--config', config, '--port', 'eighty'])
    expect([bad.status, bad.stderr.split('\n')[0]]).toEqual([2, "Error: --port must be a port number from 0 to 65535, got 'eighty'"])
    expect((await runCli(['dashboard', '--help'])).stdout).toMatch(/^Usage: raftlog dashboard/)
  })
})
