import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** raftlog's package folder, found upwards from a module: src/, dist/ and dist-bench/ all sit below it. */
export function packageRoot(moduleUrl: string): string {
  const from = dirname(fileURLToPath(moduleUrl))
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir
    if (dirname(dir) === dir) return join(from, '..', '..')
  }
}
