// Three etcd members on 127.0.0.1 (each its own data dir, client and peer port), with etcd's
// defaults otherwise: a durable WAL (fsync on every commit), heartbeat 100 ms, election 1000 ms;
// and one etcd3 client for the three.
import { accessSync, constants, mkdirSync } from 'node:fs'
import { execFileSync, spawnSync } from 'node:child_process'
import { delimiter, join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { freePorts } from './free-port.js'
import { operationTimeoutMs, startupRetryMs, startupTimeoutMs, type KvCluster } from './kv-cluster.js'
import type { ServerProcesses } from './server-processes.js'

const memberNames = ['m1', 'm2', 'm3']

export const etcdInstallHint =
  'etcd is not on PATH, so raftlog runs alone and no ratios are given. To compare with etcd, install it ' +
  "(Debian/Ubuntu: `sudo apt-get install etcd-server`; if that starts a system etcd service, stop it: it is not used) and run this again."

/** The etcd executable on PATH, or undefined. */
export function findEtcd(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'etcd')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not in this folder.
    }
  }
  return undefined
}

/** "3.4.23", from `etcd --version`. */
export function etcdVersion(binary: string): string {
  const output = execFileSync(binary, ['--version'], { encoding: 'utf8' })
  return /etcd Version:\s*(\S+)/.exec(output)?.[1] ?? output.split('\n')[0] ?? 'unknown'
}

/**
 * setpriv (util-linux) makes the kernel kill a member when the driver dies, kill -9 included;
 * it execs etcd, so the pid stays etcd's own. Without it, members are still stopped on every
 * other way out.
 */
function parentDeathPrefix(): string[] {
  const probe = spawnSync('setpriv', ['--help'], { encoding: 'utf8' })
  return probe.status === 0 && probe.stdout.includes('--pdeathsig') ? ['setpriv', '--pdeathsig', 'SIGKILL', '--'] : []
}

export async function startEtcdCluster(servers: ServerProcesses, binary: string, dir: string): Promise<KvCluster> {
  mkdirSync(dir, { recursive: true })
  const ports = await freePorts(memberNames.length * 2)
  const clientUrls = memberNames.map((_, i) => `http://127.0.0.1:${ports[i]}`)
  const peerUrls = memberNames.map((_, i) => `http://127.0.0.1:${ports[memberNames.length + i]}`)
  const initialCluster = memberNames.map((name, i) => `${name}=${peerUrls[i]}`).join(',')
  const [command, ...prefix] = [...parentDeathPrefix(), binary]
  const processes = memberNames.map((name, i) => {
    const args = [
      ...prefix,
      `--name=${name}`,
      `--data-dir=${join(dir, name)}`,
      `--listen-client-urls=${clientUrls[i]}`,
      `--advertise-client-urls=${clientUrls[i]}`,
      `--listen-peer-urls=${peerUrls[i]}`,
      `--initial-advertise-peer-urls=${peerUrls[i]}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-token=raftlog-bench',
      '--initial-cluster-state=new',
      // etcd 3.4's default logger (capnslog) prints a deprecation warning; zap logs the same events.
      '--logger=zap',
    ]
    return servers.start(`etcd member ${name}`, command as string, args, join(dir, `${name}.log`))
  })
  const client = new Etcd3({ hosts: clientUrls, defaultCallOptions: () => ({ deadline: Date.now() + operationTimeoutMs }) })
  await waitUntilServing(client, servers, dir)
  return {
    system: 'etcd',
    description:
      `3 etcd ${etcdVersion(binary)} members, default settings (durable WAL with fsync, heartbeat 100 ms, election timeout 1000 ms); ` +
      'one etcd3 client shared by every client loop, sending each call to a member picked at random (followers forward puts to the leader); gets are ranges with serializable=false (linearizable)',
    pids: processes.map((server) => server.pid),
    put: (key, value) => client.put(key).value(value).exec(),
    get: (key) => client.get(key).buffer(),
    async leader() {
      const [status, members] = await Promise.all([client.maintenance.status(), client.cluster.memberList({})])
      return members.members.find((member) => member.ID === status.leader)?.name ?? 'none'
    },
    close: () => client.close(),
  }
}

/** Retries a first put until the members have elected a leader and commit. */
async function waitUntilServing(client: Etcd3, servers: ServerProcesses, dir: string): Promise<void> {
  const deadline = Date.now() + startupTimeoutMs
  for (;;) {
    try {
      await client.put('bench-ready').value('x')
      return
    } catch (error) {
      servers.assertAlive()
      if (Date.now() > deadline) throw new Error(`The etcd cluster did not commit a first put within ${startupTimeoutMs} ms (logs in ${dir}): ${(error as Error).message}`)
      await new Promise((resolve) => setTimeout(resolve, startupRetryMs))
    }
  }
}
