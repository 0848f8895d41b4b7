// `raftlog kv put` never sends a write twice once it may have reached a leader: a retried put
// could be applied after another client's acknowledged write (reads would go v1, v2, v1).
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { protocol } from '../../src/net/protocol.js'
import { runCli } from '../helpers/cli.js'

const servers: grpc.Server[] = []
afterEach(() => {
  for (const server of servers.splice(0)) server.forceShutdown()
})

/** A node that takes every Propose and never answers it (its reply is lost). */
async function silentNode(): Promise<{ address: string; proposals: () => number }> {
  let proposals = 0
  const server = new grpc.Server()
  servers.push(server)
  server.addService(protocol.RaftClient.service, { Propose: () => void proposals++, Read: () => {}, Status: () => {} })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, proposals: () => proposals }
}

describe('raftlog kv with an unknown outcome', () => {
  for (const words of [['put', 'k', 'v1'], ['delete', 'k'], ['cas', 'k', 'a', 'b']]) {
    it(`kv ${words[0]} whose reply is lost is sent once, and exits 3 saying it may or may not have been applied`, async () => {
      const node = await silentNode()
      const result = await runCli(['kv', ...words, '--endpoints', node.address, '--timeout', '8000'], { timeoutMs: 30_000 })
      expect(result.status).toBe(3)
      expect(result.stderr).toMatch(new RegExp(`^Error: ${words[0]} "k": The command may or may not have been applied`))
      expect(node.proposals()).toBe(1)
    })
  }
})
