// etcdctl 3.4 (Debian's etcd-client, /usr/bin/etcdctl) against three real `raftlog node`
// processes: the commands people type, with etcdctl's own output. Writes go to a follower's
// endpoint on purpose: the node forwards them to its leader (etcdctl does not follow redirects).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exited, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'

const etcdctlPath = '/usr/bin/etcdctl'

interface Result {
  status: number | null
  stdout: string
  stderr: string
}

/** `ETCDCTL_API=3 etcdctl --endpoints=ENDPOINTS args`, `input` on its standard input. */
function etcdctl(endpoints: string, args: string[], input = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(etcdctlPath, [`--endpoints=${endpoints}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(input)
  })
}

let dir: string
let ports: number[]
const nodes: NodeProcess[] = []
let all: string
let follower: string

beforeAll(async () => {
  if (!existsSync(etcdctlPath)) throw new Error(`${etcdctlPath} is missing: install Debian's etcd-client (apt-get install -y etcd-client), as .ci/run does`)
  dir = mkdtempSync(join(tmpdir(), 'raftlog-etcd-api-'))
  let config: string
  ;({ path: config, ports } = await writeConfig(dir, 3))
  for (const id of [1, 2, 3]) nodes.push(startNode(config, id))
  const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
  all = ports.map((port) => `127.0.0.1:${port}`).join(',')
  follower = `127.0.0.1:${ports[leader.id === 1 ? 1 : 0]}`
})

afterAll(async () => {
  for (const node of nodes) node.child.kill('SIGKILL')
  await Promise.all(nodes.map((node) => exited(node.child)))
  rmSync(dir, { recursive: true, force: true })
})

interface JsonRange {
  header: { cluster_id: number; member_id: number; revision: number; raft_term: number }
  kvs?: { key: string; value: string; create_revision: number; mod_revision: number; version: number }[]
  count?: number
}
const b64 = (text: string): string => Buffer.from(text).toString('base64')

describe('etcdctl against raftlog', () => {
  it('puts through a follower and gets with revisions (--write-out=json), at an older --rev too', async () => {
    expect(await etcdctl(follower, ['put', 'greeting', 'hello'])).toMatchObject({ status: 0, stdout: 'OK\n' })
    expect(await etcdctl(follower, ['put', 'greeting', 'hi'])).toMatchObject({ status: 0, stdout: 'OK\n' })
    expect((await etcdctl(all, ['get', 'greeting'])).stdout).toBe('greeting\nhi\n')
    const json = JSON.parse((await etcdctl(all, ['get', 'greeting', '--write-out=json'])).stdout) as JsonRange
    const kv = json.kvs?.[0]
    expect(kv).toMatchObject({ key: b64('greeting'), value: b64('hi'), version: 2 })
    expect(kv?.mod_revision).toBe((kv?.create_revision ?? 0) + 1)
    expect(json.header.revision).toBe(kv?.mod_revision)
    expect(json.header.raft_term).toBeGreaterThan(0)
    expect((await etcdctl(all, ['get', 'greeting', `--rev=${kv?.create_revision}`])).stdout).toBe('greeting\nhello\n')
  })

  it('gets and deletes by prefix', async () => {
    for (const [key, value] of [['app/a', '1'], ['app/b', '2'], ['apple', '3']]) expect((await etcdctl(follower, ['put', key as string, value as string])).stdout).toBe('OK\n')
    expect((await etcdctl(all, ['get', 'app/', '--prefix'])).stdout).toBe('app/a\n1\napp/b\n2\n')
    expect((await etcdctl(all, ['get', 'app/', '--prefix', '--keys-only'])).stdout).toBe('app/a\n\napp/b\n\n')
    expect(JSON.parse((await etcdctl(all, ['get', 'app', '--prefix', '--limit=1', '--write-out=json'])).stdout)).toMatchObject({ kvs: [{ key: b64('app/a') }], more: true, count: 3 })
    expect((await etcdctl(all, ['get', 'app', '--prefix', '--sort-by=VALUE', '--order=DESCEND'])).stdout).toBe('apple\n3\napp/b\n2\napp/a\n1\n')
    expect((await etcdctl(follower, ['del', 'apple'])).stdout).toBe('1\n')
    expect((await etcdctl(follower, ['del', 'app/', '--prefix'])).stdout).toBe('2\n')
    expect((await etcdctl(all, ['get', 'app', '--prefix'])).stdout).toBe('')
  })

  it('runs a transaction read from standard input, atomically', async () => {
    await etcdctl(follower, ['put', 'lock', 'free'])
    const taken = await etcdctl(follower, ['txn'], 'value("lock") = "free"\n\nput lock mine\nput owner me\n\nget lock\n\n')
    expect(taken).toMatchObject({ status: 0, stdout: 'SUCCESS\n\nOK\n\nOK\n' })
    const json = JSON.parse((await etcdctl(all, ['get', 'lock', '--write-out=json'])).stdout) as JsonRange
    const owner = JSON.parse((await etcdctl(all, ['get', 'owner', '--write-out=json'])).stdout) as JsonRange
    // Both writes at one revision.
    expect(owner.kvs?.[0]?.mod_revision).toBe(json.kvs?.[0]?.mod_revision)
    const refused = await etcdctl(follower, ['txn'], 'value("lock") = "free"\n\nput lock again\n\nget lock\n\n')
    expect(refused.stdout).toBe('FAILURE\n\nlock\nmine\n')
  })

  it('compacts: the compacted revision still reads, older ones are refused in etcd\'s words', async () => {
    await etcdctl(follower, ['put', 'history', 'v1'])
    const second = JSON.parse((await etcdctl(follower, ['put', 'history', 'v2', '--write-out=json'])).stdout) as JsonRange
    await etcdctl(follower, ['put', 'history', 'v3'])
    const revision = second.header.revision
    expect(await etcdctl(follower, ['compaction', String(revision)])).toMatchObject({ status: 0, stdout: `compacted revision ${revision}\n` })
    expect((await etcdctl(all, ['get', 'history', `--rev=${revision}`])).stdout).toBe('history\nv2\n')
    const old = await etcdctl(all, ['get', 'history', `--rev=${revision - 1}`])
    expect(old.status).not.toBe(0)
    expect(old.stderr).toContain('Error: etcdserver: mvcc: required revision has been compacted')
  })

  it('shows endpoint status and the member list', async () => {
    const status = await etcdctl(all, ['endpoint', 'status'])
    expect(status.status).toBe(0)
    expect(status.stdout.trim().split('\n')).toHaveLength(3)
    expect(status.stdout).toContain('3.4.0+raftlog.')
    const members = await etcdctl(follower, ['member', 'list'])
    expect(members.stdout.trim().split('\n').map((line) => line.split(', ').slice(0, 3))).toEqual([1, 2, 3].map((id) => [String(id), 'started', `node_${id}`]))
  })

  it('answers UNIMPLEMENTED, saying so, for what raftlog does not serve yet', async () => {
    const alarms = await etcdctl(follower, ['alarm', 'list'])
    expect(alarms.status).not.toBe(0)
    expect(alarms.stderr).toContain('Unimplemented desc = raftlog does not serve etcdserverpb.Maintenance/Alarm yet')
  })

  it('grants a lease, puts with it, shows its TTL and keys, and revokes it with its keys', async () => {
    const granted = await etcdctl(follower, ['lease', 'grant', '60'])
    expect(granted.stdout).toMatch(/^lease [0-9a-f]+ granted with TTL\(60s\)/)
    const id = (/^lease ([0-9a-f]+)/.exec(granted.stdout) as RegExpExecArray)[1] as string
    expect((await etcdctl(follower, ['put', '--lease', id, 'leased/a', '1'])).stdout.trim()).toBe('OK')
    const ttl = await etcdctl(follower, ['lease', 'timetolive', id, '--keys'])
    expect(ttl.stdout).toMatch(new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased/a\\]\\)`))
    expect((await etcdctl(follower, ['lease', 'list'])).stdout).toContain(id)
    expect((await etcdctl(follower, ['lease', 'revoke', id])).stdout.trim()).toBe(`lease ${id} revoked`)
    expect((await etcdctl(follower, ['get', 'leased/a'])).stdout).toBe('')
  })

  it('keeps a lease alive while `lease keep-alive` runs, and expires it after', async () => {
    const id = (/^lease ([0-9a-f]+)/.exec((await etcdctl(follower, ['lease', 'grant', '2'])).stdout) as RegExpExecArray)[1] as string
    await etcdctl(follower, ['put', '--lease', id, 'kept/k', 'v'])
    const keeper = spawn(etcdctlPath, [`--endpoints=${follower}`, 'lease', 'keep-alive', id], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    keeper.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    try {
      await new Promise((resolve) => setTimeout(resolve, 5000))
      expect(output).toContain(`lease ${id} keepalived with TTL(2)`)
      expect((await etcdctl(follower, ['get', 'kept/k', '--print-value-only'])).stdout.trim()).toBe('v')
    } finally {
      keeper.kill('SIGINT')
      await exited(keeper)
    }
    await waitFor('the lease to expire without keep-alives', async () => ((await etcdctl(follower, ['get', 'kept/k'])).stdout === '' ? true : undefined), 10_000)
  })
})

/** A long-running etcdctl, its output gathered as it comes. */
function etcdctlRunning(endpoints: string, args: string[]): { child: ReturnType<typeof spawn>; output: () => string } {
  const child = spawn(etcdctlPath, [`--endpoints=${endpoints}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return { child, output: () => output }
}

describe('etcdctl lock and elect against raftlog', () => {
  it('runs two competing `etcdctl lock` commands one after the other, never together', async () => {
    const events: string[] = []
    const first = etcdctlRunning(follower, ['lock', 'jobs/lock', '--', 'sh', '-c', 'echo first-start; sleep 2; echo first-end'])
    await waitFor('the first holder to start', async () => (first.output().includes('first-start') ? true : undefined), 10_000)
    const second = etcdctlRunning(all, ['lock', 'jobs/lock', '--', 'sh', '-c', 'echo second-start; echo "rev=$ETCD_LOCK_REV"'])
    await waitFor('the second holder to run', async () => (second.output().includes('second-start') ? true : undefined), 15_000)
    events.push(...[first.output(), second.output()].map((text) => text.trim()))
    expect(first.output()).toContain('first-end')
    await Promise.all([exited(first.child as never), exited(second.child as never)])
    // The second ran only after the first had ended: its lock key is newer (the fencing token).
    expect(events[1]).toMatch(/second-start\nrev=\d+/)
  })

  it('elects one of two `etcdctl elect` campaigners, and the other once the first leaves', async () => {
    const first = etcdctlRunning(follower, ['elect', 'jobs/election', 'p1'])
    await waitFor('p1 to lead', async () => (first.output().includes('p1') ? true : undefined), 10_000)
    const second = etcdctlRunning(all, ['elect', 'jobs/election', 'p2'])
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(second.output()).not.toContain('p2')
    const listener = etcdctlRunning(all, ['elect', '-l', 'jobs/election'])
    await waitFor('the listener to see p1', async () => (listener.output().includes('p1') ? true : undefined), 10_000)
    first.child.kill('SIGINT')
    await exited(first.child as never)
    await waitFor('p2 to lead', async () => (second.output().includes('p2') ? true : undefined), 15_000)
    await waitFor('the listener to see p2', async () => (listener.output().includes('p2') ? true : undefined), 10_000)
    for (const process of [second, listener]) process.child.kill('SIGINT')
    await Promise.all([exited(second.child as never), exited(listener.child as never)])
  })
})

describe('etcdctl watch against raftlog', () => {
  it('sees every put once, in order, across a kill of the node it watches through', async () => {
    const config = join(dir, 'cluster.yaml')
    const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
    const watched = leader.id
    const others = ports.filter((_, position) => position + 1 !== watched).map((port) => `127.0.0.1:${port}`)
    // The watched node first: etcdctl's client moves to the next endpoint when it goes, and resumes from the last revision it saw.
    const endpoints = [`127.0.0.1:${ports[watched - 1]}`, ...others].join(',')
    const watcher = spawn(etcdctlPath, [`--endpoints=${endpoints}`, 'watch', '--prefix', 'across/', '--write-out=json'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    watcher.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const seen = (): string[] => output.split('\n').filter((line) => line.startsWith('{')).flatMap((line) => ((JSON.parse(line) as { Events?: { kv: { key: string; value: string } }[] }).Events ?? []).map((event) => Buffer.from(event.kv.value, 'base64').toString()))
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const written: string[] = []
      for (let i = 0; i < 10; i++) {
        await etcdctl(others.join(','), ['put', `across/${i % 3}`, `v${i}`])
        written.push(`v${i}`)
      }
      await waitFor('the first ten events', async () => (seen().length >= 10 ? true : undefined), 10_000)
      const node = nodes[watched - 1] as NodeProcess
      node.child.kill('SIGKILL')
      await exited(node.child)
      await waitFor('a new leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader' && s.id !== watched), 15_000)
      for (let i = 10; i < 20; i++) {
        // Once each: a put sent again after an unclear failure could be applied twice, and the watch would rightly show both.
        const put = await etcdctl(others.join(','), ['put', `across/${i % 3}`, `v${i}`])
        expect(put.stderr).toBe('')
        written.push(`v${i}`)
      }
      await waitFor('all twenty events', async () => (seen().length >= 20 ? true : undefined), 15_000)
      expect(seen()).toEqual(written)
    } finally {
      watcher.kill('SIGKILL')
      await exited(watcher)
      nodes[watched - 1] = startNode(config, watched)
    }
  })
})
