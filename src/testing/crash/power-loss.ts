// Simulates a power failure after the writer's last durable boundary, the way disks fail: segment
// files are preallocated, so a region never written back reads as zeros; a 512-byte sector is
// written whole or not at all; the page cache writes pages back in any order. So past the boundary
// every sector holds either the new data (what the page cache held) or zeros. Bytes before the
// boundary were synced and stay. A recycled segment's file held an earlier segment: there a sector
// never written back reads as what it held before, which the writer copied aside (priorDirName)
// when its rotation renamed the file in.
//
// Two patterns of the old model are gone because no disk produces them: random bytes past the
// boundary (the old content of a preallocated file is zero, and raftlog zeroes what it truncates
// before truncateAfter returns) and a stale frame appearing there (for the same reason). Damage of
// that kind is what `--mode corrupt` does, where it must be reported, not cut.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { flagRecycled, flagSealed, parseSegmentFileName, readHeader, recycledDataEnd } from '../../storage/segment-format.js'
import { sectorSizeBytes } from '../../storage/recovery-rule.js'
import type { DurableBoundary } from './model.js'

/**
 * zeros: nothing past the boundary reached the disk.
 * in-order: write-back went in file order and stopped at a random sector (a frame torn in two).
 * sectors: each sector written or not, independently.
 * pages: each 4 KiB page written whole, not at all, or torn (its sectors in order, up to one).
 */
export type LossPattern = 'zeros' | 'in-order' | 'sectors' | 'pages'
export const lossPatterns: LossPattern[] = ['zeros', 'in-order', 'sectors', 'pages']
const pageBytes = 4096

/** Where the writer keeps what each recycled file held before its rotation renamed it in (inside the log directory). */
export const priorDirName = 'crash-test-prior'

/**
 * What a recycled file held before its current segment, when the writer copied it: the copy whose
 * recycle record is this file's (the same life of the file). Undefined for any other file.
 */
function priorContent(dir: string, name: string, bytes: Buffer): Buffer | undefined {
  const path = join(dir, priorDirName, name)
  if (!existsSync(path)) return undefined
  const prior = readFileSync(path)
  if (prior.length !== bytes.length) return undefined
  const end = recycledDataEnd(bytes.length)
  return prior.subarray(end).equals(bytes.subarray(end)) ? prior : undefined
}

export interface PowerLoss {
  pattern: LossPattern
  file: string | undefined
  bytesChanged: number
  filesRemoved: number
  /** Recycled files whose lost sectors read as what they held before (not zeros). */
  recycledFiles: number
}

export function simulatePowerLoss(dir: string, boundary: DurableBoundary, pattern: LossPattern, random: () => number): PowerLoss {
  const boundaryBase = parseSegmentFileName(boundary.file) ?? 0
  const later = readdirSync(dir)
    .filter((name) => (parseSegmentFileName(name) ?? -1) >= boundaryBase)
    .sort((a, b) => (parseSegmentFileName(a) as number) - (parseSegmentFileName(b) as number))
  const loss: PowerLoss = { pattern, file: undefined, bytesChanged: 0, filesRemoved: 0, recycledFiles: 0 }
  for (const name of later) {
    const path = join(dir, name)
    const bytes = readFileSync(path)
    const header = readHeader(bytes)
    // A sealed header is written only after the segment's frames were synced: nothing to lose.
    if (typeof header !== 'string' && (header.flags & flagSealed) !== 0) continue
    const first = name === boundary.file
    if (!first) {
      const fate = random()
      // A segment made after the boundary: its directory entry may never have reached the disk,
      // or (a crash between creating the file and reserving its blocks) only an empty file did.
      if (fate < 0.25) {
        rmSync(path)
        loss.filesRemoved++
        continue
      }
      if (fate < 0.3) {
        writeFileSync(path, '')
        loss.bytesChanged += bytes.length
        continue
      }
    }
    loss.file ??= name
    // A rotation's header is synced by the flush that acknowledges its first frames: all of a
    // segment made after the boundary is past it.
    const start = first ? boundary.bytes : 0
    // A recycled file's recycle record was synced before the file took a segment's name. (Sectors
    // lost in a recycled file read as zeros here, not as its old content: the rule takes both.)
    const recycled = typeof header !== 'string' && (header.flags & flagRecycled) !== 0
    const end = recycled ? recycledDataEnd(bytes.length) : bytes.length
    const prior = recycled ? priorContent(dir, name, bytes) : undefined
    if (prior !== undefined) loss.recycledFiles++
    loss.bytesChanged += lose(bytes, start, end, first ? pattern : pickLater(random), random, prior)
    writeFileSync(path, bytes)
  }
  return loss
}

function pickLater(random: () => number): LossPattern {
  return lossPatterns[Math.floor(random() * lossPatterns.length)] as LossPattern
}

/**
 * Puts back the sectors past `start` that the pattern says never reached the disk (zeros, or what
 * `prior` held there); returns bytes changed, counted in 4-byte words.
 */
function lose(bytes: Buffer, start: number, end: number, pattern: LossPattern, random: () => number, prior?: Buffer): number {
  if (start >= end) return 0
  const original = Buffer.from(bytes.subarray(start))
  const firstSector = Math.floor(start / sectorSizeBytes)
  const sectors = Math.ceil(end / sectorSizeBytes)
  // The sector holding the boundary is one unit too: its bytes past the boundary go or stay together.
  const drop = (sector: number): void => {
    const from = Math.max(start, sector * sectorSizeBytes)
    const to = Math.min(end, (sector + 1) * sectorSizeBytes)
    // A recycled file's sector holding the boundary was last written whole by the flush that made
    // the boundary (its write zero-padded to the end of the sector): zeros after the boundary.
    if (prior === undefined || from > sector * sectorSizeBytes) bytes.fill(0, from, to)
    else prior.copy(bytes, from, from, to)
  }
  switch (pattern) {
    case 'zeros':
      for (let sector = firstSector; sector < sectors; sector++) drop(sector)
      break
    case 'in-order': {
      const lastWritten = firstSector + Math.floor(random() * Math.min(64, sectors - firstSector))
      for (let sector = lastWritten + 1; sector < sectors; sector++) drop(sector)
      break
    }
    case 'sectors':
      for (let sector = firstSector; sector < sectors; sector++) if (random() < 0.5) drop(sector)
      break
    case 'pages': {
      const perPage = pageBytes / sectorSizeBytes
      for (let page = Math.floor(firstSector / perPage); page * perPage < sectors; page++) {
        const fate = random()
        // Written whole (0.4), lost whole (0.4), or torn after its first few sectors (0.2).
        const keptSectors = fate < 0.4 ? perPage : fate < 0.8 ? 0 : 1 + Math.floor(random() * (perPage - 1))
        for (let sector = page * perPage + keptSectors; sector < (page + 1) * perPage && sector < sectors; sector++) {
          if (sector >= firstSector) drop(sector)
        }
      }
      break
    }
  }
  // Counted by 4-byte words: a checksum covers its segment's random salt, so one of its bytes is
  // zero (and a lost zero changes nothing) by chance, and a seed must replay a report exactly; a
  // whole word is zero by chance once in 2^32.
  let changed = 0
  for (let i = 0; i < original.length; i += 4) {
    const end = Math.min(original.length, i + 4)
    if (!original.subarray(i, end).equals(bytes.subarray(start + i, start + end))) changed += end - i
  }
  return changed
}
