// What a Node user would write by hand: framed records appended with writeSync, fdatasync per
// durable batch, reads through an in-memory offset array and readSync.
import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { crc32Range } from '../../src/storage/crc32.js'
import type { EngineFactory, LogEngine } from './engine.js'

const recordHeaderBytes = 24 // length u32, crc u32, term u64, index u64

export const rawFsEngine: EngineFactory = {
  name: 'raw fs',
  async open(dir, { durable }): Promise<LogEngine> {
    const fd = openSync(join(dir, 'log.bin'), 'w+')
    let offsets = new Float64Array(1024)
    let count = 0
    let end = 0
    let readBuffer = Buffer.alloc(64 * 1024)
    return {
      name: 'raw fs',
      asyncAppend: false,
      appendBatch(entries, term) {
        let bytes = 0
        for (const data of entries) bytes += recordHeaderBytes + data.length
        const batch = Buffer.allocUnsafe(bytes)
        let at = 0
        for (const data of entries) {
          if (count === offsets.length) {
            const grown = new Float64Array(offsets.length * 2)
            grown.set(offsets)
            offsets = grown
          }
          offsets[count++] = end + at
          batch.writeUInt32LE(data.length, at)
          batch.writeUInt32LE(0, at + 8)
          batch.writeUInt32LE(term, at + 8)
          batch.writeUInt32LE(0, at + 12)
          batch.writeUInt32LE(count, at + 16)
          batch.writeUInt32LE(0, at + 20)
          batch.set(data, at + recordHeaderBytes)
          batch.writeUInt32LE(crc32Range(batch, at + 8, at + recordHeaderBytes + data.length), at + 4)
          at += recordHeaderBytes + data.length
        }
        writeSync(fd, batch, 0, bytes, end)
        end += bytes
      },
      flush() {
        if (durable) fdatasyncSync(fd)
      },
      get(index) {
        if (index < 1 || index > count) return undefined
        const offset = offsets[index - 1] as number
        const length = (index < count ? (offsets[index] as number) : end) - offset
        if (length > readBuffer.length) readBuffer = Buffer.alloc(length)
        readSync(fd, readBuffer, 0, length, offset)
        return new Uint8Array(readBuffer.subarray(recordHeaderBytes, length))
      },
      lastIndex: () => count,
      close: () => closeSync(fd),
    }
  },
}
