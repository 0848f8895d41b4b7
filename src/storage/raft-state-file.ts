// RaftStateFile: raft_state.meta, the term, vote and progress a node must never forget.
//
// Two 4 KiB slots. A save writes the slot that is not current with sequence + 1 and syncs it;
// a load takes the valid slot with the higher sequence. A torn save therefore always leaves the
// previous state readable.
import { basename, dirname } from 'node:path'
import { RaftLogError } from '../errors.js'
import { fsyncDirectory, isLockHeld, lockFile, mapFile, syncRange, unlockFile, unmap } from './native.js'
import { crc32, readU64, writeU64 } from './segment-format.js'
import { systemError } from './system-error.js'
import { requireString, requireWholeNumber } from './validate.js'
import { maxTermOrIndex } from './log-entry.js'

/** 0 follower, 1 candidate, 2 leader. */
export type ServerState = 0 | 1 | 2

export interface RaftState {
  currentTerm: number
  /** Node id voted for in currentTerm; 0 = none (node ids start at 1). */
  votedFor: number
  commitIndex: number
  lastApplied: number
  serverState: ServerState
  /** The node this directory belongs to; 0 = not recorded yet. Kept by save() when left out. */
  nodeId?: number
  /** The cluster it belongs to, 32 hex digits; '' = not recorded yet. Kept by save() when left out. */
  clusterId?: string
  /**
   * For a node that joined a running cluster: the log index from which it is a member (0 for
   * a founding node, or not recorded). Kept by save() when left out.
   */
  memberSince?: number
  /**
   * The newest committed cluster configuration, as the bytes of its log entry, and that entry's
   * index: membership outlives a log compacted without a snapshot. At most
   * maxConfigurationBytes. Kept by save() when left out.
   */
  configuration?: { index: number; data: Uint8Array }
  /**
   * A member said a committed configuration removed this node: it must never take part again.
   * Kept by save() when left out; false when not recorded.
   */
  removed?: boolean
}

export const stateFileName = 'raft_state.meta'
/**
 * Version 2 adds the node id and the cluster id; version 3 the member-since index and the last
 * committed configuration. Version 1 and 2 slots are still read; the next save writes version 3.
 */
export const stateFileVersion = 3
const slotSizeBytes = 4096
const fileSizeBytes = 2 * slotSizeBytes
const magic = Buffer.from('RAFT', 'ascii')
// Slot layout: magic, version u32, term u64, votedFor u32, commit u64, applied u64,
// state u8, removed u8 (version 3) + 2 reserved, sequence u64; version 2: node id u32, cluster id 16 bytes; version 3:
// member since u64, configuration index u64, configuration length u32, its bytes; then the
// CRC-32 of every byte before it (0..47 in version 1, 0..67 in version 2, 0..87+length in 3).
const checksumOffsetV1 = 48
const checksumOffsetV2 = 68
const configurationOffset = 88
/** The largest configuration a slot holds (the rest of its 4 KiB after the fixed fields and CRC). */
export const maxConfigurationBytes = slotSizeBytes - configurationOffset - 4
const maxVotedFor = 0xffffffff

/** What one slot holds, for `raftlog inspect`. */
export interface StateSlot {
  slot: 0 | 1
  valid: boolean
  problem?: string
  sequence: number
  state?: RaftState
}

/**
 * raft_state.meta: current term, vote, commit index, last applied and the node's membership
 * facts, in two checksummed 4 KiB slots. save() is durable when it returns and a save torn by a
 * crash leaves the previous state; load() takes the newest valid slot (ERR_CORRUPT when a file
 * holding data has none, ERR_UNSUPPORTED_VERSION for another format).
 */
export class RaftStateFile {
  readonly path: string
  private mapping: ArrayBuffer | undefined
  private bytes: Buffer
  private lockFd: number | undefined
  private currentSlot: 0 | 1 | undefined
  private sequence = 0
  private state: RaftState

  private constructor(path: string, mapping: ArrayBuffer, lockFd: number) {
    this.path = path
    this.mapping = mapping
    this.bytes = Buffer.from(mapping)
    this.lockFd = lockFd
    const slots = [readSlot(this.bytes, 0), readSlot(this.bytes, 1)]
    const valid = slots.filter((slot) => slot.valid).sort((a, b) => b.sequence - a.sequence)
    const newest = valid[0]
    if (newest === undefined) {
      const untouched = this.bytes.every((byte) => byte === 0)
      if (!untouched) {
        const unsupported = slots.find((slot) => slot.problem === 'unsupported version')
        throw new RaftLogError(
          unsupported === undefined ? 'ERR_CORRUPT' : 'ERR_UNSUPPORTED_VERSION',
          `State file ${path} is corrupt: neither slot is valid (${slots.map((slot) => `slot ${slot.slot}: ${slot.problem}`).join('; ')})`,
          { file: path },
        )
      }
      this.state = { currentTerm: 0, votedFor: 0, commitIndex: 0, lastApplied: 0, serverState: 0, nodeId: 0, clusterId: '', memberSince: 0, removed: false }
    } else {
      this.currentSlot = newest.slot
      this.sequence = newest.sequence
      this.state = newest.state as RaftState
    }
  }

  /** Opens (or creates) the state file at `path` and locks it against a second open. */
  static open(path: string): RaftStateFile {
    requireString(path, 'path', 'RaftStateFile.open')
    const lockPath = `${path}.lock`
    let lockFd: number
    try {
      lockFd = lockFile(lockPath)
    } catch (error) {
      if (isLockHeld(error)) throw new RaftLogError('ERR_LOCKED', `State file ${path} is already open by this or another process`, { file: path })
      throw systemError(error, `Cannot lock state file ${path}`)
    }
    try {
      const mapping = mapFile(path, fileSizeBytes)
      // Every time, not only when the file is new: a crash right after creating it may have left
      // its directory entry unsynced, and every save would then rest on a name that can vanish.
      fsyncDirectory(dirname(path))
      return new RaftStateFile(path, mapping, lockFd)
    } catch (error) {
      unlockFile(lockFd)
      throw systemError(error, `Cannot open state file ${path}`)
    }
  }

  /** Reads both slots of a state file without opening it for writing: for tools. */
  static inspect(bytes: Buffer): StateSlot[] {
    return [readSlot(bytes, 0), readSlot(bytes, 1)]
  }

  /** The last saved state (all zero for a new file). */
  load(): RaftState {
    this.assertOpen('load')
    return { ...this.state }
  }

  /** Which slot holds the current state, and its sequence number; undefined slot for a new file. */
  get currentSlotInfo(): { slot: 0 | 1 | undefined; sequence: number } {
    return { slot: this.currentSlot, sequence: this.sequence }
  }

  /** Saves the state; durable when it returns. */
  save(state: RaftState): void {
    this.assertOpen('save')
    const checked = checkState({
      ...state,
      nodeId: state.nodeId ?? this.state.nodeId ?? 0,
      clusterId: state.clusterId ?? this.state.clusterId ?? '',
      memberSince: state.memberSince ?? this.state.memberSince ?? 0,
      removed: state.removed ?? this.state.removed ?? false,
      ...(state.configuration === undefined && this.state.configuration === undefined ? {} : { configuration: state.configuration ?? this.state.configuration }),
    })
    const slot: 0 | 1 = this.currentSlot === 0 ? 1 : 0
    const offset = slot * slotSizeBytes
    writeSlot(this.bytes, offset, checked, this.sequence + 1)
    try {
      syncRange(this.mapping as ArrayBuffer, offset, slotSizeBytes)
    } catch (error) {
      throw systemError(error, `Cannot sync state file ${basename(this.path)}`, 'ERR_IO')
    }
    this.sequence++
    this.currentSlot = slot
    this.state = checked
  }

  close(): void {
    if (this.mapping === undefined) return
    unmap(this.mapping)
    this.mapping = undefined
    if (this.lockFd !== undefined) unlockFile(this.lockFd)
    this.lockFd = undefined
  }

  private assertOpen(method: string): void {
    if (this.mapping === undefined) throw new RaftLogError('ERR_CLOSED', `RaftStateFile.${method}: ${this.path} is closed`, { file: this.path })
  }
}

function checkState(state: RaftState): RaftState {
  if (state === null || typeof state !== 'object') {
    throw new RaftLogError('ERR_BAD_ARGUMENT', 'RaftStateFile.save: state must be an object', { argument: 'state' })
  }
  const method = 'RaftStateFile.save'
  const currentTerm = requireTermOrIndex(state.currentTerm, 'state.currentTerm', method)
  const votedFor = requireWholeNumber(state.votedFor, 'state.votedFor', method)
  if (votedFor > maxVotedFor) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: state.votedFor must fit in 32 bits, got ${votedFor}`, { argument: 'state.votedFor' })
  }
  const commitIndex = requireTermOrIndex(state.commitIndex, 'state.commitIndex', method)
  const lastApplied = requireTermOrIndex(state.lastApplied, 'state.lastApplied', method)
  const serverState = state.serverState
  if (serverState !== 0 && serverState !== 1 && serverState !== 2) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: state.serverState must be 0, 1 or 2, got ${String(serverState)}`, {
      argument: 'state.serverState',
    })
  }
  const nodeId = requireWholeNumber(state.nodeId ?? 0, 'state.nodeId', method)
  if (nodeId > maxVotedFor) throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: state.nodeId must fit in 32 bits, got ${nodeId}`, { argument: 'state.nodeId' })
  const clusterId = state.clusterId ?? ''
  if (clusterId !== '' && !/^[0-9a-f]{32}$/.test(clusterId)) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: state.clusterId must be 32 hex digits (or empty), got ${JSON.stringify(clusterId)}`, { argument: 'state.clusterId' })
  }
  const memberSince = requireWholeNumber(state.memberSince ?? 0, 'state.memberSince', method)
  const configuration = state.configuration === undefined ? undefined : checkConfiguration(state.configuration, method)
  const removed = state.removed ?? false
  if (typeof removed !== 'boolean') throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: state.removed must be true or false`, { argument: 'state.removed' })
  return { currentTerm, votedFor, commitIndex, lastApplied, serverState, nodeId, clusterId, memberSince, removed, ...(configuration === undefined ? {} : { configuration }) }
}

/** A term or index, refused at or above 2^52 (maxTermOrIndex says why). */
function requireTermOrIndex(value: unknown, argument: string, method: string): number {
  const number = requireWholeNumber(value, argument, method)
  if (number > maxTermOrIndex) throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: ${argument} must be at most ${maxTermOrIndex} (2^52 - 1: a term must keep room to grow), got ${number}`, { argument })
  return number
}

function checkConfiguration(configuration: { index: number; data: Uint8Array }, method: string): { index: number; data: Uint8Array } {
  const index = requireWholeNumber(configuration?.index, 'state.configuration.index', method)
  const data = configuration.data
  if (!(data instanceof Uint8Array)) throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: state.configuration.data must be a Uint8Array`, { argument: 'state.configuration.data' })
  if (data.length > maxConfigurationBytes) {
    throw new RaftLogError('ERR_CONFIGURATION_TOO_LARGE', `${method}: a configuration of ${data.length} bytes does not fit the state file (at most ${maxConfigurationBytes})`, { argument: 'state.configuration.data' })
  }
  return { index, data: Buffer.from(data) }
}

function writeSlot(bytes: Buffer, offset: number, state: RaftState, sequence: number): void {
  const configuration = state.configuration?.data ?? new Uint8Array(0)
  const checksumOffset = configurationOffset + configuration.length
  bytes.fill(0, offset, offset + checksumOffset + 4)
  magic.copy(bytes, offset)
  bytes.writeUInt32LE(stateFileVersion, offset + 4)
  writeU64(bytes, offset + 8, state.currentTerm)
  bytes.writeUInt32LE(state.votedFor, offset + 16)
  writeU64(bytes, offset + 20, state.commitIndex)
  writeU64(bytes, offset + 28, state.lastApplied)
  bytes[offset + 36] = state.serverState
  bytes[offset + 37] = state.removed === true ? 1 : 0
  writeU64(bytes, offset + 40, sequence)
  bytes.writeUInt32LE(state.nodeId ?? 0, offset + 48)
  bytes.fill(0, offset + 52, offset + 68)
  if (state.clusterId !== undefined && state.clusterId !== '') Buffer.from(state.clusterId, 'hex').copy(bytes, offset + 52)
  writeU64(bytes, offset + 68, state.memberSince ?? 0)
  writeU64(bytes, offset + 76, state.configuration?.index ?? 0)
  bytes.writeUInt32LE(configuration.length, offset + 84)
  bytes.set(configuration, offset + configurationOffset)
  bytes.writeUInt32LE(crc32(bytes.subarray(offset, offset + checksumOffset)), offset + checksumOffset)
}

function readSlot(bytes: Buffer, slot: 0 | 1): StateSlot {
  const offset = slot * slotSizeBytes
  if (bytes.length < offset + slotSizeBytes) return { slot, valid: false, problem: 'file too small', sequence: 0 }
  if (!bytes.subarray(offset, offset + 4).equals(magic)) return { slot, valid: false, problem: 'no magic', sequence: 0 }
  const version = bytes.readUInt32LE(offset + 4)
  const configurationLength = version >= 3 ? bytes.readUInt32LE(offset + 84) : 0
  if (configurationLength > maxConfigurationBytes) return { slot, valid: false, problem: 'configuration length past the slot', sequence: 0 }
  const crcAt = version === 1 ? checksumOffsetV1 : version === 2 ? checksumOffsetV2 : configurationOffset + configurationLength
  if (crc32(bytes.subarray(offset, offset + crcAt)) !== bytes.readUInt32LE(offset + crcAt)) {
    return { slot, valid: false, problem: 'checksum mismatch', sequence: 0 }
  }
  if (version < 1 || version > stateFileVersion) return { slot, valid: false, problem: 'unsupported version', sequence: 0 }
  const clusterIdBytes = version === 1 ? Buffer.alloc(16) : bytes.subarray(offset + 52, offset + 68)
  const serverState = bytes[offset + 36]
  return {
    slot,
    valid: true,
    sequence: readU64(bytes, offset + 40),
    state: {
      currentTerm: readU64(bytes, offset + 8),
      votedFor: bytes.readUInt32LE(offset + 16),
      commitIndex: readU64(bytes, offset + 20),
      lastApplied: readU64(bytes, offset + 28),
      serverState: serverState === 1 || serverState === 2 ? serverState : 0,
      nodeId: version === 1 ? 0 : bytes.readUInt32LE(offset + 48),
      clusterId: clusterIdBytes.every((byte) => byte === 0) ? '' : clusterIdBytes.toString('hex'),
      memberSince: version >= 3 ? readU64(bytes, offset + 68) : 0,
      removed: version >= 3 && bytes[offset + 37] === 1,
      ...(configurationLength > 0 ? { configuration: { index: readU64(bytes, offset + 76), data: Buffer.from(bytes.subarray(offset + configurationOffset, offset + configurationOffset + configurationLength)) } } : {}),
    },
  }
}
