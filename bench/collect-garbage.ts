// A full garbage collection on demand, with or without node's --expose-gc: memory is measured as
// the difference of two readings, and garbage freed between them would make it wrong (even
// negative). setFlagsFromString makes `gc` available to contexts created after it.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | undefined

export function collectGarbage(): void {
  if (collect === undefined) {
    if (typeof global.gc === 'function') {
      collect = global.gc as () => void
    } else {
      setFlagsFromString('--expose-gc')
      collect = runInNewContext('gc') as () => void
    }
  }
  // Twice: the first pass can leave objects whose finalizers free more on the second.
  collect()
  collect()
}
