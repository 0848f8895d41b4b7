// The machine's own limits, printed beside the results so a reader sees how close the engines
// come: fdatasync latency (4 KiB appended to a growing file, as raw fs does, and 4 KiB rewritten
// into a block written before, as raftlog's zero-filled segments allow), sequential write
// bandwidth, memcpy bandwidth, CRC-32 throughput, and how fast the page cache takes new pages.
import { closeSync, fdatasyncSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import zlib from 'node:zlib'
import CRC32 from 'crc-32'
import { crc32Range } from '../src/storage/crc32.js'
import { percentile } from './stats.js'

export interface MachineLimits {
  /** 4 KiB appended to a growing file, then fdatasync: the metadata (size, extents) goes with it. */
  fdatasync4KiBp50Ms: number
  fdatasync4KiBp99Ms: number
  /** 4 KiB written into a block written (and synced) before, then fdatasync: data only, the floor. */
  fdatasyncWritten4KiBp50Ms?: number
  fdatasyncWritten4KiBp99Ms?: number
  sequentialWriteMBps: number
  /**
   * Buffered writes (no sync) of 1 MiB into a new file, GB/s: over its first 256 MiB, and over its
   * slowest 256 MiB. Every no-sync append needs new page-cache pages; on a VM whose host takes
   * freed guest memory back (virtio-balloon free page reporting), pages past the guest's recently
   * used ones are faulted in from the host at a fraction of memcpy's rate. It caps every engine
   * once a run has written more than that recently used memory.
   */
  pageCacheFirstGBps?: number
  pageCacheSlowestGBps?: number
  memcpyGBps: number
  crc32: { implementation: string; bytes: number; GBps: number }[]
}

function fdatasyncLatency(dir: string, samples: number, intoWrittenBlocks: boolean): number[] {
  const path = join(dir, 'fdatasync.bin')
  const fd = openSync(path, 'w')
  const block = Buffer.alloc(4096, 1)
  if (intoWrittenBlocks) {
    const zeros = Buffer.alloc(4096)
    for (let i = 0; i < samples; i++) writeSync(fd, zeros, 0, zeros.length, i * 4096)
    fsyncSync(fd)
  }
  const latencies: number[] = []
  for (let i = 0; i < samples; i++) {
    writeSync(fd, block, 0, block.length, i * 4096)
    const started = performance.now()
    fdatasyncSync(fd)
    latencies.push(performance.now() - started)
  }
  closeSync(fd)
  rmSync(path)
  return latencies
}

function sequentialWrite(dir: string, totalBytes: number): number {
  const path = join(dir, 'sequential.bin')
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(1024 * 1024, 7)
  const started = performance.now()
  for (let written = 0; written < totalBytes; written += chunk.length) writeSync(fd, chunk)
  fdatasyncSync(fd)
  const seconds = (performance.now() - started) / 1000
  closeSync(fd)
  rmSync(path)
  return totalBytes / 1e6 / seconds
}

function pageCacheFill(dir: string, totalBytes: number): Pick<MachineLimits, 'pageCacheFirstGBps' | 'pageCacheSlowestGBps'> {
  const path = join(dir, 'page-cache.bin')
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(1024 * 1024, 9)
  const sliceBytes = 256 * 1024 * 1024
  const rates: number[] = []
  for (let slice = 0; slice < totalBytes / sliceBytes; slice++) {
    const started = performance.now()
    for (let written = 0; written < sliceBytes; written += chunk.length) writeSync(fd, chunk)
    rates.push(sliceBytes / 1e9 / ((performance.now() - started) / 1000))
  }
  closeSync(fd)
  rmSync(path)
  return { pageCacheFirstGBps: rates[0] as number, pageCacheSlowestGBps: Math.min(...rates) }
}

function memcpy(totalBytes: number): number {
  const source = Buffer.alloc(64 * 1024 * 1024, 3)
  const target = Buffer.alloc(source.length)
  source.copy(target) // fault the pages in first
  const started = performance.now()
  for (let copied = 0; copied < totalBytes; copied += source.length) source.copy(target)
  return totalBytes / 1e9 / ((performance.now() - started) / 1000)
}

function crcThroughput(bytes: number, totalBytes: number): { implementation: string; bytes: number; GBps: number }[] {
  const data = Buffer.alloc(bytes, 5)
  const rounds = Math.max(1, Math.floor(totalBytes / bytes))
  const implementations: [string, () => void][] = [
    ['crc-32 (npm)', () => CRC32.buf(data)],
    ['zlib.crc32', () => (zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32(data)],
    ['raftlog crc32Range', () => crc32Range(data, 0, data.length)],
  ]
  return implementations.map(([implementation, run]) => {
    run()
    const started = performance.now()
    for (let i = 0; i < rounds; i++) run()
    return { implementation, bytes, GBps: (rounds * bytes) / 1e9 / ((performance.now() - started) / 1000) }
  })
}

export function measureMachineLimits(dir: string, quick: boolean): MachineLimits {
  const latencies = fdatasyncLatency(dir, quick ? 50 : 300, false)
  const written = fdatasyncLatency(dir, quick ? 50 : 300, true)
  return {
    fdatasync4KiBp50Ms: percentile(latencies, 0.5),
    fdatasync4KiBp99Ms: percentile(latencies, 0.99),
    fdatasyncWritten4KiBp50Ms: percentile(written, 0.5),
    fdatasyncWritten4KiBp99Ms: percentile(written, 0.99),
    sequentialWriteMBps: sequentialWrite(dir, (quick ? 64 : 512) * 1024 * 1024),
    ...pageCacheFill(dir, (quick ? 1 : 2) * 1024 * 1024 * 1024),
    memcpyGBps: memcpy((quick ? 1 : 4) * 1024 * 1024 * 1024),
    crc32: [...crcThroughput(100, quick ? 50e6 : 200e6), ...crcThroughput(1024 * 1024, quick ? 200e6 : 1e9)],
  }
}
