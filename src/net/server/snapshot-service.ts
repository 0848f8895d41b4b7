// The client service's SaveSnapshot call (raftlog snapshot save): the leader takes a consistent
// snapshot (RaftNode.exportSnapshot: a ReadIndex, then a snapshot at what it has applied) and
// streams its file as it is on disk, read a piece at a time: nothing holds the whole snapshot in
// memory, and a slow client only slows its own stream (grpc's flow control, 'drain').
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import { encodeConfiguration } from '../../raft/core/configuration.js'
import type { RaftLogError } from '../../errors.js'
import { snapshotChunkBytes } from '../../raft/node/snapshot-transfer.js'

/** Errors after which the client should ask the leader instead. */
const notLeaderCodes = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_TRANSFER', 'ERR_LEADERSHIP_LOST'])

type PieceStream = grpc.ServerWritableStream<unknown, unknown>

export interface SnapshotServiceOptions {
  /** host:port of node `id`'s client service ('' when unknown). */
  addressOf(id: number): string
}

export function snapshotService(node: RaftNode, options: SnapshotServiceOptions): grpc.UntypedServiceImplementation {
  return {
    SaveSnapshot: (call: PieceStream) => {
      void saveSnapshot(node, call, options)
    },
  }
}

async function saveSnapshot(node: RaftNode, call: PieceStream, options: SnapshotServiceOptions): Promise<void> {
  let cancelled = false
  call.on('cancelled', () => {
    cancelled = true
  })
  let exported: Awaited<ReturnType<RaftNode['exportSnapshot']>>
  try {
    exported = await node.exportSnapshot()
  } catch (error) {
    const coded = error as RaftLogError & { leaderId?: number }
    if (notLeaderCodes.has(coded.code)) {
      const leaderId = coded.leaderId ?? node.status().leaderId
      call.write({ notLeader: { leaderId, leaderAddress: leaderId === node.id ? '' : options.addressOf(leaderId) } })
      call.end()
    } else {
      const code = coded.code === 'ERR_UNSUPPORTED' ? grpc.status.FAILED_PRECONDITION : grpc.status.UNAVAILABLE
      call.emit('error', { code, details: `${coded.code ?? 'ERROR'}: ${coded.message}` })
    }
    return
  }
  try {
    const status = node.status()
    call.write({
      index: exported.index,
      term: exported.term,
      clusterId: status.clusterId,
      foundingId: status.foundingId,
      nodeId: node.id,
      configuration: Buffer.from(encodeConfiguration(exported.configuration)),
      fileBytes: exported.sizeBytes,
    })
    for (let offset = 0; offset < exported.sizeBytes && !cancelled; ) {
      const bytes = await exported.readBytes(offset, Math.min(snapshotChunkBytes, exported.sizeBytes - offset))
      if (bytes.length === 0) throw new Error(`${exported.path} ended at byte ${offset} of ${exported.sizeBytes}`)
      offset += bytes.length
      if (!call.write({ data: bytes })) await drained(call)
    }
    if (!cancelled) call.end()
  } catch (error) {
    if (!cancelled) call.emit('error', { code: grpc.status.INTERNAL, details: `ERR_IO: cannot send snapshot ${exported.path}: ${(error as Error).message}` })
  } finally {
    exported.release()
  }
}

/** Resolves once the stream wants more (or the call ended). */
export function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done)
      call.off('cancelled', done)
      call.off('close', done)
      resolve()
    }
    call.on('drain', done)
    call.on('cancelled', done)
    call.on('close', done)
  })
}
