// A full disk is a clear ENOSPC error, never a SIGBUS: every block of a segment is allocated and
// written (zero-filled) or reserved before the file is mapped, and frames reach it with pwrite. A
// real full file system: a 3 MiB tmpfs, mounted in a private mount namespace (unshare -rm, no root
// needed where user namespaces are on), in a child process, since a SIGBUS would kill it.
import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/temp-dir.js'

const index = fileURLToPath(new URL('../../dist/index.js', import.meta.url))

describe('a full disk', () => {
  it('appending until the file system is full fails with ENOSPC, and what was flushed before reads back after a reopen', () => {
    const mountPoint = join(tempDir(), 'small')
    mkdirSync(mountPoint)
    const script = `
      import { RaftLog } from ${JSON.stringify(index)}
      const dir = ${JSON.stringify(join(mountPoint, 'log'))}
      const log = RaftLog.open(dir, { segmentSize: 1048576, logger: { warn() {} } })
      let flushed = 0
      try {
        for (;;) {
          for (let i = 0; i < 50; i++) log.append([{ term: 1, data: new Uint8Array(1000).fill(log.lastIndex % 251) }])
          await log.flush()
          flushed = log.lastIndex
        }
      } catch (error) {
        console.log('error', error.code, error.message.includes('ENOSPC'))
      }
      try { log.close() } catch {}
      const again = RaftLog.open(dir, { segmentSize: 1048576, logger: { warn() {} } })
      const ok = again.lastIndex >= flushed && again.slice(1, flushed + 1).every((entry) => entry.data.length === 1000 && entry.data[0] === (entry.index - 1) % 251)
      console.log('reopened', flushed > 0, ok)`
    const child = spawnSync(
      'unshare',
      ['-rm', 'sh', '-c', `mount -t tmpfs -o size=3m tmpfs "$1" && exec "${process.execPath}" --input-type=module -e "$0"`, script, mountPoint],
      { encoding: 'utf8', timeout: 60_000 },
    )
    expect(child.signal, child.stderr).toBeNull()
    expect(child.stdout, child.stderr).toMatch(/^error ERR_\w+|^error ENOSPC/m)
    expect(child.stdout).toMatch(/^error \S+ true$/m)
    expect(child.stdout).toMatch(/^reopened true true$/m)
    expect(child.status, child.stderr).toBe(0)
  })
})
