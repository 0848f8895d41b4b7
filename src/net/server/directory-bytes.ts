// How much disk a node's directory takes: the sizes of its files (segments are preallocated, so a
// new segment counts whole from the start, as it does on the disk).
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

/** The sizes of every file under `dir` added up; 0 for a directory that does not exist. */
export async function directoryBytes(dir: string): Promise<number> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
  let bytes = 0
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) bytes += await directoryBytes(path)
    else if (entry.isFile()) bytes += await fileBytes(path)
  }
  return bytes
}

async function fileBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch (error) {
    // Compaction deletes segments and snapshots while this walks: a vanished file takes nothing.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
}

/**
 * directoryBytes(dir), measured at most once per `maxAgeMs`: a flood of status calls must not
 * turn into a flood of directory walks on the event loop that also sends the heartbeats.
 */
export class DirectoryBytesCache {
  private measured: { at: number; bytes: Promise<number> } | undefined

  constructor(
    private readonly dir: string,
    private readonly maxAgeMs = 1000,
  ) {}

  bytes(): Promise<number> {
    const now = Date.now()
    if (this.measured === undefined || now - this.measured.at >= this.maxAgeMs) {
      const bytes = directoryBytes(this.dir)
      this.measured = { at: now, bytes }
      // A failed walk is not kept: the next call measures again.
      bytes.catch(() => {
        if (this.measured?.bytes === bytes) this.measured = undefined
      })
    }
    return this.measured.bytes
  }
}
