// --timeout is a number of milliseconds that a Node timer and a gRPC deadline can wait: at most
// 2^31 − 1 (about 24.8 days). Larger values were taken, then overflowed to 1 ms (an instant
// "deadline exceeded", or "may or may not have been carried out" for a change that was made) or
// ended in a stack trace from grpc-js ("Deadline is too far in the future").
import { describe, expect, it } from 'vitest'
import { runCliHere } from '../helpers/cli.js'

const commands = [
  ['kv', 'put', 'k', 'v'],
  ['kv', 'get', 'k'],
  ['lease', 'grant', '10'],
  ['lock', 'name', '--', 'true'],
  ['snapshot', 'save', 'backup.db'],
  ['member', 'add', '9', '127.0.0.1:9'],
  ['transfer-leader', '--to', '2'],
  ['status'],
  ['compact', '5'],
]

describe('--timeout', () => {
  it.each(commands.map((command) => [command.join(' '), command] as const))('is refused above 2^31 - 1 ms by `%s`, before any call, naming its range', async (_name, command) => {
    for (const value of ['2147483648', '99999999999999999999']) {
      // The option goes before a '--' that ends the options.
      const at = command.indexOf('--')
      const args = at === -1 ? [...command, '--timeout', value, '--endpoints', '127.0.0.1:1'] : [...command.slice(0, at), '--timeout', value, '--endpoints', '127.0.0.1:1', ...command.slice(at)]
      const result = await runCliHere(args)
      expect(result.stderr).toContain(`--timeout must be a whole number of milliseconds from 1 to 2147483647 (about 24.8 days), got '${value}'`)
      expect(result.status).toBe(2)
    }
  })
})
