// raftlog's coordination commands against three real `raftlog node` processes, as a user types
// them: lease grant / ttl / keep-alive / revoke / list, watch (live and from a revision), lock with
// a command (two competing holders never overlap, each gets a larger fencing token) and elect
// with a listener.
import { describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { exited, waitFor } from '../helpers/processes.js'
import { cliPath, runCli } from '../helpers/cli.js'
import { clusterForFile } from '../helpers/file-cluster.js'

const cluster = clusterForFile('raftlog-coordination-')

/** `raftlog COMMAND --config FILE ARGS...`: the configuration before a `--` that starts a command to run. */
const withConfig = ([command, ...rest]: string[]): string[] => [command as string, '--config', cluster.config, ...rest]
const raftlog = (...args: string[]) => runCli(withConfig(args))

/** A long-running `raftlog` command, its output gathered as it comes. */
function running(...args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cliPath, ...withConfig(args)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return { child, output: () => output }
}

describe('raftlog lease', () => {
  it('grants, tells the TTL, keeps alive once, lists and revokes', async () => {
    const granted = await raftlog('lease', 'grant', '60')
    expect(granted.stdout).toMatch(/^lease [0-9a-f]+ granted with TTL\(60s\)\n$/)
    const id = (granted.stdout.split(' ')[1]) as string
    expect((await raftlog('lease', 'ttl', id)).stdout).toMatch(new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\)`))
    expect((await raftlog('lease', 'keep-alive', id, '--once')).stdout.trim()).toBe(`lease ${id} keepalived with TTL(60)`)
    expect((await raftlog('lease', 'list')).stdout).toContain(id)
    expect((await raftlog('lease', 'revoke', id)).stdout.trim()).toBe(`lease ${id} revoked`)
    const after = await raftlog('lease', 'ttl', id)
    expect([after.status, after.stderr.trim()]).toEqual([1, `lease ${id} already expired`])
  })

  it('puts a key on a lease with kv put --lease; revoking the lease deletes it', async () => {
    const id = ((await raftlog('lease', 'grant', '60')).stdout.split(' ')[1]) as string
    expect((await raftlog('kv', 'put', 'leased/k', 'v', '--lease', id)).stdout.trim()).toBe('OK')
    expect((await raftlog('lease', 'ttl', id, '--keys')).stdout).toContain('attached keys([leased/k])')
    await raftlog('lease', 'revoke', id)
    const gone = await raftlog('kv', 'get', 'leased/k')
    expect([gone.status, gone.stderr.trim()]).toEqual([1, '(absent) leased/k'])
    const noLease = await raftlog('kv', 'put', 'leased/k', 'v', '--lease', id)
    expect([noLease.status, noLease.stderr]).toEqual([1, expect.stringContaining('not found')])
  })

  it('says what is wrong with a bad lease id, and with a lease that is gone', async () => {
    const bad = await raftlog('lease', 'revoke', 'xyz')
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining("must be hexadecimal, as lease grant prints it")])
    const gone = await raftlog('lease', 'keep-alive', 'abc')
    expect([gone.status, gone.stderr]).toEqual([1, expect.stringContaining('Lease abc not found')])
  })
})

describe('raftlog watch', () => {
  it('prints changes as they happen, and replays from a revision', async () => {
    const watcher = running('watch', 'cfg/', '--prefix', '--prev-kv')
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      await raftlog('kv', 'put', 'cfg/a', '1')
      await raftlog('kv', 'put', 'cfg/a', '2')
      await raftlog('kv', 'delete', 'cfg/a')
      await waitFor('three events', async () => (watcher.output().includes('DELETE') ? true : undefined), 10_000)
      expect(watcher.output()).toBe('PUT\ncfg/a\n1\nPUT\ncfg/a\n1\n2\nDELETE\ncfg/a\n2\n')
    } finally {
      watcher.child.kill('SIGINT')
      expect(await exited(watcher.child)).toBe(0)
    }
    const replay = running('watch', 'cfg/a', '--rev', '1', '--json')
    try {
      await waitFor('the replay', async () => (replay.output().split('\n').length > 3 ? true : undefined), 10_000)
      expect(replay.output().trim().split('\n').map((line) => (JSON.parse(line) as { type: string; value: string }).value)).toEqual(['1', '2', ''])
    } finally {
      replay.child.kill('SIGINT')
      await exited(replay.child)
    }
  })
})

describe('raftlog lock and elect', () => {
  it('runs two competing commands one after the other, each with a larger fencing token', async () => {
    const script = (name: string) => `echo ${name}-start $RAFTLOG_FENCING_TOKEN; sleep 1; echo ${name}-end`
    const first = running('lock', 'jobs', '--ttl', '5', '--', 'sh', '-c', script('first'))
    await waitFor('the first holder to start', async () => (first.output().includes('first-start') ? true : undefined), 10_000)
    const second = running('lock', 'jobs', '--ttl', '5', '--', 'sh', '-c', script('second'))
    expect(await exited(first.child)).toBe(0)
    expect(await exited(second.child)).toBe(0)
    const token = (output: string, name: string) => Number((new RegExp(`${name}-start (\\d+)`).exec(output) as RegExpExecArray)[1])
    // The second started after the first ended: it was waiting for the lock, not running beside it.
    expect(second.output()).toMatch(/^second-start \d+\nsecond-end\n$/)
    expect(token(second.output(), 'second')).toBeGreaterThan(token(first.output(), 'first'))
  })

  it('passes the command\'s exit status through', async () => {
    const result = await raftlog('lock', 'status', '--', 'sh', '-c', 'exit 7')
    expect(result.status).toBe(7)
  })

  it('elects one campaigner, then the next when it stops; --listen sees both', async () => {
    const alpha = running('elect', 'sched', 'alpha', '--ttl', '5')
    await waitFor('alpha to lead', async () => (alpha.output().includes('fencing token') ? true : undefined), 10_000)
    const beta = running('elect', 'sched', 'beta', '--ttl', '5')
    const listener = running('elect', 'sched', '--listen')
    await waitFor('the listener to see alpha', async () => (listener.output().includes('alpha') ? true : undefined), 10_000)
    expect(beta.output()).toBe('')
    alpha.child.kill('SIGINT')
    expect(await exited(alpha.child)).toBe(0)
    await waitFor('beta to lead', async () => (beta.output().includes('fencing token') ? true : undefined), 10_000)
    await waitFor('the listener to see beta', async () => (listener.output().includes('beta') ? true : undefined), 10_000)
    for (const process of [beta, listener]) process.child.kill('SIGINT')
    await Promise.all([exited(beta.child), exited(listener.child)])
  })
})
