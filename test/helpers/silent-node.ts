// A node that opens client sessions, then takes every command and never answers it: what a
// client sees when its replies are lost (the unknown-outcome tests of kv and the etcd verbs).
import * as grpc from '@grpc/grpc-js'
import { protocol } from '../../src/net/protocol.js'
import { decodeEnvelope, type SessionEnvelope } from '../../src/session/session-envelope.js'

/** A node that opens sessions, then takes every command and never answers it (its reply is lost). */
export async function silentNode(onTestFinished: (cleanup: () => void) => void): Promise<{ address: string; commands: Extract<SessionEnvelope, { kind: 'command' }>[] }> {
  const commands: Extract<SessionEnvelope, { kind: 'command' }>[] = []
  const server = new grpc.Server()
  onTestFinished(() => server.forceShutdown())
  server.addService(protocol.RaftClient.service, {
    Propose: (call: grpc.ServerUnaryCall<{ command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const envelope = decodeEnvelope(new Uint8Array(call.request.command))
      if (envelope.kind === 'open') {
        const id = Buffer.alloc(8)
        id.writeBigUInt64LE(42n)
        callback(null, { result: id })
      } else if (envelope.kind === 'command') commands.push(envelope)
    },
    Read: () => {},
    Status: () => {},
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, commands }
}
