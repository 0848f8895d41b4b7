// Snapshot files: written whole or not at all, every byte checked when read.
import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, writeFileSync, truncateSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { SnapshotStore } from '../../src/storage/snapshot-store.js'
import { maxChunkBytes } from '../../src/storage/snapshot-format.js'
import { tempDir } from '../helpers/temp-dir.js'

async function write(store: SnapshotStore, index: number, term: number, parts: Uint8Array[], metadata = new Uint8Array([1, 2, 3])): Promise<void> {
  const writer = await store.create({ index, term, metadata })
  for (const part of parts) await writer.write(part)
  await writer.finish()
}

async function readAll(store: SnapshotStore, index: number): Promise<{ data: Buffer; chunkSizes: number[]; meta: { index: number; term: number; metadata: number[] } }> {
  const file = store.list().find((snapshot) => snapshot.index === index)!
  const reader = await store.read(file)
  const parts: Uint8Array[] = []
  try {
    for await (const chunk of reader.chunks()) parts.push(chunk)
  } finally {
    await reader.close()
  }
  return { data: Buffer.concat(parts), chunkSizes: parts.map((p) => p.length), meta: { index: reader.meta.index, term: reader.meta.term, metadata: [...reader.meta.metadata] } }
}

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    out[i] = x & 0xff
  }
  return out
}

describe('SnapshotStore', () => {
  it('reads back exactly what was written, in records of at most 1 MiB whatever the writes were', async () => {
    const store = SnapshotStore.open(tempDir())
    const parts = [bytes(10, 1), bytes(3 * maxChunkBytes + 17, 2), new Uint8Array(0), bytes(5, 3)]
    await write(store, 42, 7, parts)
    const { data, chunkSizes, meta } = await readAll(store, 42)
    expect(data.equals(Buffer.concat(parts))).toBe(true)
    expect(Math.max(...chunkSizes)).toBe(maxChunkBytes)
    expect(meta).toEqual({ index: 42, term: 7, metadata: [1, 2, 3] })
    expect(store.list().map((s) => [s.file, s.header?.term])).toEqual([['snapshot_00000000000000000042.snap', 7]])
  })

  it('an empty state is a valid snapshot', async () => {
    const store = SnapshotStore.open(tempDir())
    await write(store, 1, 1, [])
    expect((await readAll(store, 1)).data.length).toBe(0)
  })

  it('any flipped byte anywhere in the file is ERR_CORRUPT naming the file and byte, never wrong data', async () => {
    const dir = tempDir()
    const store = SnapshotStore.open(dir)
    await write(store, 9, 2, [bytes(3000, 4), bytes(70, 5)])
    const path = join(dir, 'snapshot_00000000000000000009.snap')
    const original = readFileSync(path)
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), async (offset, mask) => {
        const damaged = Buffer.from(original)
        damaged[offset] = damaged[offset]! ^ mask
        writeFileSync(path, damaged)
        await expect(store.check(store.list()[0]!)).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringMatching(/^Snapshot snapshot_00000000000000000009\.snap is corrupt at byte \d+: /) })
      }),
      { numRuns: 300 },
    )
  })

  it('a file cut short anywhere is ERR_CORRUPT', async () => {
    const dir = tempDir()
    const store = SnapshotStore.open(dir)
    await write(store, 9, 2, [bytes(3000, 4)])
    const path = join(dir, 'snapshot_00000000000000000009.snap')
    const original = readFileSync(path)
    for (const length of [0, 10, 63, 64, 70, 100, 2000, original.length - 24, original.length - 1]) {
      writeFileSync(path, original.subarray(0, length))
      await expect(store.check(store.list()[0]!), `cut to ${length}`).rejects.toMatchObject({ code: 'ERR_CORRUPT' })
    }
  })

  it('newestValid falls back past a torn newest snapshot and says which it skipped', async () => {
    const dir = tempDir()
    const store = SnapshotStore.open(dir)
    await write(store, 10, 1, [bytes(100, 1)])
    await write(store, 20, 2, [bytes(100, 2)])
    truncateSync(join(dir, 'snapshot_00000000000000000020.snap'), 90)
    const found = await store.newestValid()
    expect(found?.meta.index).toBe(10)
    expect(found?.skipped).toEqual([{ file: 'snapshot_00000000000000000020.snap', problem: expect.stringMatching(/corrupt at byte/) }])
  })

  it('a file whose name promises another index than its header is not valid', async () => {
    const dir = tempDir()
    const store = SnapshotStore.open(dir)
    await write(store, 10, 1, [bytes(100, 1)])
    await write(store, 20, 1, [bytes(100, 2)])
    // Someone copies the older file over the newer one's name.
    writeFileSync(join(dir, 'snapshot_00000000000000000020.snap'), readFileSync(join(dir, 'snapshot_00000000000000000010.snap')))
    const found = await store.newestValid()
    expect(found?.meta.index).toBe(10)
    expect(found?.skipped[0]?.problem).toMatch(/header says index 10 but its name says 20/)
  })

  it('nothing under a real name until finish(); abort and a restart leave nothing behind', async () => {
    const dir = tempDir()
    const store = SnapshotStore.open(dir)
    const writer = await store.create({ index: 5, term: 1, metadata: new Uint8Array(0) })
    await writer.write(bytes(100, 1))
    expect(store.list()).toEqual([])
    expect(readdirSync(dir)).toEqual(['snapshot_00000000000000000005.snap.tmp'])
    // A crash now: the next open removes the leftover.
    SnapshotStore.open(dir)
    expect(readdirSync(dir)).toEqual([])
    await writer.abort()
    const second = await store.create({ index: 6, term: 1, metadata: new Uint8Array(0) })
    await second.abort()
    expect(readdirSync(dir)).toEqual([])
  })

  it('prune keeps the newest ones and any pinned file', async () => {
    const dir = tempDir()
    const store = SnapshotStore.open(dir)
    for (const index of [1, 2, 3, 4]) await write(store, index, 1, [bytes(10, index)])
    const unpin = store.pin('snapshot_00000000000000000001.snap')
    expect(store.prune(2)).toEqual(['snapshot_00000000000000000002.snap'])
    expect(store.list().map((s) => s.index)).toEqual([1, 3, 4])
    unpin()
    expect(store.prune(2)).toEqual(['snapshot_00000000000000000001.snap'])
  })

  it("receives another node's file in pieces, resumes a partial copy of the same snapshot, and checks it whole", async () => {
    const source = SnapshotStore.open(tempDir())
    await write(source, 30, 3, [bytes(5000, 9)])
    const file = source.list()[0]!
    const raw = await source.readBytes(file, 0, file.sizeBytes)
    const dir = tempDir()
    const target = SnapshotStore.open(dir)
    const first = await target.receive(30, 3)
    expect(await first.write(0, raw.subarray(0, 1000))).toBe(true)
    // A chunk out of order is refused: the sender must go on from heldBytes.
    expect(await first.write(2000, raw.subarray(2000, 3000))).toBe(false)
    // The transfer breaks; a new one for the same snapshot resumes.
    await first.close()
    const again = await target.receive(30, 3)
    expect(again.heldBytes).toBe(1000)
    expect(await again.write(1000, raw.subarray(1000))).toBe(true)
    const { meta } = await again.finish()
    expect([meta.index, meta.term]).toEqual([30, 3])
    expect((await readAll(target, 30)).data.equals(Buffer.from(bytes(5000, 9)))).toBe(true)
    expect(readdirSync(dir)).toEqual(['snapshot_00000000000000000030.snap'])
  })

  it('a received file that does not check out is refused and removed', async () => {
    const source = SnapshotStore.open(tempDir())
    await write(source, 30, 3, [bytes(5000, 9)])
    const file = source.list()[0]!
    const raw = Buffer.from(await source.readBytes(file, 0, file.sizeBytes))
    raw[300] = raw[300]! ^ 1
    const dir = tempDir()
    const receiver = await SnapshotStore.open(dir).receive(30, 3)
    await receiver.write(0, raw)
    await expect(receiver.finish()).rejects.toMatchObject({ code: 'ERR_CORRUPT' })
    expect(existsSync(join(dir, 'snapshot_00000000000000000030.snap'))).toBe(false)
    expect(readdirSync(dir)).toEqual([])
  })
})
