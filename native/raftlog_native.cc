// raftlog's native addon: only what JavaScript cannot do itself.
//
//   map(path, size, readOnly)   -> ArrayBuffer over an mmap of the file
//   sync(buffer, offset, length)          msync(MS_SYNC), synchronous
//   syncAsync(buffer, offset, length)     msync on the libuv thread pool -> Promise
//   advise(buffer, advice)                madvise
//   unmap(buffer)                         detach every JS view, then munmap
//   lock(lockPath, probe) -> fd, unlock(fd)  exclusive flock on a lock file (probe: read-only open)
//   fsyncDir(path), fsyncDirAsync(path)   make directory entries durable (the latter -> Promise)
//   allocateAsync(path, size, written)    create a file of zeros on the thread pool: its blocks
//                                         written and synced, or (written false) only reserved
//   recycleAsync(path, dataEnd)           write a recycled file's recycle record (the CRC-32 of each
//                                         512-byte sector before dataEnd) at dataEnd, synced, on the
//                                         thread pool
//   startWriteback(fd, offset, length)    sync_file_range(SYNC_FILE_RANGE_WRITE): start writing back
//                                         a range, without waiting for it
//   dropCacheAsync(fd)                    posix_fadvise(POSIX_FADV_DONTNEED) on the thread pool: the
//                                         file's clean pages leave the page cache -> Promise
//   pageSize()
//
// Arguments are validated by the TypeScript wrapper (src/storage/native.ts); this side trusts
// its types and stays small. Every failure is thrown as an Error with code (errno name),
// errno, syscall and path.

#include <napi.h>
#include <uv.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

// One mapping's life. The ArrayBuffer's finalizer, unmap() and pending thread-pool work all
// touch it on the JavaScript thread that made it, so the struct itself needs no locking.
struct Mapping {
  void* addr;
  size_t length;
  int pendingWork = 0;
  bool unmapped = false;   // munmap done (or never to be done again)
  bool released = false;   // unmap() was called: views are detached
  bool finalized = false;  // the ArrayBuffer's finalizer ran
};

// Address -> mapping, for the mappings JavaScript may still hold. One table for the process, but
// each worker thread loads the addon on its own JavaScript thread: the lock keeps them apart.
std::unordered_map<void*, Mapping*> liveMappings;
std::mutex liveMappingsLock;

Mapping* LiveMapping(void* addr) {
  std::lock_guard<std::mutex> guard(liveMappingsLock);
  auto found = liveMappings.find(addr);
  return found == liveMappings.end() ? nullptr : found->second;
}

// Settles a worker's promise. While a worker thread (or the process) shuts down, JavaScript can no
// longer run and every N-API call fails with an exception; escaping the completion callback, it
// would abort the whole process. Nobody is left to hear the result, so it is dropped.
template <typename Settle>
void SettleQuietly(Settle settle) {
  try {
    settle();
  } catch (const Napi::Error&) {
  }
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* code = uv_err_name(-err);
  std::string message = std::string(code) + ": " + strerror(err) + ", " + syscall + " '" + path + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("path", Napi::String::New(env, path));
  return error;
}

void ReleaseIfIdle(Mapping* mapping) {
  // munmap only once no thread-pool msync can still be touching the range.
  if (!mapping->unmapped && mapping->pendingWork == 0 && (mapping->released || mapping->finalized)) {
    munmap(mapping->addr, mapping->length);
    mapping->unmapped = true;
    std::lock_guard<std::mutex> guard(liveMappingsLock);
    liveMappings.erase(mapping->addr);
  }
  if (mapping->finalized && mapping->pendingWork == 0) delete mapping;
}

void FinalizeMapping(Napi::Env, void*, Mapping* mapping) {
  mapping->finalized = true;
  ReleaseIfIdle(mapping);
}

Mapping* FindMapping(Napi::Env env, Napi::ArrayBuffer buffer) {
  Mapping* mapping = buffer.Data() == nullptr ? nullptr : LiveMapping(buffer.Data());
  if (mapping == nullptr || mapping->released) throw Napi::Error::New(env, "ERR_UNMAPPED: buffer is not a live mapping");
  return mapping;
}

// Rounds [offset, offset + length) out to whole pages, as msync and madvise require.
void PageRange(Mapping* mapping, size_t offset, size_t length, void** start, size_t* size) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t begin = offset - offset % page;
  size_t end = offset + length;
  if (end > mapping->length) end = mapping->length;
  *start = static_cast<char*>(mapping->addr) + begin;
  *size = end > begin ? end - begin : 0;
}

constexpr size_t kMaxMappingBytes = size_t{1} << 32;

Napi::Value Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  bool readOnly = info[2].As<Napi::Boolean>();

  // O_NOFOLLOW: a symlink planted under a segment's or the state file's name is refused (ELOOP),
  // never followed to a file of someone else's; what raftlog creates only its user reads (0600).
  int fd = readOnly ? open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                    : open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw SystemError(env, errno, "open", path);

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "fstat", path);
  }
  if (size == 0) size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    throw SystemError(env, EINVAL, "mmap", path);
  }
  // The largest ArrayBuffer Node 20 makes over outside memory: a larger file (a foreign or damaged
  // one under a segment's name) is refused here, not handed to a buffer that would be freed twice.
  if (size > kMaxMappingBytes) {
    close(fd);
    throw SystemError(env, EFBIG, "mmap", path);
  }
  if (!readOnly) {
    // Reserve real blocks: a write through the mapping into a hole on a full disk would
    // kill the process with SIGBUS; here it becomes ENOSPC (or EFBIG) at creation.
    int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (err != 0) {
      close(fd);
      throw SystemError(env, err, "posix_fallocate", path);
    }
  }
  // A read-only mapping is private: a stray write can never reach the file.
  int prot = PROT_READ | PROT_WRITE;
  int flags = readOnly ? MAP_PRIVATE : MAP_SHARED;
  void* addr = mmap(nullptr, size, prot, flags, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps the file referenced
  if (addr == MAP_FAILED) throw SystemError(env, err, "mmap", path);

  Mapping* mapping = new Mapping{addr, size};
  {
    std::lock_guard<std::mutex> guard(liveMappingsLock);
    liveMappings[addr] = mapping;
  }
  return Napi::ArrayBuffer::New(env, addr, size, FinalizeMapping, mapping);
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* mapping = FindMapping(env, info[0].As<Napi::ArrayBuffer>());
  void* start;
  size_t size;
  PageRange(mapping, info[1].As<Napi::Number>().Int64Value(), info[2].As<Napi::Number>().Int64Value(),
            &start, &size);
  if (size > 0 && msync(start, size, MS_SYNC) != 0) throw SystemError(env, errno, "msync", "<mapping>");
  return env.Undefined();
}

class RangeWorker : public Napi::AsyncWorker {
 public:
  RangeWorker(Napi::Env env, Napi::ArrayBuffer buffer, Mapping* mapping, void* start, size_t size)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), mapping_(mapping),
        start_(start), size_(size) {
    buffer_ = Napi::Persistent(buffer);
    mapping_->pendingWork++;
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (size_ == 0) return;
    if (msync(start_, size_, MS_SYNC) != 0) error_ = errno;
  }

  void OnOK() override {
    Finish();
    SettleQuietly([&] {
      if (error_ != 0) {
        deferred_.Reject(SystemError(Env(), error_, "msync", "<mapping>").Value());
      } else {
        deferred_.Resolve(Env().Undefined());
      }
    });
  }

  void OnError(const Napi::Error& error) override {
    Finish();
    SettleQuietly([&] { deferred_.Reject(error.Value()); });
  }

 private:
  void Finish() {
    mapping_->pendingWork--;
    SettleQuietly([&] { buffer_.Reset(); });
    ReleaseIfIdle(mapping_);
  }

  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  Mapping* mapping_;
  void* start_;
  size_t size_;
  int error_ = 0;
};

Napi::Value SyncAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  Mapping* mapping = FindMapping(env, buffer);
  void* start;
  size_t size;
  PageRange(mapping, info[1].As<Napi::Number>().Int64Value(), info[2].As<Napi::Number>().Int64Value(),
            &start, &size);
  RangeWorker* worker = new RangeWorker(env, buffer, mapping, start, size);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value Advise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* mapping = FindMapping(env, info[0].As<Napi::ArrayBuffer>());
  std::string name = info[1].As<Napi::String>();
  int advice = name == "sequential" ? MADV_SEQUENTIAL
             : name == "random"     ? MADV_RANDOM
             : name == "willneed"   ? MADV_WILLNEED
             : name == "dontneed"   ? MADV_DONTNEED
                                    : MADV_NORMAL;
  if (madvise(mapping->addr, mapping->length, advice) != 0) throw SystemError(env, errno, "madvise", "<mapping>");
  return env.Undefined();
}

Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  Mapping* mapping = buffer.Data() == nullptr ? nullptr : LiveMapping(buffer.Data());
  if (mapping == nullptr) return env.Undefined();  // already unmapped
  // Detach first: every TypedArray or DataView over this memory now has length 0, so a view
  // that outlives its segment reads as empty instead of touching unmapped memory.
  buffer.Detach();
  mapping->released = true;
  ReleaseIfIdle(mapping);
  return env.Undefined();
}

Napi::Value Lock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  bool probe = info.Length() > 1 && info[1].As<Napi::Boolean>();
  // A probe (read-only tools) opens an existing file for reading only: flock needs no write access,
  // so it works in a directory the tool may not write to.
  int fd = probe ? open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                 : open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw SystemError(env, errno, "open", path);
  // flock locks belong to the open file description, so a second open in the same process
  // conflicts just like one in another process.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "flock", path);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Unlock(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());  // closing the descriptor drops the lock
  return info.Env().Undefined();
}

Napi::Value FsyncDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SystemError(env, errno, "open", path);
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "fsync", path);
  }
  close(fd);
  return env.Undefined();
}

// fsync of a directory on the thread pool, so a flush can make new segments' names durable
// without stopping the event loop.
class FsyncDirWorker : public Napi::AsyncWorker {
 public:
  FsyncDirWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      error_ = errno;
      syscall_ = "open";
      return;
    }
    if (fsync(fd) != 0) {
      error_ = errno;
      syscall_ = "fsync";
    }
    close(fd);
  }

  void OnOK() override {
    SettleQuietly([&] {
      if (error_ != 0) deferred_.Reject(SystemError(Env(), error_, syscall_, path_).Value());
      else deferred_.Resolve(Env().Undefined());
    });
  }

  void OnError(const Napi::Error& error) override {
    SettleQuietly([&] { deferred_.Reject(error.Value()); });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  int error_ = 0;
  const char* syscall_ = "";
};

Napi::Value FsyncDirAsync(const Napi::CallbackInfo& info) {
  FsyncDirWorker* worker = new FsyncDirWorker(info.Env(), info[0].As<Napi::String>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// Creates a file of zeros on the thread pool, its blocks written (not just reserved, as
// posix_fallocate leaves them: "unwritten" extents, whose first write costs every fdatasync a
// journal commit) and synced: the next segment is made ready before the current one fills, so a
// rotation waits for none of it. A full disk fails here with ENOSPC, never later through a mapping.
class AllocateWorker : public Napi::AsyncWorker {
 public:
  AllocateWorker(Napi::Env env, std::string path, size_t size, bool written)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), size_(size),
        written_(written) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      error_ = errno;
      syscall_ = "open";
      return;
    }
    if (!written_) {
      int err = posix_fallocate(fd, 0, static_cast<off_t>(size_));
      if (err != 0) {
        error_ = err;
        syscall_ = "posix_fallocate";
      }
      close(fd);
      return;
    }
    // One page per write: the page cache keeps the folio size a write made, and a later small
    // write into a large folio would dirty (and make fdatasync write) all of it.
    const size_t chunk = 4096;
    // Written back a slice at a time, each waited for before the next is dirtied: the log's own
    // flushes then queue behind at most one slice, where 64 MiB of zeros written back at once held
    // them for all of it (p99 of a durable 1 MiB batch 40-60 ms, 9-16 ms sliced; slices of 64 KiB
    // to 256 KiB did better than 1 MiB, measured with 1 KiB x 1024 and 16 KiB x 64 batches).
    const size_t slice = 256 << 10;
    std::vector<char> zeros(chunk, 0);
    for (size_t done = 0; done < size_;) {
      ssize_t written = pwrite(fd, zeros.data(), std::min(chunk, size_ - done), static_cast<off_t>(done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) {
        error_ = written < 0 ? errno : EIO;
        syscall_ = "pwrite";
        close(fd);
        return;
      }
      done += static_cast<size_t>(written);
      if (done % slice == 0 || done == size_) {
        off_t start = static_cast<off_t>((done - 1) / slice * slice);
        unsigned flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
        if (sync_file_range(fd, start, static_cast<off_t>(done) - start, flags) != 0) {
          error_ = errno;
          syscall_ = "sync_file_range";
          close(fd);
          return;
        }
      }
    }
    if (fdatasync(fd) != 0) {
      error_ = errno;
      syscall_ = "fdatasync";
    }
    close(fd);
  }

  void OnOK() override {
    SettleQuietly([&] {
      if (error_ != 0) deferred_.Reject(SystemError(Env(), error_, syscall_, path_).Value());
      else deferred_.Resolve(Env().Undefined());
    });
  }

  void OnError(const Napi::Error& error) override {
    SettleQuietly([&] { deferred_.Reject(error.Value()); });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  size_t size_;
  bool written_;
  int error_ = 0;
  const char* syscall_ = "";
};

Napi::Value AllocateAsync(const Napi::CallbackInfo& info) {
  AllocateWorker* worker = new AllocateWorker(info.Env(), info[0].As<Napi::String>(),
                                              static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()),
                                              info[2].As<Napi::Boolean>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// CRC-32 (IEEE, zlib's), slicing by 8: the recycle record checksums a whole segment file.
struct Crc32Tables {
  uint32_t t[8][256];
  Crc32Tables() {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[0][n] = c;
    }
    for (int i = 1; i < 8; i++)
      for (uint32_t n = 0; n < 256; n++) t[i][n] = (t[i - 1][n] >> 8) ^ t[0][t[i - 1][n] & 0xff];
  }
};

uint32_t Crc32(const uint8_t* bytes, size_t length) {
  static const Crc32Tables tables;
  const auto& t = tables.t;
  uint32_t c = 0xffffffffu;
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    uint32_t low;
    std::memcpy(&low, bytes + i, 4);  // little-endian hosts only, as the format
    c ^= low;
    c = t[7][c & 0xff] ^ t[6][(c >> 8) & 0xff] ^ t[5][(c >> 16) & 0xff] ^ t[4][c >> 24] ^ t[3][bytes[i + 4]] ^
        t[2][bytes[i + 5]] ^ t[1][bytes[i + 6]] ^ t[0][bytes[i + 7]];
  }
  for (; i < length; i++) c = (c >> 8) ^ t[0][(c ^ bytes[i]) & 0xff];
  return ~c;
}

// Makes a file that compaction freed ready for reuse: its content made durable as it is, then the
// CRC-32 of each 512-byte sector before dataEnd written after them (the recycle record, format in
// segment-format.ts) and synced. Recovery then knows what a sector of the reused file that was
// never written back holds, as it knows that a new file's hold zeros.
class RecycleWorker : public Napi::AsyncWorker {
 public:
  RecycleWorker(Napi::Env env, std::string path, size_t dataEnd)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), dataEnd_(dataEnd) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int fd = open(path_.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Fail(errno, "open", -1);
    // What is checksummed must be what a power loss leaves: the content as durable.
    if (fdatasync(fd) != 0) return Fail(errno, "fdatasync", fd);
    const size_t sector = 512;
    const size_t count = dataEnd_ / sector;
    std::vector<uint32_t> record(4 + count, 0);
    std::vector<uint8_t> chunk(1 << 20);
    for (size_t done = 0; done < dataEnd_;) {
      size_t want = std::min(chunk.size(), dataEnd_ - done);
      ssize_t got = pread(fd, chunk.data(), want, static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0 || static_cast<size_t>(got) % sector != 0) return Fail(got < 0 ? errno : EIO, "pread", fd);
      for (size_t at = 0; at < static_cast<size_t>(got); at += sector) record[4 + (done + at) / sector] = Crc32(chunk.data() + at, sector);
      done += static_cast<size_t>(got);
    }
    record[0] = 0x4c594352u;  // 'RCYL'
    record[1] = static_cast<uint32_t>(count);
    record[2] = Crc32(reinterpret_cast<const uint8_t*>(record.data() + 4), 4 * count);
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(record.data());
    const size_t length = record.size() * 4;
    for (size_t done = 0; done < length;) {
      ssize_t written = pwrite(fd, bytes + done, length - done, static_cast<off_t>(dataEnd_ + done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return Fail(written < 0 ? errno : EIO, "pwrite", fd);
      done += static_cast<size_t>(written);
    }
    if (fdatasync(fd) != 0) return Fail(errno, "fdatasync", fd);
    close(fd);
  }

  void OnOK() override {
    SettleQuietly([&] {
      if (error_ != 0) deferred_.Reject(SystemError(Env(), error_, syscall_, path_).Value());
      else deferred_.Resolve(Env().Undefined());
    });
  }

  void OnError(const Napi::Error& error) override {
    SettleQuietly([&] { deferred_.Reject(error.Value()); });
  }

 private:
  void Fail(int error, const char* syscall, int fd) {
    error_ = error;
    syscall_ = syscall;
    if (fd >= 0) close(fd);
  }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  size_t dataEnd_;
  int error_ = 0;
  const char* syscall_ = "";
};

Napi::Value RecycleAsync(const Napi::CallbackInfo& info) {
  RecycleWorker* worker = new RecycleWorker(info.Env(), info[0].As<Napi::String>(),
                                            static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// Starts the write-back of a range of a file without waiting for it: the device writes the frames
// of a large batch while the appending thread still builds the rest, and the flush's fdatasync
// then waits only for what is left. Durability still comes from fdatasync alone.
Napi::Value StartWriteback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  off64_t offset = info[1].As<Napi::Number>().Int64Value();
  off64_t length = info[2].As<Napi::Number>().Int64Value();
  if (sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) != 0) throw SystemError(env, errno, "sync_file_range", "<segment>");
  return env.Undefined();
}

// Lets the kernel free a file's clean cached pages (PostgreSQL does this for each WAL segment it
// closes), on the thread pool: freeing a 64 MiB segment's pages takes milliseconds. The log's next
// writes then reuse pages just freed instead of taking new ones, which on a virtual machine whose
// host took free memory back cost more than the write itself. Pages still mapped are kept: the
// caller drops its mapping's pages first (madvise MADV_DONTNEED). The caller keeps fd open until
// the promise settles.
class DropCacheWorker : public Napi::AsyncWorker {
 public:
  DropCacheWorker(Napi::Env env, int fd) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { error_ = posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED); }

  void OnOK() override {
    SettleQuietly([&] {
      if (error_ != 0) deferred_.Reject(SystemError(Env(), error_, "posix_fadvise", "<segment>").Value());
      else deferred_.Resolve(Env().Undefined());
    });
  }

  void OnError(const Napi::Error& error) override {
    SettleQuietly([&] { deferred_.Reject(error.Value()); });
  }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  int error_ = 0;
};

Napi::Value DropCacheAsync(const Napi::CallbackInfo& info) {
  DropCacheWorker* worker = new DropCacheWorker(info.Env(), info[0].As<Napi::Number>().Int32Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("map", Napi::Function::New(env, Map));
  exports.Set("sync", Napi::Function::New(env, Sync));
  exports.Set("syncAsync", Napi::Function::New(env, SyncAsync));
  exports.Set("advise", Napi::Function::New(env, Advise));
  exports.Set("unmap", Napi::Function::New(env, Unmap));
  exports.Set("lock", Napi::Function::New(env, Lock));
  exports.Set("unlock", Napi::Function::New(env, Unlock));
  exports.Set("fsyncDir", Napi::Function::New(env, FsyncDir));
  exports.Set("fsyncDirAsync", Napi::Function::New(env, FsyncDirAsync));
  exports.Set("allocateAsync", Napi::Function::New(env, AllocateAsync));
  exports.Set("recycleAsync", Napi::Function::New(env, RecycleAsync));
  exports.Set("startWriteback", Napi::Function::New(env, StartWriteback));
  exports.Set("dropCacheAsync", Napi::Function::New(env, DropCacheAsync));
  exports.Set("pageSize", Napi::Function::New(env, PageSize));
  return exports;
}

}  // namespace

NODE_API_MODULE(raftlog_native, Init)
