// An empty key: etcd's API refuses it (Put answers "key is not provided"), and so do `kv del`,
// etcdctl and every range. `kv put ""` and `kv cas ""` wrote one all the same, a key that only the
// single-key verbs could find again.
import { describe, expect, it } from 'vitest'
import { runCliHere } from '../helpers/cli.js'

describe('an empty KEY', () => {
  it.each([
    ['put', ['kv', 'put', '', 'v']],
    ['cas', ['kv', 'cas', '', '--absent', 'v']],
  ])('is refused by kv %s before any call, with exit status 2', async (op, args) => {
    const result = await runCliHere([...args, '--endpoints', '127.0.0.1:1'])
    expect(result.stderr).toContain(`kv ${op}: the KEY is empty (etcd's API refuses an empty key too)`)
    expect(result.status).toBe(2)
  })
})
