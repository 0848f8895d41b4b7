// A DataFile that records its pwrites and fdatasyncs (file, range) and can be made to fail one, for
// tests that check what reaches the disk before a call returns. Used from a vi.mock factory:
//   vi.mock('../../src/storage/data-file.js', async (importOriginal) =>
//     recordingDataFileModule(await importOriginal(), calls, failNext))
import type * as DataFileModule from '../../src/storage/data-file.js'

export interface FileCall {
  name: 'write' | 'fdatasync' | 'fdatasyncAsync' | 'startWriteback'
  file: string
  offset?: number
  length?: number
}

export function recordingDataFileModule(actual: typeof DataFileModule, calls: object[], failNext: Set<string>): typeof DataFileModule {
  const fail = (name: string): Error | undefined =>
    failNext.delete(name) ? Object.assign(new Error(`EIO: i/o error, ${name}`), { code: 'EIO' }) : undefined
  class RecordingDataFile extends actual.DataFile {
    override write(bytes: Uint8Array, length: number, position: number): void {
      calls.push({ name: 'write', file: this.fileName, offset: position, length })
      const error = fail('write')
      if (error !== undefined) throw error
      super.write(bytes, length, position)
    }
    override syncSync(): void {
      calls.push({ name: 'fdatasync', file: this.fileName })
      const error = fail('fdatasync')
      if (error !== undefined) throw error
      super.syncSync()
    }
    override syncAsync(): Promise<void> {
      calls.push({ name: 'fdatasyncAsync', file: this.fileName })
      const error = fail('fdatasyncAsync')
      if (error !== undefined) return Promise.reject(error)
      return super.syncAsync()
    }
    override startWriteback(position: number, length: number): void {
      calls.push({ name: 'startWriteback', file: this.fileName, offset: position, length })
      super.startWriteback(position, length)
    }
  }
  return { ...actual, DataFile: RecordingDataFile }
}
