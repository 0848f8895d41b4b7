// Simulates a power failure after the writer's last durable boundary: the page cache dies with
// the machine, so each byte written after the last flush may have reached the disk, or not, or
// be torn. Bytes before the boundary were synced and are left alone.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { flagSealed, frameSizeBytes, headerSizeBytes, parseSegmentFileName, readHeader } from '../../storage/segment-format.js'
import type { DurableBoundary } from './model.js'

export type LossPattern = 'zeros' | 'random-bytes' | 'half-frame' | 'stale-frame' | 'some-pages'
export const lossPatterns: LossPattern[] = ['zeros', 'random-bytes', 'half-frame', 'stale-frame', 'some-pages']
const pageBytes = 4096

export interface PowerLoss {
  pattern: LossPattern
  file: string | undefined
  bytesChanged: number
  filesRemoved: number
}

export function simulatePowerLoss(dir: string, boundary: DurableBoundary, pattern: LossPattern, random: () => number): PowerLoss {
  const boundaryBase = parseSegmentFileName(boundary.file) ?? 0
  const later = readdirSync(dir)
    .filter((name) => (parseSegmentFileName(name) ?? -1) >= boundaryBase)
    .sort((a, b) => (parseSegmentFileName(a) as number) - (parseSegmentFileName(b) as number))
  const loss: PowerLoss = { pattern, file: undefined, bytesChanged: 0, filesRemoved: 0 }
  let first = true
  for (const name of later) {
    const path = join(dir, name)
    const bytes = readFileSync(path)
    const header = readHeader(bytes)
    // A sealed header is written only after the segment's frames were synced: nothing to lose.
    if (typeof header !== 'string' && (header.flags & flagSealed) !== 0) continue
    const start = name === boundary.file ? boundary.bytes : headerSizeBytes
    if (!first && random() < 0.3) {
      // A segment made after the boundary whose directory entry never reached the disk.
      rmSync(path)
      loss.filesRemoved++
      continue
    }
    loss.file ??= name
    // A segment made by a rotation after the boundary has its header synced only by a flush:
    // sometimes that header never reached the disk either.
    if (!first && random() < 0.3) {
      // (A writer killed between creating the file and reserving its blocks leaves it empty.)
      loss.bytesChanged += Math.min(headerSizeBytes, bytes.length)
      bytes.fill(0, 0, Math.min(headerSizeBytes, bytes.length))
    }
    loss.bytesChanged += lose(bytes, start, first ? pattern : 'some-pages', random)
    writeFileSync(path, bytes)
    first = false
  }
  return loss
}

function lose(bytes: Buffer, start: number, pattern: LossPattern, random: () => number): number {
  if (start >= bytes.length) return 0
  const original = Buffer.from(bytes.subarray(start))
  switch (pattern) {
    case 'zeros':
      bytes.fill(0, start)
      break
    case 'random-bytes': {
      bytes.fill(0, start)
      const length = Math.min(bytes.length - start, 1 + Math.floor(random() * 8192))
      for (let i = 0; i < length; i++) bytes[start + i] = Math.floor(random() * 256)
      break
    }
    case 'half-frame': {
      // The first frame after the boundary reached the disk only in part.
      const frameBytes = start + 4 <= bytes.length ? frameSizeBytes(bytes.readUInt32LE(start)) : 0
      const kept = Math.min(Math.floor(frameBytes / 2), bytes.length - start)
      bytes.fill(0, start + kept)
      break
    }
    case 'stale-frame': {
      // An old frame from earlier in the file shows up where the next one should be.
      bytes.fill(0, start)
      const oldLength = bytes.readUInt32LE(headerSizeBytes)
      const size = Math.min(frameSizeBytes(oldLength), bytes.length - start, start - headerSizeBytes)
      if (size > 0) bytes.copy(bytes, start, headerSizeBytes, headerSizeBytes + size)
      break
    }
    case 'some-pages':
      // Each page written after the boundary was written back, lost, or torn.
      for (let page = start - (start % pageBytes); page < bytes.length; page += pageBytes) {
        const from = Math.max(page, start)
        const to = Math.min(page + pageBytes, bytes.length)
        const fate = random()
        if (fate < 0.4) continue
        if (fate < 0.8) bytes.fill(0, from, to)
        else bytes.fill(0, from + Math.floor((to - from) / 2), to)
      }
      break
  }
  let changed = 0
  for (let i = 0; i < original.length; i++) if (original[i] !== bytes[start + i]) changed++
  return changed
}

