// The recovery rule at open(): what a crash can leave is cut, everything else is ERR_CORRUPT with
// file, byte offset and index, and then no byte on disk has changed. Each case of issue 9 is here.
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog, RaftLogError } from '../../src/index.js'
import { crc32, frameSizeBytes, headerSizeBytes, segmentFileName } from '../../src/storage/segment-format.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

function open(dir: string, segmentSize: number): RaftLog {
  return RaftLog.open(dir, { segmentSize, logger: silentLogger })
}

/** Every file but LOCK, by name, as hashes: what "nothing on disk changed" compares. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const name of readdirSync(dir).sort()) {
    if (name !== 'LOCK') files[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex')
  }
  return files
}

function expectCorrupt(dir: string, segmentSize: number, message: RegExp): RaftLogError {
  const before = snapshot(dir)
  let caught: unknown
  try {
    open(dir, segmentSize).close()
  } catch (error) {
    caught = error
  }
  expect(caught, 'open() must refuse').toBeInstanceOf(RaftLogError)
  const error = caught as RaftLogError
  expect(error.code).toBe('ERR_CORRUPT')
  expect(error.message).toMatch(message)
  expect(snapshot(dir), 'open() changed the directory it refused').toEqual(before)
  return error
}

/** `count` entries of `size` bytes (term 1), flushed and closed. */
async function writeLog(dir: string, segmentSize: number, count: number, size?: number): Promise<void> {
  const log = open(dir, segmentSize)
  log.append(Array.from({ length: count }, (_, i) => ({ term: 1, data: payloadFor(i + 1, 1, size) })))
  await log.flush()
  log.close()
}

function frameOffset(index: number, size?: number): number {
  let offset = headerSizeBytes
  for (let i = 1; i < index; i++) offset += frameSizeBytes(payloadFor(i, 1, size).length)
  return offset
}

function edit(path: string, change: (bytes: Buffer) => void): void {
  const bytes = readFileSync(path)
  change(bytes)
  writeFileSync(path, bytes)
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('segment_')).sort()
}

describe('recovery refuses damage and changes nothing', () => {
  it('one flipped payload bit in entry 10 of 100 flushed entries is ERR_CORRUPT naming file, offset and index 10', async () => {
    const dir = tempDir()
    await writeLog(dir, 1024 * 1024, 100)
    const offset = frameOffset(10)
    edit(join(dir, segmentFileName(1)), (bytes) => (bytes[offset + 32 + 3]! ^= 0x04))
    const error = expectCorrupt(dir, 1024 * 1024, new RegExp(`^Segment segment_00000000000000000001\\.log is corrupt at byte ${offset} \\(index 10\\): checksum mismatch$`))
    expect(error.details).toMatchObject({ file: join(dir, segmentFileName(1)), offset, index: 10 })
  })

  it('64 zero bytes over the header of a sealed segment are ERR_CORRUPT: a frame at byte 64 proves it was written', async () => {
    const dir = tempDir()
    await writeLog(dir, 16384, 100, 200)
    const files = segments(dir)
    expect(files.length).toBe(2)
    edit(join(dir, files[0]!), (bytes) => bytes.fill(0, 0, headerSizeBytes))
    expectCorrupt(dir, 16384, /segment_00000000000000000001\.log is corrupt at byte 0 \(index 1\): header is all zero/)
    expect(segments(dir)).toEqual(files)
  })

  it('64 zero bytes over the header of the open segment are ERR_CORRUPT too', async () => {
    const dir = tempDir()
    await writeLog(dir, 16384, 100, 200)
    const files = segments(dir)
    edit(join(dir, files[1]!), (bytes) => bytes.fill(0, 0, headerSizeBytes))
    expectCorrupt(dir, 16384, new RegExp(`${files[1]!.replace('.', '\\.')} is corrupt at byte 0 \\(index \\d+\\): header is all zero`))
  })

  it('a file under a segment name that is not a segment is refused and left as it is', () => {
    const dir = tempDir()
    writeFileSync(join(dir, segmentFileName(1)), 'hello, not a segment')
    expectCorrupt(dir, 65536, /segment_00000000000000000001\.log is corrupt at byte 0 \(index 1\): not a segment/)
    expect(readFileSync(join(dir, segmentFileName(1)), 'utf8')).toBe('hello, not a segment')
  })

  it('a damaged header is ERR_CORRUPT even on a last segment with no frame behind it: a header write is atomic', () => {
    const dir = tempDir()
    open(dir, 16384).close()
    edit(join(dir, segmentFileName(1)), (bytes) => (bytes[20]! ^= 0x01))
    expectCorrupt(dir, 16384, /segment_00000000000000000001\.log is corrupt at byte 0 \(index 1\): header checksum mismatch/)
  })

  it('a frame with a valid checksum but the wrong index is ERR_CORRUPT', async () => {
    const dir = tempDir()
    await writeLog(dir, 65536, 20)
    const offset = frameOffset(7)
    edit(join(dir, segmentFileName(1)), (bytes) => {
      bytes.writeUInt32LE(70, offset + 16)
      bytes.writeUInt32LE(crc32(Buffer.concat([bytes.subarray(offset, offset + 4), bytes.subarray(offset + 8, offset + 32 + bytes.readUInt32LE(offset))])), offset + 4)
    })
    expectCorrupt(dir, 65536, new RegExp(`corrupt at byte ${offset} \\(index 7\\): wrong index: the frame holds index 70`))
  })

  it('a length past the end of the segment is ERR_CORRUPT', async () => {
    const dir = tempDir()
    await writeLog(dir, 65536, 20)
    const offset = frameOffset(12)
    edit(join(dir, segmentFileName(1)), (bytes) => bytes.writeUInt32LE(0x00ff_0000, offset))
    expectCorrupt(dir, 65536, new RegExp(`corrupt at byte ${offset} \\(index 12\\): length beyond the segment`))
  })

  it('damage in a later file refuses the log before an earlier cut is made or a leftover deleted', async () => {
    const dir = tempDir()
    const log = open(dir, 16384)
    log.append(Array.from({ length: 100 }, (_, i) => ({ term: 1, data: payloadFor(i + 1, 1, 200) })))
    // reset() leaves its new segment first, then deletes the old ones: keep one as a leftover.
    const leftover = readFileSync(join(dir, segmentFileName(1)))
    log.reset(500, 1)
    log.append(Array.from({ length: 30 }, (_, i) => ({ term: 2, data: payloadFor(500 + i, 2, 200) })))
    await log.flush()
    log.close()
    writeFileSync(join(dir, segmentFileName(1)), leftover)
    edit(join(dir, segmentFileName(500)), (bytes) => (bytes[frameOffset(3, 200) + 40]! ^= 0x80))
    expectCorrupt(dir, 16384, /segment_00000000000000000500\.log is corrupt at byte \d+ \(index 502\): checksum mismatch/)
    expect(segments(dir)).toEqual([segmentFileName(1), segmentFileName(500)])
  })
})

describe('recovery keeps every frame a crash cannot have damaged', () => {
  it('a segment file cut to exactly its used bytes keeps all 40 entries, and takes appends and a seal after', async () => {
    const dir = tempDir()
    await writeLog(dir, 65536, 40, 100)
    const path = join(dir, segmentFileName(1))
    const used = frameOffset(41, 100)
    truncateSync(path, used)
    const log = open(dir, 65536)
    expect(log.lastIndex).toBe(40)
    expect(log.slice(1).map((entry) => entry.data)).toEqual(Array.from({ length: 40 }, (_, i) => payloadFor(i + 1, 1, 100)))
    expect(log.recovery.cutBytes).toBe(0)
    // Room again for appends and for the offset table a seal writes.
    log.append(Array.from({ length: 600 }, (_, i) => ({ term: 2, data: payloadFor(41 + i, 2, 100) })))
    await log.flush()
    expect(log.describeSegments()[0]!.sealed).toBe(true)
    log.close()
    expect(statSync(path).size).toBe(65536)
    const again = open(dir, 65536)
    expect(again.lastIndex).toBe(640)
    expect(again.get(40)!.data).toEqual(payloadFor(40, 1, 100))
    expect(again.get(640)!.data).toEqual(payloadFor(640, 2, 100))
    again.close()
  })

  it('a header and first sector never written start the last segment afresh', async () => {
    const dir = tempDir()
    await writeLog(dir, 16384, 100, 200)
    const last = segments(dir).at(-1)!
    const base = Number(last.slice(8, 28))
    // A rotation's page 0 was never written back (its header waits for a flush), later pages were.
    edit(join(dir, last), (bytes) => bytes.fill(0, 0, 4096))
    const log = open(dir, 16384)
    expect(log.recovery.reinitializedSegments).toEqual([last])
    expect(log.lastIndex).toBe(base - 1)
    log.close()
    expect(readFileSync(join(dir, last)).subarray(headerSizeBytes).every((byte) => byte === 0)).toBe(true)
  })

  it('an all-zero file shorter than a header is made anew', async () => {
    const dir = tempDir()
    await writeLog(dir, 16384, 10, 200)
    writeFileSync(join(dir, segmentFileName(11)), Buffer.alloc(20))
    const log = open(dir, 16384)
    expect(log.recovery.reinitializedSegments).toEqual([segmentFileName(11)])
    expect(log.lastIndex).toBe(10)
    log.close()
    expect(statSync(join(dir, segmentFileName(11))).size).toBe(16384)
  })

  it('a crash between writing the offset table and sealing the header loses nothing, torn table or not', async () => {
    const dir = tempDir()
    await writeLog(dir, 16384, 400, 24)
    const path = join(dir, segmentFileName(1))
    const sealed = readFileSync(path)
    const log = open(dir, 16384)
    const count = log.describeSegments()[0]!.entryCount
    log.close()
    // The segment as seal() leaves it before its header write: the header still open, the table there.
    const tableStart = frameOffset(count + 1, 24)
    const tableEnd = tableStart + 4 * count + 4
    expect(Math.floor(tableEnd / 512) - Math.floor(tableStart / 512)).toBeGreaterThanOrEqual(2)
    const openHeader = Buffer.from(sealed.subarray(0, headerSizeBytes))
    openHeader.fill(0, 40, 52)
    // Format version 2: the header's checksum covers bytes 0..51 and its salt's, 56..63.
    openHeader.writeUInt32LE(crc32(Buffer.concat([openHeader.subarray(0, 52), openHeader.subarray(56, 64)])), 52)
    const middleSector = (Math.floor(tableStart / 512) + 1) * 512
    for (const torn of [false, true]) {
      const bytes = Buffer.from(sealed)
      openHeader.copy(bytes, 0)
      // Torn: one sector of the table never reached the disk.
      if (torn) bytes.fill(0, middleSector, middleSector + 512)
      writeFileSync(path, bytes)
      const again = open(dir, 16384)
      expect(again.lastIndex, `torn ${torn}`).toBe(400)
      expect(again.recovery.cutBytes).toBe(0)
      expect(again.describeSegments()[0]!.sealed).toBe(true)
      expect(again.slice(1).map((entry) => entry.data)).toEqual(Array.from({ length: 400 }, (_, i) => payloadFor(i + 1, 1, 24)))
      again.close()
    }
  })
})
