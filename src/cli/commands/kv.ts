import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom } from '../endpoints.js'
import { decodeKvResult, encodeKvCommand, type KvCommand } from '../../net/kv-state-machine.js'
import type { RaftLogError } from '../../storage/errors.js'

/** Exit status when a mutation may or may not have been applied. */
const unknownOutcomeStatus = 3

const help = `Usage: raftlog kv <put KEY VALUE | get KEY | delete KEY | cas KEY EXPECTED NEW | cas KEY --absent NEW>
                  [--config FILE | --endpoints HOST:PORT,...] [--timeout MS] [--json]

Reads and writes the cluster's key-value store. The client finds the leader itself (it follows
"not the leader" answers). A put, delete or cas goes through the Raft log in a client session:
after a timeout or a lost connection the client sends the same command again, and the cluster
applies it once. A get writes nothing to the log: any node answers it after confirming with the
leader that it holds every write acknowledged before (ReadIndex), so reads are linearizable.

  put KEY VALUE            set KEY
  get KEY                  print KEY's value (exit 1 if absent)
  delete KEY               remove KEY
  cas KEY EXPECTED NEW     set KEY to NEW only if it holds EXPECTED (exit 1 if not)
  cas KEY --absent NEW     set KEY to NEW only if it is absent

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of nodes to try, instead of the configuration
  --timeout MS             give up after this long without a leader (default 5000)
  --json                   print the result as JSON
  -h, --help               show this help

Exit status: 0 done; 1 a get of an absent key, a failed cas, or an error; 2 bad usage;
3 the outcome of a put, delete or cas is unknown: it may have been applied, and no leader
answered again before --timeout (check with a get before trying again).

Examples:
  raftlog kv put greeting hello
  raftlog kv get greeting --json`

function parseCommand(words: string[], absent: boolean): KvCommand {
  const [op, key, ...rest] = words
  if (op === undefined) throw new UsageError('kv needs a command: put, get, delete or cas')
  if (key === undefined) throw new UsageError(`kv ${op} needs a KEY`)
  const expect = (count: number, shape: string): void => {
    if (rest.length !== count) throw new UsageError(`usage: raftlog kv ${shape}`)
  }
  switch (op) {
    case 'put':
      expect(1, 'put KEY VALUE')
      return { op, key, value: rest[0] as string }
    case 'get':
      expect(0, 'get KEY')
      return { op, key }
    case 'delete':
      expect(0, 'delete KEY')
      return { op, key }
    case 'cas':
      if (absent) {
        expect(1, 'cas KEY --absent NEW')
        return { op, key, expected: null, value: rest[0] as string }
      }
      expect(2, 'cas KEY EXPECTED NEW')
      return { op, key, expected: rest[0] as string, value: rest[1] as string }
    default:
      throw new UsageError(`unknown kv command '${op}' (put, get, delete or cas)`)
  }
}

export const kvCommand: Command = {
  name: 'kv',
  summary: 'Put, get, delete or compare-and-set keys in a running cluster',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' }, absent: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
    const command = parseCommand(positionals, values.absent === true)
    const client = clientFrom(values)
    try {
      const timeout = timeoutFrom(values.timeout)
      let reply: Uint8Array
      try {
        reply = command.op === 'get' ? await client.read(command.key, timeout) : await client.propose(encodeKvCommand(command), timeout)
      } catch (error) {
        if ((error as RaftLogError).code !== 'ERR_UNKNOWN_OUTCOME') throw error
        console.error(`Error: ${command.op} ${JSON.stringify(command.key)}: ${(error as Error).message}`)
        return unknownOutcomeStatus
      }
      const result = decodeKvResult(reply)
      if (values.json === true) {
        console.log(JSON.stringify({ op: command.op, key: command.key, ...result }))
      } else if (command.op === 'get') {
        if (result.value === null) console.error(`(absent) ${command.key}`)
        else console.log(result.value)
      } else if (command.op === 'cas') {
        console.log(result.ok ? 'OK' : `FAILED: ${command.key} holds ${result.value === null ? 'nothing' : JSON.stringify(result.value)}`)
      } else {
        console.log(command.op === 'delete' && !result.ok ? `(absent) ${command.key}` : 'OK')
      }
      const failed = (command.op === 'get' && result.value === null) || (command.op === 'cas' && !result.ok)
      return failed ? 1 : 0
    } finally {
      client.close()
    }
  },
}
