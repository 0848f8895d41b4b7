// How many keys a backup of `raftlog node`'s key-value store holds, for snapshot status: its
// snapshot is read through the same layers a node restores it with (client sessions around the
// key-value store), counting the pairs instead of keeping them.
import type { BackupSummary } from '../../storage/backup-file.js'
import { readBackupSnapshot } from '../../storage/backup-file.js'
import { SessionStateMachine } from '../../session/session-state-machine.js'
import { decodeKvSnapshot } from '../../kv/kv-snapshot.js'

/** The number of keys, or undefined when the snapshot is not a key-value store's (an application's own state machine). */
export async function keysInBackup(summary: BackupSummary): Promise<number | undefined> {
  let keys = 0
  const counter = new SessionStateMachine({
    apply: () => undefined,
    snapshot: () => new Uint8Array(0),
    restore: async (chunks: AsyncIterable<Uint8Array>) => {
      await decodeKvSnapshot(chunks, (_key, changes) => {
        // A key deleted but still in the history is not one the store holds.
        if (changes.at(-1)?.value !== undefined) keys++
      })
    },
  })
  const reader = await readBackupSnapshot(summary)
  try {
    await (counter.restore as NonNullable<SessionStateMachine['restore']>).call(counter, reader.chunks(), { index: summary.index, term: summary.term })
    return keys
  } catch (error) {
    // A damaged file was refused before (checkBackupFile): what fails here is another format.
    if ((error as { code?: string }).code === 'ERR_CORRUPT') return undefined
    throw error
  } finally {
    await reader.close()
  }
}
