// raftlog's own CLI in etcdctl's habits, against three real `raftlog node` processes: kv get with
// ranges, revisions and etcdctl's flags, kv del of a range, raftlog txn (etcdctl's text from
// standard input, a file or typed), raftlog compact, and the refusals that name a revision.
import { describe, expect, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, runWithInput } from '../helpers/cli.js'
import { clusterForFile } from '../helpers/file-cluster.js'

const cluster = clusterForFile('raftlog-kv-etcd-verbs-')

const raftlog = (...args: string[]) => runCli([...args, '--config', cluster.config])
const txn = (input: string, ...args: string[]) => runWithInput(['txn', ...args, '--config', cluster.config], input)

interface KvJson {
  key: string
  value?: string
  createRevision: number
  modRevision: number
  version: number
}

/** The key's create and mod revision and version, from `kv get KEY --rev …`'s JSON. */
async function revisions(key: string): Promise<KvJson> {
  const result = await raftlog('kv', 'get', key, '--limit', '1', '--json')
  expect(result.status, result.stderr).toBe(0)
  return (JSON.parse(result.stdout) as { kvs: KvJson[] }).kvs[0] as KvJson
}

describe('kv get in etcdctl habits', () => {
  it("keeps today's get of one key, and reads it as it was at an older --rev", async () => {
    for (const value of ['hello', 'hi']) expect((await raftlog('kv', 'put', 'greeting', value)).stdout).toBe('OK\n')
    expect(await raftlog('kv', 'get', 'greeting')).toEqual({ status: 0, stdout: 'hi\n', stderr: '' })
    expect(await raftlog('kv', 'get', 'nobody')).toEqual({ status: 1, stdout: '', stderr: '(absent) nobody\n' })
    const { createRevision, modRevision, version } = await revisions('greeting')
    expect([modRevision, version]).toEqual([createRevision + 1, 2])
    expect(await raftlog('kv', 'get', 'greeting', '--rev', String(createRevision))).toEqual({ status: 0, stdout: 'hello\n', stderr: '' })
    expect(await raftlog('kv', 'get', 'greeting', '--rev', String(createRevision - 1))).toEqual({ status: 1, stdout: '', stderr: `(absent) greeting at revision ${createRevision - 1}\n` })
    const future = await raftlog('kv', 'get', 'greeting', '--rev', '99999')
    expect([future.status, future.stderr]).toEqual([1, `Error: ERR_FUTURE_REVISION: Revision 99999 is in the future: the store is at revision ${modRevision}\n`])
  })

  it('reads a prefix, a range and every key from one up, with --limit, --keys-only, --count-only and a sort', async () => {
    for (const [key, value] of [['app/a', '1'], ['app/b', '2'], ['app/c', '3'], ['apple', 'x']]) await raftlog('kv', 'put', key!, value!)
    expect(await raftlog('kv', 'get', 'app/', '--prefix')).toEqual({ status: 0, stdout: 'app/a\n1\napp/b\n2\napp/c\n3\n', stderr: '' })
    expect((await raftlog('kv', 'get', 'app/', '--prefix', '--keys-only')).stdout).toBe('app/a\napp/b\napp/c\n')
    expect((await raftlog('kv', 'get', 'app/', '--prefix', '--count-only')).stdout).toBe('3\n')
    expect((await raftlog('kv', 'get', 'app/a', 'app/c')).stdout).toBe('app/a\n1\napp/b\n2\n')
    expect((await raftlog('kv', 'get', 'app/c', '--from-key', '--keys-only')).stdout).toBe('app/c\napple\ngreeting\n')
    expect((await raftlog('kv', 'get', 'app/', '--prefix', '--sort-by', 'MODIFY', '--order', 'DESCEND', '--limit', '2', '--keys-only')).stdout).toBe('app/c\napp/b\n')
    expect((await raftlog('kv', 'get', 'app/', '--prefix', '--sort-by', 'value', '--order', 'descend', '--keys-only')).stdout).toBe('app/c\napp/b\napp/a\n')
    // An empty range is an answer, not a failure (etcdctl's exit status).
    expect(await raftlog('kv', 'get', 'none/', '--prefix')).toEqual({ status: 0, stdout: '', stderr: '' })
    const json = JSON.parse((await raftlog('kv', 'get', 'app/', '--prefix', '--limit', '1', '--json')).stdout) as { revision: number; count: number; more: boolean; kvs: KvJson[] }
    expect(json).toMatchObject({ count: 3, more: true, kvs: [{ key: 'app/a', value: '1', version: 1 }] })
    expect(json.revision).toBeGreaterThanOrEqual(json.kvs[0]!.modRevision)
  })

  it('refuses flags that do not go together, or with another command, in one line', async () => {
    expect((await raftlog('kv', 'get', 'a', '--prefix', '--from-key')).stderr).toMatch(/^Error: kv get: --prefix and --from-key do not go together: give one\n/)
    expect((await raftlog('kv', 'get', 'a', '--sort-by', 'size')).stderr).toMatch(/^Error: kv get: --sort-by must be KEY, CREATE, MODIFY, VALUE or VERSION, got 'size'\n/)
    expect((await raftlog('kv', 'get', 'a', '--rev', '0')).stderr).toMatch(/^Error: kv get: --rev must be a whole number from 1, got '0'\n/)
    expect((await raftlog('kv', 'put', 'a', 'b', '--prefix')).stderr).toMatch(/^Error: --prefix goes with kv get or kv del only\n/)
    expect((await raftlog('kv', 'del', 'a', '--keys-only')).status).toBe(2)
  })
})

describe('kv del', () => {
  it('deletes one key, a range or a prefix in one revision, printing the count and with --prev-kv what was deleted', async () => {
    for (const key of ['del/a', 'del/b', 'del/c', 'delta']) await raftlog('kv', 'put', key, `v-${key}`)
    expect(await raftlog('kv', 'del', 'del/a')).toEqual({ status: 0, stdout: '1\n', stderr: '' })
    expect(await raftlog('kv', 'del', 'del/a')).toEqual({ status: 0, stdout: '0\n', stderr: '' })
    const before = await revisions('delta')
    expect(await raftlog('kv', 'del', 'del/', '--prefix', '--prev-kv')).toEqual({ status: 0, stdout: '2\ndel/b\nv-del/b\ndel/c\nv-del/c\n', stderr: '' })
    expect((await raftlog('kv', 'get', 'del', '--prefix', '--keys-only')).stdout).toBe('delta\n')
    // Both keys went at one revision: the one after delta's.
    expect((await raftlog('kv', 'get', 'del/b', '--rev', String(before.modRevision))).stdout).toBe('v-del/b\n')
    const json = JSON.parse((await raftlog('kv', 'del', 'delta', '--json')).stdout) as { deleted: number; revision: number }
    expect(json.deleted).toBe(1)
    expect(json.revision).toBeGreaterThan(before.modRevision + 1)
  })
})

describe('raftlog txn', () => {
  it("runs etcdctl's text from standard input: SUCCESS and each answer, or FAILURE and the other branch", async () => {
    await raftlog('kv', 'put', 'owner', 'nobody')
    const text = 'value("owner") = "nobody"\n\nput owner me\nput "lock key" "held by me"\n\nget owner\n\n'
    expect(await txn(text)).toEqual({ status: 0, stdout: 'SUCCESS\n\nOK\n\nOK\n', stderr: '' })
    expect((await raftlog('kv', 'get', 'lock key')).stdout).toBe('held by me\n')
    // The compare fails now: the failure branch runs, and the exit status is still 0 (etcdctl's).
    expect(await txn(text)).toEqual({ status: 0, stdout: 'FAILURE\n\nowner\nme\n', stderr: '' })
  })

  it('applies its puts at one revision, a compare on mod revision guarding a read-modify-write', async () => {
    await raftlog('kv', 'put', 'counter', '7')
    const { modRevision } = await revisions('counter')
    const file = join(cluster.dir, 'increment.txt')
    writeFileSync(file, `mod("counter") = "${modRevision}"\n\nput counter 8 --prev-kv\nput counted yes\n\n`)
    expect(await raftlog('txn', '--file', file)).toEqual({ status: 0, stdout: 'SUCCESS\n\nOK\ncounter\n7\n\nOK\n', stderr: '' })
    const [counter, counted] = [await revisions('counter'), await revisions('counted')]
    expect(counter.modRevision).toBe(counted.modRevision)
    expect(counter.modRevision).toBeGreaterThan(modRevision)
    // Sent again, the compare sees the new revision.
    expect((await raftlog('txn', '--file', file)).stdout).toBe('FAILURE\n')
    const json = JSON.parse((await raftlog('txn', '--file', file, '--json')).stdout) as { succeeded: boolean; revision: number; responses: unknown[] }
    expect(json).toEqual({ succeeded: false, revision: expect.any(Number), responses: [] })
  })

  it('prints a delete and a range inside a transaction as etcdctl does', async () => {
    for (const key of ['t/a', 't/b']) await raftlog('kv', 'put', key, key.toUpperCase())
    expect((await txn('\ndel t/a --prev-kv\nget t/ --prefix\n\n')).stdout).toBe('SUCCESS\n\n1\nt/a\nT/A\n\nt/b\nT/B\n')
  })

  it('asks for each part with -i', async () => {
    const result = await runWithInput(['txn', '-i', '--config', cluster.config], 'value("owner") = "me"\n\nget owner\n\n\n')
    expect(result).toEqual({ status: 0, stdout: 'compares:\n\nsuccess requests (get, put, del):\n\nfailure requests (get, put, del):\n\nSUCCESS\n\nowner\nme\n', stderr: '' })
  })

  it('refuses text that is not a transaction, naming the line, before sending anything; and a put of one key twice', async () => {
    const bad = await txn('value("owner") = "me"\n\nput owner\n')
    expect([bad.status, bad.stderr.split('\n')[0]]).toEqual([2, 'Error: standard input line 3: put takes a KEY and a VALUE (put KEY VALUE [--prev-kv]), got 1 word'])
    const file = join(cluster.dir, 'bad.txt')
    writeFileSync(file, 'owner = me\n')
    expect((await raftlog('txn', '--file', file)).stderr).toMatch(new RegExp(`^Error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 1: not a compare: 'owner = me'`))
    expect((await txn('')).stderr).toMatch(/^Error: standard input holds no transaction/)
    expect(await txn('\nput twice 1\nput twice 2\n')).toMatchObject({ status: 1, stdout: '', stderr: 'Error: A transaction puts the same key twice (duplicate key given in txn request)\n' })
    expect((await raftlog('kv', 'get', 'twice')).status).toBe(1)
  })
})

describe('raftlog compact', () => {
  it('compacts up to a revision; reads below it, and compacting again or past the store, are refused naming the revisions', async () => {
    await raftlog('kv', 'put', 'history', 'old')
    const old = await revisions('history')
    await raftlog('kv', 'put', 'history', 'new')
    const now = await revisions('history')
    expect(await raftlog('compact', String(now.modRevision))).toEqual({ status: 0, stdout: `compacted revision ${now.modRevision}\n`, stderr: '' })
    expect(await raftlog('kv', 'get', 'history', '--rev', String(old.modRevision))).toEqual({
      status: 1,
      stdout: '',
      stderr: `Error: ERR_COMPACTED: Revision ${old.modRevision} was compacted: the oldest readable revision is ${now.modRevision}\n`,
    })
    expect((await raftlog('kv', 'get', 'history', '--rev', String(now.modRevision))).stdout).toBe('new\n')
    // A watch from below the compaction point is told where one can start: the point itself.
    const watch = await raftlog('watch', 'history', '--rev', String(old.modRevision))
    expect([watch.status, watch.stderr]).toEqual([1, `Error: Revision ${old.modRevision} of the watch on history was compacted: the cluster keeps events from revision ${now.modRevision}\n`])
    expect(await raftlog('compact', String(now.modRevision))).toEqual({ status: 1, stdout: '', stderr: `Error: ERR_COMPACTED: Revision ${now.modRevision} was compacted already: the store is compacted up to revision ${now.modRevision}\n` })
    const future = await raftlog('compact', '999999')
    expect([future.status, future.stderr]).toEqual([1, expect.stringMatching(/^Error: ERR_FUTURE_REVISION: Cannot compact up to revision 999999: the store is at revision \d+\n$/)])
    expect((await raftlog('compact', 'abc')).stderr).toMatch(/^Error: REV must be a revision \(a whole number from 1\), got 'abc'\n/)
  })
})

describe('help', () => {
  it('describes every new verb and flag', async () => {
    const kvHelp = (await runCli(['kv', '--help'])).stdout
    for (const flag of ['--prefix', '--from-key', '--rev N', '--keys-only', '--count-only', '--limit N', '--sort-by T', '--order O', '--prev-kv', 'del KEY', 'RANGE_END']) expect(kvHelp).toContain(flag)
    const txnHelp = (await runCli(['txn', '--help'])).stdout
    for (const text of ['Usage: raftlog txn', '--file FILE', '--interactive', 'SUCCESS', 'FAILURE', 'value (val)', 'del KEY']) expect(txnHelp).toContain(text)
    expect((await runCli(['compact', '--help'])).stdout).toMatch(/^Usage: raftlog compact REV/)
    const overview = (await runCli(['--help'])).stdout
    expect(overview).toMatch(/\n {2}txn +Run a transaction/)
    expect(overview).toMatch(/\n {2}compact +Forget the key-value store's history/)
  })
})
