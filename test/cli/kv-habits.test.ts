// The kv command as people use etcdctl or consul kv: values from a file or standard input, a
// prefix scan, a bulk load through one client, and a quick, clear failure when the cluster is
// not there. Against real `raftlog node` processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, runWithInput } from '../helpers/cli.js'
import { exited, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

let dir: string
let config: string
let ports: number[]
const nodes: NodeProcess[] = []

beforeAll(async () => {
  // One cluster for the file (tempDir() would be removed after the first test).
  dir = mkdtempSync(join(tmpdir(), 'raftlog-kv-habits-'))
  ;({ path: config, ports } = await writeConfig(dir, 3))
  for (const id of [1, 2, 3]) nodes.push(startNode(config, id))
  await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
})

afterAll(async () => {
  for (const node of nodes) node.child.kill('SIGKILL')
  await Promise.all(nodes.map((node) => exited(node.child)))
  rmSync(dir, { recursive: true, force: true })
})

const kv = (...args: string[]) => runCli(['kv', ...args, '--config', config])

describe('kv put from a file or standard input', () => {
  it('stores the file exactly, final newline included', async () => {
    const file = join(dir, 'value.txt')
    writeFileSync(file, 'line one\nline two\n')
    expect((await kv('put', 'from-file', '--file', file)).stdout).toBe('OK\n')
    expect((await kv('get', 'from-file')).stdout).toBe('line one\nline two\n\n')
  })

  it("stores standard input for '-', and the value '-' after --", async () => {
    const put = await runWithInput(['kv', 'put', 'from-stdin', '-', '--config', config], 'piped ünïcode')
    expect([put.status, put.stdout], put.stderr).toEqual([0, 'OK\n'])
    expect((await kv('get', 'from-stdin')).stdout).toBe('piped ünïcode\n')
    expect((await runWithInput(['kv', 'put', 'dash', '--config', config, '--', '-'], 'ignored')).stdout).toBe('OK\n')
    expect((await kv('get', 'dash')).stdout).toBe('-\n')
  })

  it('stores a file of any bytes exactly; refuses a missing file and a value with --file, in one line each', async () => {
    const binary = join(dir, 'binary.bin')
    writeFileSync(binary, Buffer.from([0xff, 0xfe, 0x00, 0x80]))
    expect(await kv('put', 'k', '--file', binary)).toEqual({ status: 0, stdout: 'OK\n', stderr: '' })
    expect((await kv('get', '6b', '--encoding', 'hex')).stdout).toBe('fffe0080\n')
    expect(await kv('put', 'k', '--file', join(dir, 'missing.txt'))).toEqual({ status: 1, stdout: '', stderr: `Error: Cannot read ${join(dir, 'missing.txt')}: no such file\n` })
    const both = await kv('put', 'k', 'v', '--file', binary)
    expect([both.status, both.stderr.split('\n')[0]]).toEqual([2, 'Error: usage: raftlog kv put KEY --file FILE (a value or --file, not both)'])
    expect((await kv('get', 'k', '--file', binary)).stderr).toMatch(/^Error: --file goes with kv put only/)
  })
})

describe('keys and values are bytes', () => {
  it('keeps keys 0xff and 0xfe apart, shows and takes them in hex or base64, and never changes one', async () => {
    expect((await kv('put', '--encoding', 'hex', 'ff', '01')).stdout).toBe('OK\n')
    expect((await kv('put', '--encoding', 'base64', '/g==', 'Ag==')).stdout).toBe('OK\n')
    expect((await kv('get', '--encoding', 'hex', 'ff')).stdout).toBe('01\n')
    expect((await kv('get', '--encoding', 'hex', 'fe')).stdout).toBe('02\n')
    expect((await kv('scan', '--encoding', 'hex', '--json', 'f')).stdout).toBe('')
    const scan = await kv('scan', '--encoding', 'base64', '--json')
    expect(scan.stdout.split('\n')).toEqual(expect.arrayContaining(['{"key":"/g==","value":"Ag=="}', '{"key":"/w==","value":"AQ=="}']))
    // JSON cannot carry bytes that are not UTF-8 as text: refused with the way out, never mangled.
    const json = await kv('get', '--encoding', 'utf8', '--json', 'k')
    expect([json.status, json.stderr]).toEqual([1, 'Error: The value of "k" hex:fffe0080 is not UTF-8 text: show it with --encoding base64 or hex\n'])
    // What a non-UTF-8 argument becomes (U+FFFD) is refused, as is hex that is not hex.
    const replaced = await kv('put', '\ufffd', 'v')
    expect([replaced.status, replaced.stderr]).toEqual([2, expect.stringMatching(/^Error: KEY "\ufffd" holds U\+FFFD, which is what bytes that are not UTF-8 turn into: give such a key or value with --encoding hex or base64\n/)])
    expect((await kv('put', '--encoding', 'hex', 'f', '00')).stderr).toMatch(/^Error: KEY "f" is not hex/)
    expect((await kv('get', '--encoding', 'latin1', 'k')).stderr).toMatch(/^Error: --encoding must be utf8, hex, base64, got 'latin1'/)
  })

  it('loads back what scan --json printed in the same encoding, byte for byte', async () => {
    await kv('put', '--encoding', 'hex', '626c6f622f00ff', 'c0c1')
    const backup = await kv('scan', '--encoding', 'base64', '--json', 'YmxvYi8=')
    expect(backup.stdout).toBe('{"key":"YmxvYi8A/w==","value":"wME="}\n')
    await kv('delete', '--encoding', 'hex', '626c6f622f00ff')
    const file = join(dir, 'bytes.jsonl')
    writeFileSync(file, backup.stdout)
    expect((await kv('load', file, '--encoding', 'base64')).status).toBe(0)
    expect((await kv('get', '--encoding', 'hex', '626c6f622f00ff')).stdout).toBe('c0c1\n')
  })
})

describe('kv scan', () => {
  it('prints the keys with a prefix in key order, as KEY<TAB>VALUE or JSON lines, up to --limit', async () => {
    for (const [key, value] of [['fruit/pear', 'green'], ['fruit/apple', 'red'], ['fruits', 'many'], ['fruit/fig', 'purple'], ['veg/leek', 'white']]) await kv('put', key!, value!)
    expect((await kv('scan', 'fruit/')).stdout).toBe('fruit/apple\tred\nfruit/fig\tpurple\nfruit/pear\tgreen\n')
    expect((await kv('scan', 'fruit/', '--limit', '2', '--json')).stdout).toBe('{"key":"fruit/apple","value":"red"}\n{"key":"fruit/fig","value":"purple"}\n')
    expect(await kv('scan', 'nothing/')).toEqual({ status: 0, stdout: '', stderr: '' })
    expect((await kv('scan', '--limit', '0')).status).toBe(2)
  })
})

describe('kv load', () => {
  it('writes a few thousand keys of JSON and tab-separated lines through one client in seconds; the last value of a repeated key wins', async () => {
    const lines: string[] = []
    for (let i = 0; i < 3000; i++) lines.push(i % 2 === 0 ? JSON.stringify({ key: `load/${String(i).padStart(5, '0')}`, value: `value ${i}` }) : `load/${String(i).padStart(5, '0')}\tvalue ${i}`)
    lines.push('load/00007\tseven, again', '', JSON.stringify({ key: 'load/tab\tkey', value: 'line\nbreak' }))
    const file = join(dir, 'load.txt')
    writeFileSync(file, `${lines.join('\n')}\n`)
    const started = Date.now()
    const result = await runCli(['kv', 'load', file, '--config', config], { timeoutMs: 120_000 })
    const seconds = (Date.now() - started) / 1000
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^loaded 3001 keys in \d+\.\d s, \d+ keys\/s \(1 line overwritten by a later one for the same key\)\n$/)
    // One process per key took about half a second each: 3,000 keys would take 25 minutes.
    expect(seconds).toBeLessThan(30)
    // Not a terminal: no bar, only plain count lines.
    expect(result.stderr).toMatch(/^(kv load: \d+ of 3001\n)*$/)
    const scan = await kv('scan', 'load/', '--json')
    const pairs = scan.stdout.trim().split('\n').map((line) => JSON.parse(line) as { key: string; value: string })
    expect(pairs).toHaveLength(3001)
    expect(pairs.find((p) => p.key === 'load/00007')?.value).toBe('seven, again')
    expect(pairs.find((p) => p.key === 'load/02999')?.value).toBe('value 2999')
    expect(pairs.find((p) => p.key === 'load/tab\tkey')?.value).toBe('line\nbreak')
  }, 150_000)

  it('refuses a file with a bad line before writing anything, naming the line', async () => {
    const file = join(dir, 'bad.txt')
    writeFileSync(file, 'bad/1\tone\n{"key": "bad/2"}\n')
    expect(await kv('load', file)).toEqual({ status: 1, stdout: '', stderr: `Error: ${file} line 2: a JSON line needs a string "key" and a string "value"\n` })
    writeFileSync(file, 'no tab here\n')
    expect((await kv('load', file)).stderr).toBe(`Error: ${file} line 1: neither a JSON object nor key<TAB>value\n`)
    expect((await kv('scan', 'bad/')).stdout).toBe('')
  })

  it('reads standard input for -', async () => {
    const result = await runWithInput(['kv', 'load', '-', '--config', config], 'stdin/a\t1\nstdin/b\t2\n')
    expect(result.stdout).toMatch(/^loaded 2 keys in /)
    expect((await kv('scan', 'stdin/')).stdout).toBe('stdin/a\t1\nstdin/b\t2\n')
  })
})

describe('kv against a cluster that is not there', () => {
  it('fails at once when nothing listens, with a hint and every address it tried', async () => {
    const empty = tempDir('raftlog-kv-none-')
    const { path, ports: unused } = await writeConfig(empty, 3)
    const started = Date.now()
    const result = await runCli(['kv', 'get', 'k', '--config', path, '--timeout', '10000'])
    const elapsed = Date.now() - started
    expect(result).toEqual({ status: 1, stdout: '', stderr: `Error: no node answered: is the cluster running? tried ${unused.map((port) => `127.0.0.1:${port}`).join(', ')}\n` })
    // The whole process, start-up included, far from the 10 s timeout (a busy 2-core machine).
    expect(elapsed).toBeLessThan(3000)
  })

  it('says that no majority is reachable when only one node of three runs, without waiting for the timeout', async () => {
    const lonely = tempDir('raftlog-kv-minority-')
    const { path, ports: minority } = await writeConfig(lonely, 3)
    const node = startNode(path, 1)
    try {
      await waitFor('node 1 serving', async () => ((await statuses(path)).some((s) => s.reachable) ? true : undefined))
      const started = Date.now()
      const put = await runCli(['kv', 'put', 'k', 'v', '--config', path, '--timeout', '10000'])
      expect(Date.now() - started).toBeLessThan(5000)
      expect([put.status, put.stdout]).toEqual([1, ''])
      expect(put.stderr).toBe(`Error: no majority of the cluster is reachable: 1 of 3 nodes answered (127.0.0.1:${minority[0]}) and none knows a leader; electing one needs 2\n`)
      const get = await runCli(['kv', 'get', 'k', '--config', path, '--timeout', '10000'])
      expect(get.stderr).toMatch(/^Error: no majority of the cluster is reachable: 1 of 3 nodes answered/)
    } finally {
      node.child.kill('SIGKILL')
      await exited(node.child)
    }
  })
})

describe('dump --format kv', () => {
  it('decodes the sessions and key-value commands of a node that wrote them', async () => {
    for (const node of nodes) node.child.kill('SIGTERM')
    await Promise.all(nodes.map((node) => exited(node.child)))
    const dump = await runCli(['dump', join(dir, 'logs', 'node_1'), '--format', 'kv'])
    expect(dump.status, dump.stderr).toBe(0)
    const lines = dump.stdout.trim().split('\n')
    // The founding node's first entry is the cluster's first configuration; then a leader's no-op.
    expect(lines[0]).toMatch(/^1\tterm 1\tconfiguration: voters 1, 2, 3, learners none \(1@127\.0\.0\.1:\d+, 2@127\.0\.0\.1:\d+, 3@127\.0\.0\.1:\d+\)$/)
    expect(lines[1]).toMatch(/^2\tterm \d+\tno-op \(a new leader's first entry\)$/)
    expect(lines).toContainEqual(expect.stringMatching(/^(\d+)\tterm \d+\topen session: client \1$/))
    expect(lines).toContainEqual(expect.stringMatching(/^\d+\tterm \d+\tclient \d+ #1: put "fruit\/pear" "green"$/))
    expect(lines).toContainEqual(expect.stringMatching(/^\d+\tterm \d+\tclient \d+ #\d+: batch of 256 puts: "load\/\d+" "value \d+", /))
    expect(lines).toContainEqual(expect.stringMatching(/^\d+\tterm \d+\tclient \d+ #1: put "dash" "-"$/))
    expect(ports).toHaveLength(3)
  })
})
