// An unknown option is a usage error that says how to pass a value starting with '-', with its
// quotes closed (Node's own message leaves one open: as in '-- "--bogus").
import { describe, expect, it } from 'vitest'
import { runCliHere } from '../helpers/cli.js'

describe('an unknown option', () => {
  it('is refused with exit status 2, saying where a value starting with - goes', async () => {
    const result = await runCliHere(['kv', 'put', 'k', 'v', '--bogus'])
    expect(result.status).toBe(2)
    expect(result.stderr).toBe(`Error: Unknown option '--bogus'. A value that starts with '-' goes at the end of the command, after '--': -- "--bogus"\nRun \`raftlog kv --help\` for usage.\n`)
  })
})
