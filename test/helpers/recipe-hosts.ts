// Test helpers for etcd's concurrency recipes (src/kv/recipes) on a RecipeHost in this process.
import type { RecipeHost } from '../../src/kv/recipes/recipe-host.js'

/**
 * A client that leaves as its key is written: `host`'s next transaction aborts `controller` once
 * it is applied (its answer then reaches no one), and the host's transactions are as before after it.
 */
export function abortAfterNextTxn(host: RecipeHost, controller: AbortController): void {
  const txn = host.txn
  host.txn = async (request) => {
    const outcome = await txn(request)
    controller.abort()
    host.txn = txn
    return outcome
  }
}
