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
  const clientFor = (hosts: string[]): Etcd3 => new Etcd3({ hosts, defaultCallOptions: () => ({ deadline: Date.now() + operationTimeoutMs }) })
  // For the start, the status calls and the leader's address: any member.
  const anyMember = clientFor(clientUrls)
  await waitUntilServing(anyMember, servers, dir)
  // etcd's best setup, as a tuned user has it: every call at the leader (a follower forwards
  // puts to it, and asks it for a ReadIndex on every linearizable get). Found again before each
  // round, in leader().
  let leader = await findLeader(anyMember)
  let client = clientFor([leader.url])
  return {
    system: 'etcd',
    description:
      `3 etcd ${etcdVersion(binary)} members, default settings (durable WAL with fsync, heartbeat 100 ms, election timeout 1000 ms); ` +
      "one etcd3 client shared by every client loop, sending every call (puts, gets, ranges, txns) to the leader, found by Maintenance.Status and Cluster.MemberList before each round; gets and ranges are etcd's Range with serializable=false (linearizable); txns compare the value and put it back",
    pids: processes.map((server) => server.pid),
    put: (key, value) => client.put(key).value(value).exec(),
    get: (key) => client.get(key).buffer(),
    range: (key) => client.get(key).exec(),
    txn: async (key, value) => {
      const outcome = await client.if(key, 'Value', '==', value).then(client.put(key).value(value)).commit()
      if (!outcome.succeeded) throw new Error(`the compare of ${key} failed`)
    },
    async etcdApi() {
      const now = await findLeader(anyMember)
      const hostPort = (url: string): string => url.replace(/^https?:\/\//, '')
      return { leader: hostPort(now.url), members: clientUrls.map(hostPort) }
    },
    async leader() {
      const now = await findLeader(anyMember)
      if (now.url !== leader.url) {
        client.close()
        client = clientFor([now.url])
        leader = now
      }
      return now.name
    },
    close: () => {
      client.close()
      anyMember.close()
    },
  }
}

/** The leading member's name and client URL, from Maintenance.Status and Cluster.MemberList. */
export async function findLeader(client: Etcd3): Promise<{ name: string; url: string }> {
  const [status, members] = await Promise.all([client.maintenance.status(), client.cluster.memberList({})])
  const member = members.members.find((candidate) => candidate.ID === status.leader)
  const url = member?.clientURLs[0]
  if (member === undefined || url === undefined) throw new Error(`etcd names no leader among its members (status.leader ${status.leader})`)
  return { name: member.name, url }
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
