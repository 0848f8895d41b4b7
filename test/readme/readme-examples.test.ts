// The README's embedding examples, taken from README.md as written and run as a user runs them:
// in a project of their own whose node_modules/raftlog is this package, with public imports only.
import { describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exited, freePort, startNode, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** The code block after `<!-- example: NAME -->` in README.md. */
function example(name: string): string {
  const match = new RegExp(`<!-- example: ${name.replace('.', '\\.')} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\`\\n`).exec(readme)
  if (match === null) throw new Error(`README.md has no example ${name}`)
  return `${match[1]}\n`
}

/** A user's project: raftlog installed (a link to this package), its own temporary directory. */
function project(files: Record<string, string>): { dir: string; tmp: string } {
  const dir = tempDir('raftlog-readme-')
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'raftlog'), 'dir')
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  const tmp = join(dir, 'tmp')
  mkdirSync(tmp)
  return { dir, tmp }
}

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

function run(dir: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

describe('README: Embedding the log', () => {
  it('prints what its comments say, the same on a second run, and leaves no directory behind', async () => {
    const { dir, tmp } = project({ 'log.js': example('log.js') })
    const expected = '1 2 1\nset x = 1\n[ 1, 2 ]\n1\n'
    for (let i = 0; i < 2; i++) {
      const result = await run(dir, ['log.js'], { TMPDIR: tmp })
      expect([result.status, result.stdout], result.stderr).toEqual([0, expected])
    }
    expect(readdirSync(tmp)).toEqual([])
  })
})

describe('README: Embedding a Raft node in one process', () => {
  it('prints what its comments say and removes its temporary directory', async () => {
    const { dir, tmp } = project({ 'in-process.js': example('in-process.js') })
    const result = await run(dir, ['in-process.js'], { TMPDIR: tmp })
    expect(result.status, result.stderr).toBe(0)
    const [first, second, notLeader] = result.stdout.split('\n')
    expect([first, second]).toEqual(['5', '12'])
    expect(notLeader).toMatch(/^ERR_NOT_LEADER [123]$/)
    expect(result.stdout).toMatch(/role: 'leader'/)
    expect(readdirSync(tmp)).toEqual([])
  })
})

describe('README: Reads and client sessions', () => {
  it('applies a retried command once, answers a plain command, reads on a follower, and removes its directory', async () => {
    const { dir, tmp } = project({ 'sessions.js': example('sessions.js') })
    const result = await run(dir, ['sessions.js'], { TMPDIR: tmp })
    expect([result.status, result.stdout], result.stderr).toEqual([0, '5\n5\n7\n7\n'])
    expect(readdirSync(tmp)).toEqual([])
  })
})

describe('README: the fencing token (Using raftlog as a coordination service)', () => {
  it('lets the first and second holders write and refuses the stale first holder', async () => {
    const { dir } = project({})
    const { path: config, ports } = await writeConfig(dir, 3)
    const nodes = [1, 2, 3].map((id) => startNode(config, id))
    try {
      await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
      // The README's quick-start ports, swapped for free ones: tests run side by side.
      const code = example('fencing.js').replace(/127\.0\.0\.1:1800([123])/g, (_all, n: string) => `127.0.0.1:${ports[Number(n) - 1]}`)
      writeFileSync(join(dir, 'fencing.js'), code)
      const result = await run(dir, ['fencing.js'])
      const expected = code.split('\n').filter((line) => line.startsWith('// ') && line.includes('writes:')).map((line) => line.slice(3))
      expect([result.status, result.stdout.trim().split('\n')], result.stderr).toEqual([0, expected])
      expect(expected).toHaveLength(3)
    } finally {
      for (const node of nodes) node.child.kill('SIGKILL')
      await Promise.all(nodes.map((node) => exited(node.child)))
    }
  })
})

describe('README: a counter service on three processes (raftlog/net)', () => {
  it('runs as written: three nodes, a client that adds and reads, a clean stop, a restart that remembers', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    // The README's ports, swapped for free ones: tests run side by side.
    const yaml = example('counter.yaml').replace(/port: 1900([123])/g, (_all, n: string) => `port: ${ports[Number(n) - 1]}`)
    const { dir } = project({ 'counter.yaml': yaml, 'counter.js': example('counter.js') })
    const started: { child: ChildProcess; output: string[] }[] = []
    const serve = async (): Promise<void> => {
      started.length = 0
      for (const id of [1, 2, 3]) {
        const child = spawn(process.execPath, ['counter.js', 'serve', String(id)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
        const output: string[] = []
        child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()))
        child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()))
        started.push({ child, output })
      }
      for (const [i, node] of started.entries()) {
        await waitFor(`node ${i + 1} serving`, async () => (node.output.join('').includes(`node ${i + 1} serving 127.0.0.1:${ports[i]}`) ? true : undefined))
      }
    }
    const stop = async (): Promise<(number | null)[]> => {
      for (const node of started) node.child.kill('SIGTERM')
      return Promise.all(started.map((node) => exited(node.child)))
    }
    try {
      await serve()
      const client = (...args: string[]) => run(dir, ['counter.js', ...args])
      expect((await client('add', '5')).stdout).toBe('5\n')
      expect((await client('add', '7')).stdout).toBe('12\n')
      expect((await client('total')).stdout).toBe('12\n')
      const refused = await client('add', 'x')
      expect([refused.status, refused.stdout]).toEqual([1, ''])
      expect(refused.stderr).toMatch(/^ERR_BAD_COMMAND: 127\.0\.0\.1:\d+ refused the command: a command is a whole number\n$/)
      expect(await stop()).toEqual([0, 0, 0])
      await serve()
      expect((await client('total')).stdout).toBe('12\n')
      expect(readdirSync(join(dir, 'counter_logs')).sort()).toEqual(['node_1', 'node_2', 'node_3'])
    } finally {
      await stop()
    }
  }, 60_000)
})

describe('README: Crash-recovery testing', () => {
  it("the snapshot rounds' sample report holds the figures the same seed prints", { timeout: 60_000 }, async () => {
    const block = /npx raftlog crash-test --rounds 8 --mode snapshot --seed 2026`[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBeDefined()
    const figures = (text: string): string[] => text.split('\n').filter((line) => /^ {2}(rounds|killed in|acknowledged|restored state|violations):/.test(line))
    const tmp = tempDir('raftlog-readme-crash-')
    const result = await run(root, [join(root, 'dist', 'cli', 'main.js'), 'crash-test', '--rounds', '8', '--mode', 'snapshot', '--seed', '2026', '--dir', join(tmp, 'node')])
    expect(result.status, result.stdout + result.stderr).toBe(0)
    expect(figures(result.stdout)).toEqual(figures(block!))
    expect(figures(block!)).toHaveLength(5)
  })
})

