// Damage of the kind no crash produces, for `crash-test --mode corrupt`: a flipped bit or a few
// random bytes anywhere in a flushed log (any segment, sealed or open; its header, frames, offset
// table or anywhere in the file). Opening and reading the log afterwards may only give it back
// exactly or refuse it with ERR_CORRUPT, never a shorter or different log.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { frameContextOf, plainContext, walkOpenSegment } from '../../storage/recovery-rule.js'
import { flagSealed, headerSizeBytes, offsetTableSizeBytes, parseSegmentFileName, readHeader } from '../../storage/segment-format.js'

export type DamageRegion = 'header' | 'frames' | 'offset table' | 'anywhere'

export interface Damage {
  file: string
  region: DamageRegion
  offset: number
  /** A flipped bit (0..7), or random bytes over `length` bytes. */
  kind: 'bit' | 'bytes'
  bit: number
  length: number
}

/** Every segment file's bytes, to put the log back as it was after a round. */
export type Snapshot = Map<string, Buffer>

export function takeSnapshot(dir: string): Snapshot {
  return new Map(segmentNames(dir).map((name) => [name, readFileSync(join(dir, name))]))
}

export function restoreSnapshot(dir: string, snapshot: Snapshot): void {
  for (const name of segmentNames(dir)) if (!snapshot.has(name)) rmSync(join(dir, name))
  for (const [name, bytes] of snapshot) writeFileSync(join(dir, name), bytes)
}

/** True when the segment files are byte for byte those of the snapshot. */
export function sameAsSnapshot(dir: string, snapshot: Snapshot): boolean {
  const names = segmentNames(dir)
  return names.length === snapshot.size && names.every((name) => snapshot.get(name)?.equals(readFileSync(join(dir, name))) === true)
}

/** Damages one segment file of `dir` where `random` says; returns what it did. */
export function damageLog(dir: string, random: () => number): Damage {
  const names = segmentNames(dir).sort((a, b) => (parseSegmentFileName(a) as number) - (parseSegmentFileName(b) as number))
  // The open segment, the one recovery walks, gets a good share of the damage.
  const file = (random() < 0.4 ? names.at(-1) : names[Math.floor(random() * names.length)]) as string
  const path = join(dir, file)
  const bytes = readFileSync(path)
  const { region, from, to } = pickRegion(bytes, random)
  const offset = from + Math.floor(random() * (to - from))
  const damage: Damage = { file, region, offset, kind: random() < 0.6 ? 'bit' : 'bytes', bit: Math.floor(random() * 8), length: 1 }
  if (damage.kind === 'bytes') {
    damage.length = Math.min(1 + Math.floor(random() * 16), bytes.length - offset)
    const before = Buffer.from(bytes.subarray(offset, offset + damage.length))
    for (let i = 0; i < damage.length; i++) bytes[offset + i] = Math.floor(random() * 256)
    // Random bytes equal to what was there would be no damage at all.
    if (before.equals(bytes.subarray(offset, offset + damage.length))) bytes[offset] = (bytes[offset] as number) ^ (1 << damage.bit)
  } else {
    bytes[offset] = (bytes[offset] as number) ^ (1 << damage.bit)
  }
  writeFileSync(path, bytes)
  return damage
}

export function describeDamage(damage: Damage): string {
  const what = damage.kind === 'bit' ? `bit ${damage.bit} of byte ${damage.offset} flipped` : `${damage.length} random bytes at byte ${damage.offset}`
  return `${what} (${damage.region}) in ${damage.file}`
}

/** Where to strike: the header, the frames, a sealed segment's offset table, or anywhere in the file. */
function pickRegion(bytes: Buffer, random: () => number): { region: DamageRegion; from: number; to: number } {
  const header = readHeader(bytes)
  const choice = random()
  if (typeof header === 'string' || choice < 0.15) return { region: 'header', from: 0, to: Math.min(headerSizeBytes, bytes.length) }
  const sealed = (header.flags & flagSealed) !== 0
  const framesEnd = sealed ? header.offsetTablePosition : walkOpenSegment(bytes, header.baseIndex, header.prevTerm, frameContextOf(bytes, header) ?? plainContext(bytes.length)).end
  if (sealed && choice < 0.3) {
    return { region: 'offset table', from: framesEnd, to: framesEnd + offsetTableSizeBytes(header.entryCount) }
  }
  if (choice < 0.8 && framesEnd > headerSizeBytes) return { region: 'frames', from: headerSizeBytes, to: framesEnd }
  return { region: 'anywhere', from: 0, to: bytes.length }
}

function segmentNames(dir: string): string[] {
  return readdirSync(dir).filter((name) => parseSegmentFileName(name) !== undefined)
}
