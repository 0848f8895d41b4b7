// Values kept by the span of keys each covers, found by a key in O(log n) per value found rather
// than by looking at every one: a write reaches the range watches of its keys without passing
// the others, so a client holding many range watches of keys no one writes cannot make every
// write of the node slow (etcd's watcher group keeps an interval tree for the same reason).
//
// A treap ordered by (start, order added), each node holding the furthest end in its subtree:
// a search leaves a subtree whose spans all end at or below the key, or all start above it.

/** A span's end: '' means none (every key from its start up), as WatchHub's ranges. */
type End = string

interface TreeNode<T> {
  start: string
  end: End
  /** Order added: keeps equal starts apart, and gives finds in that order. */
  order: number
  priority: number
  value: T
  left: TreeNode<T> | undefined
  right: TreeNode<T> | undefined
  /** The furthest end of this node's subtree. */
  furthest: End
}

export class RangeIndex<T> {
  private root: TreeNode<T> | undefined
  private readonly nodes = new Map<T, TreeNode<T>>()
  private added = 0

  get size(): number {
    return this.nodes.size
  }

  /** Keeps `value` for the keys from `start` (inclusive) to `end` (exclusive; '': no end). */
  add(value: T, start: string, end: End): void {
    if (this.nodes.has(value)) throw new Error('RangeIndex.add: the value is kept already')
    const node: TreeNode<T> = { start, end, order: this.added++, priority: Math.random(), value, left: undefined, right: undefined, furthest: end }
    this.nodes.set(value, node)
    this.root = insert(this.root, node)
  }

  /** Forgets `value`; nothing when it is not kept. */
  remove(value: T): void {
    const node = this.nodes.get(value)
    if (node === undefined) return
    this.nodes.delete(value)
    this.root = remove(this.root, node)
  }

  clear(): void {
    this.root = undefined
    this.nodes.clear()
  }

  /** Every value kept, in the order they were added. */
  values(): IterableIterator<T> {
    return this.nodes.keys()
  }

  /** The values whose span covers any of `keys`, each once, in the order they were added. */
  covering(keys: Iterable<string>): T[] {
    const found = new Set<TreeNode<T>>()
    for (const key of keys) collect(this.root, key, found)
    return Array.from(found)
      .sort((a, b) => a.order - b.order)
      .map((node) => node.value)
  }
}

const endsAfter = (end: End, key: string): boolean => end === '' || end > key
const further = (a: End, b: End): End => (a === '' || b === '' ? '' : a > b ? a : b)
const before = <T>(a: TreeNode<T>, b: TreeNode<T>): boolean => a.start < b.start || (a.start === b.start && a.order < b.order)

function update<T>(node: TreeNode<T>): void {
  let furthest = node.end
  if (node.left !== undefined) furthest = further(furthest, node.left.furthest)
  if (node.right !== undefined) furthest = further(furthest, node.right.furthest)
  node.furthest = furthest
}

function insert<T>(root: TreeNode<T> | undefined, node: TreeNode<T>): TreeNode<T> {
  if (root === undefined) return node
  if (before(node, root)) {
    root.left = insert(root.left, node)
    if (root.left.priority > root.priority) return rotateRight(root)
  } else {
    root.right = insert(root.right, node)
    if (root.right.priority > root.priority) return rotateLeft(root)
  }
  update(root)
  return root
}

function remove<T>(root: TreeNode<T> | undefined, node: TreeNode<T>): TreeNode<T> | undefined {
  if (root === undefined) return undefined
  if (root === node) return merge(root.left, root.right)
  if (before(node, root)) root.left = remove(root.left, node)
  else root.right = remove(root.right, node)
  update(root)
  return root
}

/** The two subtrees of a removed node, every node of `left` before every node of `right`. */
function merge<T>(left: TreeNode<T> | undefined, right: TreeNode<T> | undefined): TreeNode<T> | undefined {
  if (left === undefined) return right
  if (right === undefined) return left
  if (left.priority > right.priority) {
    left.right = merge(left.right, right)
    update(left)
    return left
  }
  right.left = merge(left, right.left)
  update(right)
  return right
}

function rotateRight<T>(node: TreeNode<T>): TreeNode<T> {
  const top = node.left as TreeNode<T>
  node.left = top.right
  update(node)
  top.right = node
  update(top)
  return top
}

function rotateLeft<T>(node: TreeNode<T>): TreeNode<T> {
  const top = node.right as TreeNode<T>
  node.right = top.left
  update(node)
  top.left = node
  update(top)
  return top
}

function collect<T>(node: TreeNode<T> | undefined, key: string, found: Set<TreeNode<T>>): void {
  if (node === undefined || !endsAfter(node.furthest, key)) return
  collect(node.left, key, found)
  // The right subtree starts at or after this node: above the key when this node is.
  if (node.start > key) return
  if (endsAfter(node.end, key)) found.add(node)
  collect(node.right, key, found)
}
