import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { allocateFileAsync, fsyncDirectory, isLockHeld, lockFile, mapFile, mapFileReadOnly, startWriteback, syncRange, syncRangeAsync, unlockFile, unmap, pageSizeBytes } from '../../src/storage/native.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('native addon', () => {
  it('maps a new file with its blocks reserved, and writes reach the file after sync', () => {
    const path = join(tempDir(), 'seg')
    const mapping = mapFile(path, 4 * pageSizeBytes())
    Buffer.from(mapping).write('RAFT', 0)
    syncRange(mapping, 0, 4)
    expect(readFileSync(path).subarray(0, 4).toString()).toBe('RAFT')
    // posix_fallocate, not a sparse file: every block is allocated.
    expect(statSync(path).blocks * 512).toBeGreaterThanOrEqual(4 * pageSizeBytes())
    unmap(mapping)
  })

  it('a view over an unmapped segment reads as empty instead of crashing', async () => {
    const mapping = mapFile(join(tempDir(), 'seg'), pageSizeBytes())
    const bytes = Buffer.from(mapping)
    const view = new Uint8Array(mapping, 16, 32)
    bytes[20] = 7
    expect(view[4]).toBe(7)
    const pending = syncRangeAsync(mapping, 0, pageSizeBytes())
    unmap(mapping)
    unmap(mapping) // twice is harmless
    expect(mapping.byteLength).toBe(0)
    expect(bytes.length).toBe(0)
    expect(view.length).toBe(0)
    expect(view[4]).toBeUndefined()
    expect(() => bytes.readUInt32LE(0)).toThrow(RangeError)
    // The msync that was in flight finishes before the memory goes away.
    await expect(pending).resolves.toBeUndefined()
  })

  it('allocateFileAsync makes a file of zeros whose blocks are all there, or only reserves them when asked', async () => {
    for (const written of [true, false]) {
      const path = join(tempDir(), 'spare')
      await allocateFileAsync(path, 4 * 2 ** 20, written)
      const stat = statSync(path)
      expect(stat.size).toBe(4 * 2 ** 20)
      expect(stat.blocks * 512).toBeGreaterThanOrEqual(stat.size)
      expect(readFileSync(path).every((byte) => byte === 0)).toBe(true)
    }
    await expect(allocateFileAsync(join(tempDir(), 'missing', 'spare'), 4096)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' })
  })

  it('startWriteback starts writing a range back and changes nothing; a bad descriptor is an error with its errno name', () => {
    const path = join(tempDir(), 'file')
    const fd = openSync(path, 'w+')
    writeSync(fd, Buffer.from('some bytes'), 0, 10, 0)
    startWriteback(fd, 0, 10)
    closeSync(fd)
    expect(readFileSync(path).toString()).toBe('some bytes')
    expect(() => startWriteback(fd, 0, 10)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'sync_file_range' }))
  })

  it('a read-only mapping never writes to the file', () => {
    const path = join(tempDir(), 'seg')
    const writable = mapFile(path, pageSizeBytes())
    Buffer.from(writable).write('abcd', 0)
    syncRange(writable, 0, 4)
    unmap(writable)
    const readOnly = mapFileReadOnly(path)
    const view = Buffer.from(readOnly)
    expect(view.subarray(0, 4).toString()).toBe('abcd')
    view.write('zzzz', 0)
    unmap(readOnly)
    expect(readFileSync(path).subarray(0, 4).toString()).toBe('abcd')
  })

  it('a lock probe creates nothing and opens for reading only, yet sees a lock held elsewhere', () => {
    const dir = tempDir()
    const path = join(dir, 'LOCK')
    expect(() => lockFile(path, true)).toThrow(expect.objectContaining({ code: 'ENOENT' }))
    expect(existsSync(path)).toBe(false)
    const held = lockFile(path)
    expect(() => lockFile(path, true)).toThrow(expect.objectContaining({ code: 'EAGAIN' }))
    unlockFile(held)
    // A file this process may only read (as the read-only tools see a node's directory).
    chmodSync(path, 0o444)
    const probe = lockFile(path, true)
    unlockFile(probe)
  })

  it('a file too large for one ArrayBuffer is refused with EFBIG, not mapped and freed twice', () => {
    const path = join(tempDir(), 'segment_00000000000000000001.log')
    // Sparse: 5 GiB of size and no blocks. Run in a child: the old failure was an abort.
    const script = `import { truncateSync, writeFileSync } from 'node:fs'
import { mapFileReadOnly } from ${JSON.stringify(new URL('../../dist/storage/native.js', import.meta.url).href)}
writeFileSync(${JSON.stringify(path)}, '')
truncateSync(${JSON.stringify(path)}, 5 * 2 ** 30)
try { mapFileReadOnly(${JSON.stringify(path)}); console.log('mapped') } catch (error) { console.log(error.code) }`
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(result.stdout.trim(), result.stderr).toBe('EFBIG')
    expect(result.status).toBe(0)
  })

  it('a worker thread stopped while a flush and populating are in flight exits cleanly', () => {
    const dir = tempDir()
    const index = JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)
    const script = `import { Worker } from 'node:worker_threads'
const worker = new Worker(\`
  const { RaftLog } = await import(${index})
  const { parentPort } = await import('node:worker_threads')
  const log = RaftLog.open(${JSON.stringify(dir)}, { logger: { warn() {} } })
  log.append([{ term: 1, data: new Uint8Array(1000) }])
  log.flush()
  parentPort.postMessage('flushing')
  setInterval(() => {}, 1000)
\`, { eval: true })
worker.on('message', () => worker.terminate().then(() => console.log('terminated')))`
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
    expect(result.stderr).not.toMatch(/terminate called/)
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('terminated')
  })

  it('errors carry the errno code and the path', () => {
    const missing = join(tempDir(), 'no', 'such', 'file')
    expect(() => mapFile(missing, pageSizeBytes())).toThrow(expect.objectContaining({ code: 'ENOENT', path: missing }))
    expect(() => fsyncDirectory(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }))
    expect(() => syncRange(mapFile(join(tempDir(), 'x'), pageSizeBytes()), 0, 2 * pageSizeBytes())).toThrow(/outside the mapping/)
  })

  it('an exclusive lock conflicts within one process and is released on unlock', () => {
    const lockPath = join(tempDir(), 'LOCK')
    const fd = lockFile(lockPath)
    let error: unknown
    try {
      lockFile(lockPath)
    } catch (caught) {
      error = caught
    }
    expect(isLockHeld(error)).toBe(true)
    unlockFile(fd)
    unlockFile(lockFile(lockPath))
  })

  it('an exclusive lock conflicts with another process', () => {
    const lockPath = join(tempDir(), 'LOCK')
    const fd = lockFile(lockPath)
    const child = spawnSync(
      process.execPath,
      ['-e', `const n = require(${JSON.stringify(join(root, 'build/Release/raftlog_native.node'))}); try { n.lock(${JSON.stringify(lockPath)}); console.log('got it') } catch (e) { console.log(e.code) }`],
      { encoding: 'utf8' },
    )
    expect(child.stdout.trim()).toMatch(/^(EAGAIN|EWOULDBLOCK)$/)
    unlockFile(fd)
  })

  it('a file-size limit at segment creation is a clear EFBIG error, not a crash', () => {
    const dir = tempDir()
    // A child under `ulimit -f` (in 512-byte blocks): creating a 1 MiB segment exceeds it.
    const script = `
      import { RaftLog } from ${JSON.stringify(join(root, 'dist/index.js'))}
      try { RaftLog.open(${JSON.stringify(dir)}, { segmentSize: 1048576 }); console.log('opened') }
      catch (e) { console.log(e.code + ' ' + e.message) }`
    const child = spawnSync('bash', ['-c', `ulimit -f 64; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8' })
    expect(child.status).toBe(0)
    expect(child.stdout).toMatch(/^EFBIG Cannot create segment segment_00000000000000000001\.log: EFBIG/)
    // Nothing half-made is left under a real name.
    expect(existsSync(join(dir, 'segment_00000000000000000001.log'))).toBe(false)
    expect(existsSync(join(dir, 'segment_00000000000000000001.log.tmp'))).toBe(false)
  })
})
