// Test helpers for a node's Calls stream (src/net/server/multiplexed-calls.ts,
// src/net/client/call-stream.ts): a client's CallStream to an address, and a raw HTTP/2 client
// that never reads its answers, so it grants the node no flow-control window (grpc-js's own client
// reads on regardless).
import * as grpc from '@grpc/grpc-js'
import * as http2 from 'node:http2'
import { protocol } from '../../src/net/protocol.js'
import { CallStream } from '../../src/net/client/call-stream.js'

/** A CallStream to `address` over its own channel, and how to close both. */
export function callStreamTo(address: string): { calls: CallStream; close(): void } {
  const stub = new protocol.RaftClient(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Calls(options: grpc.CallOptions): grpc.ClientDuplexStream<Record<string, unknown>, never> }
  const calls = new CallStream(() => stub.Calls({}))
  return {
    calls,
    close() {
      calls.close()
      stub.close()
    },
  }
}

/** One HTTP/2 connection to `address` that reads nothing; `stream(n)` opens a Calls stream and writes n proposals on it. */
export function unreadingClient(address: string): { stream(requests: number): void; close(): void } {
  const session = http2.connect(`http://${address}`)
  session.on('error', () => undefined)
  return {
    stream(requests) {
      const request = session.request({ ':method': 'POST', ':path': '/raftlog.RaftClient/Calls', 'content-type': 'application/grpc', te: 'trailers' })
      request.on('error', () => undefined)
      request.pause()
      for (let id = 1; id <= requests; id++) request.write(proposeFrame(id))
    },
    close: () => session.destroy(),
  }
}

/** A gRPC frame (no compression, 4-byte length) of CallRequest { id, propose: { command: 'x' } }, by hand. */
function proposeFrame(id: number): Buffer {
  const varint: number[] = []
  for (let n = id; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n)
      break
    }
    varint.push((n % 128) | 128)
  }
  // field 1 (id, varint); field 2 (propose, 3 bytes): its field 1 (command, 1 byte) 'x'
  const message = Buffer.from([0x08, ...varint, 0x12, 0x03, 0x0a, 0x01, 0x78])
  const frame = Buffer.alloc(5 + message.length)
  frame.writeUInt32BE(message.length, 1)
  message.copy(frame, 5)
  return frame
}
