// One group's snapshots on a RaftHost (Raft §7), in the engine's directory beside the group's log:
// <engine dir>/snapshots/group_<id>/snapshot_<index>.snap, in the storage layer's checksummed
// snapshot format (SnapshotStore: written under a temporary name, synced, renamed, directory
// synced). The pieces are RaftNode's own: the Snapshotter takes them every N applied entries, the
// SnapshotSender streams one to a follower in bounded chunks, the SnapshotInbox receives one from
// the leader. The directory is made only when a group first needs it, so ten thousand idle
// groups cost no directory and no fsync each.
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import type { RaftMessage, InstallSnapshot, SnapshotChunk, SnapshotChunkResponse } from '../raft/core/messages.js'
import { Snapshotter, snapshotsKept } from '../raft/node/snapshotter.js'
import { SnapshotInbox, SnapshotSender } from '../raft/node/snapshot-transfer.js'
import type { SnapshotInfo, StateMachine } from '../raft/state-machine.js'
import { crc32Range } from '../storage/crc32.js'
import { directoryMode } from '../storage/file-modes.js'
import { fsyncDirectory } from '../storage/native.js'
import { decodeSnapshotHeader, snapshotHeaderBytes } from '../storage/snapshot-format.js'
import { SnapshotStore, type SnapshotFile } from '../storage/snapshot-store.js'

/** The folder of the engine directory that holds every group's snapshot folder. */
export const snapshotsFolderName = 'snapshots'

/** Where group `group`'s snapshots live in engine directory `engineDir`. */
export function groupSnapshotDir(engineDir: string, group: number): string {
  return join(engineDir, snapshotsFolderName, `group_${group}`)
}

/** The newest snapshot a group's folder holds, read from its header and metadata (their own checksums checked). */
export interface StoredSnapshot extends SnapshotInfo {
  file: string
  /** The Raft layer's metadata: the configuration in force at `index`. */
  metadata: Uint8Array
}

export interface GroupSnapshotsOptions {
  hostId: number
  group: number
  engineDir: string
  stateMachine: StateMachine
  /** Entries applied since the last snapshot that trigger the next one. */
  everyEntries: number
  /** Term of a log entry of the group (a snapshot's last entry is still in the log when it is taken). */
  termAt(index: number): number | undefined
  /** The configuration in force at `index`, as bytes (kept in the snapshot's metadata). */
  metadataAt(index: number): Uint8Array
  /** The newest durable snapshot when the replica started. */
  latest: SnapshotInfo | undefined
  /** Sends a snapshot message of this group to its peer (through the host's batches). */
  send(message: RaftMessage): void
  /** The core's current term and the leader it knows: the inbox takes chunks from that leader only. */
  currentTerm(): number
  leaderId(): number
  /** A snapshot was taken here and is durable. */
  onTaken(snapshot: SnapshotInfo): void
  /** A transfer to `peer` ended (done: it holds the snapshot). */
  onSent(peer: number, done: boolean): void
  /** A snapshot from the leader is durable here: step it into the core (its configuration read from the file). */
  onReceived(message: InstallSnapshot): Promise<void>
  logger: { warn(message: string): void }
  /** The clock transfers resend and give up by (ms). */
  now(): number
}

interface Parts {
  store: SnapshotStore
  snapshotter: Snapshotter
  sender: SnapshotSender
  inbox: SnapshotInbox
}

/** A group's snapshot files and transfers on one host. */
export class GroupSnapshots {
  readonly dir: string
  private parts: Parts | undefined
  private latestTaken: SnapshotInfo | undefined
  private closed = false

  constructor(private readonly options: GroupSnapshotsOptions) {
    this.dir = groupSnapshotDir(options.engineDir, options.group)
    this.latestTaken = options.latest
  }

  /** Whether the state machine can be snapshotted (it has snapshot() and restore()). */
  static supported(stateMachine: StateMachine): boolean {
    return typeof stateMachine.snapshot === 'function' && typeof stateMachine.restore === 'function'
  }

  /**
   * The newest snapshot in `dir` whose header and metadata check out (read synchronously: a
   * replica starts without waiting). Its data's checksums are checked when it is restored.
   * Undefined when the folder holds none.
   */
  static newest(dir: string, logger: { warn(message: string): void }): StoredSnapshot | undefined {
    if (!existsSync(dir)) return undefined
    const files = SnapshotStore.open(dir).list().reverse()
    for (const file of files) {
      const found = readHead(file)
      if (typeof found !== 'string') return found
      logger.warn(`raftlog host: skipping snapshot ${file.path}: ${found}`)
    }
    return undefined
  }

  /** The newest snapshot taken or installed here. */
  get latest(): SnapshotInfo | undefined {
    return this.parts?.snapshotter.latest ?? this.latestTaken
  }

  /**
   * Called between two applies, with the last entry applied: takes a snapshot when everyEntries
   * were applied since the last one (or, with evenBelowThreshold, when any was).
   */
  maybeTake(applied: number, evenBelowThreshold = false): void {
    if (this.closed) return
    const since = applied - (this.latest?.index ?? 0)
    if (since < (evenBelowThreshold ? 1 : this.options.everyEntries)) return
    this.ensure().snapshotter.maybeTake(applied, undefined, { evenBelowThreshold })
  }

  /** The core asks for a follower to get a snapshot. */
  send(message: InstallSnapshot): void {
    if (this.closed) return
    this.ensure().sender.start(message)
  }

  /** A snapshot chunk or its answer arrived for this group. */
  receive(message: SnapshotChunk | SnapshotChunkResponse): void {
    if (this.closed) return
    if (message.type === 'SnapshotChunk') this.ensure().inbox.onChunk(message)
    else this.parts?.sender.onResponse(message)
  }

  /** Resends lost chunks, gives up stalled transfers (called on the host's tick). */
  tick(): void {
    this.parts?.sender.tick()
  }

  /** Only the newest snapshots stay (a torn newest one falls back to the one before). */
  prune(): void {
    this.parts?.store.prune(snapshotsKept)
  }

  /** The configuration bytes a snapshot file holds (empty when it has none). */
  async metadataOf(index: number): Promise<Uint8Array> {
    const file = this.ensure().store.list().find((candidate) => candidate.index === index)
    if (file === undefined) return new Uint8Array(0)
    const reader = await this.ensure().store.read(file)
    try {
      return reader.meta.metadata
    } finally {
      await reader.close()
    }
  }

  /** Replaces the state machine's state with the snapshot at `snapshot.index` (its data checked as it is read). */
  async restore(snapshot: SnapshotInfo): Promise<void> {
    const store = this.ensure().store
    const file = store.list().find((candidate) => candidate.index === snapshot.index)
    if (file === undefined) throw new RaftLogError('ERR_CORRUPT', `Group ${this.options.group}: snapshot ${snapshot.index} is missing from ${this.dir}`, { group: this.options.group })
    const reader = await store.read(file)
    try {
      await (this.options.stateMachine.restore as NonNullable<StateMachine['restore']>).call(this.options.stateMachine, reader.chunks(), snapshot)
    } finally {
      await reader.close()
    }
    this.parts?.snapshotter.installed(snapshot)
  }

  /** A snapshot installed from the leader is now the newest here. */
  installed(snapshot: SnapshotInfo): void {
    this.parts?.snapshotter.installed(snapshot)
    if (this.latestTaken === undefined || snapshot.index > this.latestTaken.index) this.latestTaken = { ...snapshot }
  }

  /** Stops every transfer (the replica is dropped or the host stops). */
  close(): void {
    this.closed = true
    this.parts?.sender.stopAll()
    void this.parts?.inbox.close()
  }

  /** The store and its users, made on first need (with the folder, made durable). */
  private ensure(): Parts {
    if (this.parts !== undefined) return this.parts
    makeDurableDir(this.dir)
    const store = SnapshotStore.open(this.dir)
    const o = this.options
    const snapshotter = new Snapshotter({
      store,
      stateMachine: o.stateMachine,
      threshold: o.everyEntries,
      latest: this.latestTaken,
      termAt: o.termAt,
      metadataAt: o.metadataAt,
      onTaken: (snapshot) => {
        this.latestTaken = snapshot
        if (!this.closed) o.onTaken(snapshot)
      },
      logger: o.logger,
    })
    const sender = new SnapshotSender({ id: o.hostId, store, send: (message) => !this.closed && o.send(message), onFinished: (peer, done) => !this.closed && o.onSent(peer, done), logger: o.logger, now: o.now })
    const inbox = new SnapshotInbox({
      id: o.hostId,
      store,
      send: (message) => !this.closed && o.send(message),
      currentTerm: o.currentTerm,
      leaderId: o.leaderId,
      onComplete: async (message) => {
        if (!this.closed) await o.onReceived(message)
      },
      logger: o.logger,
    })
    this.parts = { store, snapshotter, sender, inbox }
    return this.parts
  }
}

/** Deletes a group's snapshot folder, durably (a removed group, or one a crash left without its log). */
export function removeSnapshotDir(dir: string): void {
  if (!existsSync(dir)) return
  rmSync(dir, { recursive: true, force: true })
  fsyncDirectory(join(dir, '..'))
}

/** Makes `dir` and its parent folder if missing, each new entry made durable in its parent. */
function makeDurableDir(dir: string): void {
  const parent = join(dir, '..')
  for (const [path, above] of [[parent, join(parent, '..')], [dir, parent]] as const) {
    if (existsSync(path)) continue
    mkdirSync(path, { mode: directoryMode })
    fsyncDirectory(above)
  }
}

/** A snapshot file's header and metadata, or why they do not check out. */
function readHead(file: SnapshotFile): StoredSnapshot | string {
  if (file.header === undefined) return file.problem ?? 'no readable header'
  const fd = openSync(file.path, 'r')
  try {
    const head = Buffer.alloc(snapshotHeaderBytes)
    if (readSync(fd, head, 0, snapshotHeaderBytes, 0) !== snapshotHeaderBytes) return 'header cut short'
    const header = decodeSnapshotHeader(head)
    if (typeof header === 'string') return header
    const metadata = Buffer.alloc(header.metadataLength + 4)
    if (readSync(fd, metadata, 0, metadata.length, snapshotHeaderBytes) !== metadata.length) return 'metadata cut short'
    if (crc32Range(metadata, 0, header.metadataLength) !== metadata.readUInt32LE(header.metadataLength)) return 'metadata checksum mismatch'
    return { file: file.path, index: header.index, term: header.term, metadata: new Uint8Array(metadata.subarray(0, header.metadataLength)) }
  } finally {
    closeSync(fd)
  }
}
