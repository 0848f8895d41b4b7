// etcd's Maintenance.Snapshot on raftlog: the stream's blobs, in order, are the backup file
// `raftlog snapshot save` writes (storage/backup-file.ts), so `etcdctl snapshot save FILE` writes a
// raftlog backup that `raftlog snapshot status` checks and `raftlog snapshot restore` restores (it
// is no bbolt database: etcdctl's own snapshot status and restore cannot read it). The leader
// takes it as for raftlog's SaveSnapshot (RaftNode.exportSnapshot: a ReadIndex, then a snapshot
// at what it has applied) and sends the file's pieces as the client takes them; a follower passes
// the call to the leader.
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import { encodeConfiguration } from '../../raft/core/configuration.js'
import { backupTrailerBytes, encodeBackupHead, encodeBackupTrailer, type BackupMetadata } from '../../storage/backup-file.js'
import { crc32Range } from '../../storage/crc32.js'
import { snapshotChunkBytes } from '../../raft/node/snapshot-transfer.js'
import type { RaftLogError } from '../../errors.js'
import { etcdError } from './etcd-errors.js'
import { drained } from '../../net/server/snapshot-service.js'
import type { LeaderForwarder } from './leader-forwarder.js'

type SnapshotStream = grpc.ServerWritableStream<unknown, unknown>

const notLeaderCodes = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_TRANSFER'])

export async function etcdSnapshot(node: RaftNode, call: SnapshotStream, forwarder: LeaderForwarder, header: () => Record<string, unknown>): Promise<void> {
  let cancelled = false
  call.on('cancelled', () => {
    cancelled = true
  })
  let exported: Awaited<ReturnType<RaftNode['exportSnapshot']>>
  try {
    exported = await node.exportSnapshot()
  } catch (error) {
    const coded = error as RaftLogError
    if (notLeaderCodes.has(coded.code)) forwarder.serverStream('Maintenance', 'Snapshot', call, error)
    else if (!cancelled) call.emit('error', coded.code === 'ERR_UNSUPPORTED' ? { code: grpc.status.FAILED_PRECONDITION, details: `${coded.code}: ${coded.message}` } : etcdError(error))
    return
  }
  try {
    const status = node.status()
    const metadata: BackupMetadata = {
      index: exported.index,
      term: exported.term,
      clusterId: status.clusterId,
      foundingId: status.foundingId,
      nodeId: node.id,
      configuration: JSON.parse(Buffer.from(encodeConfiguration(exported.configuration)).toString('utf8')) as unknown,
      createdAt: new Date().toISOString(),
    }
    const unpadded = encodeBackupHead(metadata, exported.sizeBytes).length + exported.sizeBytes + backupTrailerBytes
    const head = encodeBackupHead(metadata, exported.sizeBytes, etcdctlPadding(unpadded))
    const fileBytes = head.length + exported.sizeBytes + backupTrailerBytes
    const answerHeader = header()
    let sent = 0
    let crc = 0
    const send = async (blob: Buffer, checksummed = true): Promise<void> => {
      if (checksummed) crc = crc32Range(blob, 0, blob.length, crc)
      sent += blob.length
      if (!call.write({ header: answerHeader, remaining_bytes: fileBytes - sent, blob })) await drained(call)
    }
    await send(head)
    for (let offset = 0; offset < exported.sizeBytes && !cancelled; ) {
      const bytes = await exported.readBytes(offset, Math.min(snapshotChunkBytes, exported.sizeBytes - offset))
      if (bytes.length === 0) throw new Error(`${exported.path} ended at byte ${offset} of ${exported.sizeBytes}`)
      offset += bytes.length
      await send(bytes)
    }
    if (cancelled) return
    await send(encodeBackupTrailer(crc, fileBytes), false)
    call.end()
  } catch (error) {
    if (!cancelled) call.emit('error', { code: grpc.status.INTERNAL, details: `ERR_IO: cannot send snapshot ${exported.path}: ${(error as Error).message}` })
  } finally {
    exported.release()
  }
}

/**
 * Spaces to end the backup's metadata with so that a file of `fileBytes` bytes becomes 32 more than
 * a multiple of 512: etcdctl 3.4's snapshot save refuses a download of any other length ("sha256
 * checksum not found": an etcd snapshot is a database of 512-byte multiples and its SHA-256).
 * etcdctl checks only the length, so the padded file saves; its snapshot status and restore refuse
 * it (it is no bbolt database, and its last 32 bytes are no SHA-256).
 */
export function etcdctlPadding(fileBytes: number): number {
  return (((32 - fileBytes) % 512) + 512) % 512
}
