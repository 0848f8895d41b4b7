// `--` ends option parsing for every command: what follows is data, even when it looks like an
// option. `raftlog kv put k -- --help` stores the value "--help" instead of printing help.
import { afterAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliPath, runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'
import { freePort } from '../helpers/processes.js'

const children = new Set<ChildProcess>()
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
})


/** A one-node cluster: it elects itself at once. */
async function startSingleNode(): Promise<{ config: string; node: ChildProcess }> {
  const dir = tempDir('raftlog-options-')
  const config = join(dir, 'cluster.yaml')
  writeFileSync(config, `nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: ${await freePort()} }\ncluster_settings:\n  log_directory: "./logs"\n`)
  const node = spawn(process.execPath, [cliPath, 'node', '--node-id', '1', '--config', config], { stdio: 'ignore' })
  children.add(node)
  for (let attempt = 0; attempt < 100; attempt++) {
    const status = await runCli(['status', '--config', config, '--json', '--timeout', '1000'])
    if (status.status === 0 && (JSON.parse(status.stdout) as { role: string }[])[0]?.role === 'leader') return { config, node }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the single node never became leader')
}

describe('-- ends the options', () => {
  it('kv put k -- --help stores "--help"; --help before -- still prints help', async () => {
    const { config, node } = await startSingleNode()
    const put = await runCli(['kv', 'put', 'k', '--config', config, '--', '--help'])
    expect([put.status, put.stdout.trim()], put.stderr).toEqual([0, 'OK'])
    const get = await runCli(['kv', 'get', 'k', '--config', config])
    expect(get.stdout).toBe('--help\n')
    const help = await runCli(['kv', 'put', 'k', '--help', '--', 'v'])
    expect(help.stdout).toMatch(/^Usage: raftlog kv/)
    node.kill('SIGTERM')
  }, 60_000)

  it('after --, -h and --help are arguments for every command, not a request for help', async () => {
    const result = await runCli(['verify', '--', '--help'])
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/^Error: --help does not exist/)
  })
})
