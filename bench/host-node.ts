// One host of bench:host-cluster, in a process of its own: startHostServer with `--groups` groups
// whose state machine does nothing, until SIGTERM. Prints "ready" once it serves.
import { parseArgs } from 'node:util'
import { startHostServer } from '../src/net/server/host-server.js'

const { values } = parseArgs({ options: { id: { type: 'string' }, hosts: { type: 'string' }, groups: { type: 'string' }, dir: { type: 'string' } } })
const hosts = (values.hosts ?? '').split(',').map((address, i) => ({ id: i + 1, address }))
const server = await startHostServer({ nodeId: Number(values.id), hosts, dir: values.dir as string, groups: Number(values.groups), stateMachine: () => ({ apply: () => undefined }) })
console.log('ready')
process.on('SIGTERM', () => {
  console.log(JSON.stringify(server.host.counters))
  void server.stop().then(() => process.exit(0))
})
