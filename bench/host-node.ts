// One host of bench:host-cluster, in a process of its own: startHostServer with `--groups` groups
// whose state machine does nothing, until SIGTERM. Prints "ready" once it serves, and at the end its
// counters and the CPU time it used since SIGUSR1. RAFTLOG_BENCH_COMMIT_DELAY_MS sets the host's
// commit delay (default: a served host's).
import { parseArgs } from 'node:util'
import { startHostServer } from '../src/net/server/host-server.js'

const { values } = parseArgs({ options: { id: { type: 'string' }, hosts: { type: 'string' }, groups: { type: 'string' }, dir: { type: 'string' } } })
const hosts = (values.hosts ?? '').split(',').map((address, i) => ({ id: i + 1, address }))
const server = await startHostServer({ nodeId: Number(values.id), hosts, dir: values.dir as string, groups: Number(values.groups), stateMachine: () => ({ apply: () => undefined }), ...(process.env.RAFTLOG_BENCH_COMMIT_DELAY_MS === undefined ? {} : { commitDelayMs: Number(process.env.RAFTLOG_BENCH_COMMIT_DELAY_MS) }) })
console.log('ready')
// CPU time from SIGUSR1 (the bench's clock starting) to SIGTERM: what this host spent on the slice.
let cpuFrom = process.cpuUsage()
process.on('SIGUSR1', () => (cpuFrom = process.cpuUsage()))
process.on('SIGTERM', () => {
  const cpu = process.cpuUsage(cpuFrom)
  console.log(JSON.stringify({ ...server.host.counters, cpuMs: (cpu.user + cpu.system) / 1000 }))
  void server.stop().then(() => process.exit(0))
})
