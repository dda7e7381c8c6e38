#include "knowledge/encrypted_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <vector>

namespace tandem::knowledge {
namespace {

constexpr int64_t kReserved = EncryptedVfs::kReservedBytes;
constexpr std::array<char, 16> kTandemMagic{"Tandem AES-GCM1"};  // in page 1 where SQLite puts its own
constexpr std::array<char, 16> kSqliteMagic{"SQLite format 3"};
constexpr int64_t kClearHeaderBytes = 24;  // page 1: magic, page size, versions, reserve, payload fractions
constexpr int64_t kWalHeaderBytes = 32;
constexpr int64_t kFrameHeaderBytes = 24;
constexpr int64_t kMaxPageSize = 65536;
// How many bytes of WAL frames a handle remembers in clear (see RecentFrame): SQLite's automatic
// checkpoint comes every 1000 frames, 4 MB at the default page size.
constexpr int64_t kRecentFrameBytes = int64_t{8} << 20;

enum class FileKind : uint8_t { kDatabase = 1, kWal = 2, kJournal = 3 };

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint32_t read_le32(const uint8_t* p) {
  return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[0]};
}

// SQLite's own check of a WAL header (wal.c): its magic, and the checksum of its first 24 bytes
// (pairs of 32-bit words, big-endian when the magic's low bit is set) in its last 8.
bool wal_header_intact(const uint8_t* header) {
  const uint32_t magic = read_be32(header);
  if ((magic & ~uint32_t{1}) != 0x377f0682) return false;
  const bool big_endian = magic & 1;
  uint32_t s1 = 0;
  uint32_t s2 = 0;
  for (int i = 0; i < 24; i += 8) {
    s1 += (big_endian ? read_be32(header + i) : read_le32(header + i)) + s2;
    s2 += (big_endian ? read_be32(header + i + 4) : read_le32(header + i + 4)) + s1;
  }
  return s1 == read_be32(header + 24) && s2 == read_be32(header + 28);
}

bool valid_page_size(int64_t n) {
  return n >= 512 && n <= kMaxPageSize && (n & (n - 1)) == 0;
}

// Page 1 stores the page size big-endian in bytes 16..17, 1 meaning 65536.
int64_t header_page_size(const uint8_t* header) {
  const int64_t n = (int64_t{header[16]} << 8) | header[17];
  return n == 1 ? kMaxPageSize : n;
}

std::string base_name(const char* path) {
  const std::string full = path ? path : "";
  const size_t slash = full.find_last_of('/');
  return slash == std::string::npos ? full : full.substr(slash + 1);
}

}  // namespace

struct EncryptedVfs::State {
  sqlite3_vfs vfs{};
  sqlite3_vfs* real = nullptr;
  privacy::Key key{};
  std::string name;
  std::mutex mutex;
  std::optional<std::string> damage;

  ~State() { privacy::wipe(key); }
  void report(std::string what) {
    std::lock_guard lock(mutex);
    if (!damage) damage = std::move(what);
  }
  std::optional<std::string> first_damage() {
    std::lock_guard lock(mutex);
    return damage;
  }
};

namespace {

using State = EncryptedVfs::State;

// One open file as SQLite's io_methods see it; the two kinds below implement it.
class File {
 public:
  virtual ~File() = default;
  virtual int close() = 0;
  virtual int read(uint8_t* out, int64_t amount, int64_t offset) = 0;
  virtual int write(const uint8_t* data, int64_t amount, int64_t offset) = 0;
  virtual int truncate(int64_t size) = 0;
  virtual int sync(int flags) = 0;
  virtual int file_size(sqlite3_int64* size) = 0;
  virtual int lock(int) { return SQLITE_OK; }
  virtual int unlock(int) { return SQLITE_OK; }
  virtual int check_reserved_lock(int* out) {
    *out = 0;
    return SQLITE_OK;
  }
  virtual int file_control(int, void*) { return SQLITE_NOTFOUND; }
  virtual int sector_size() { return 4096; }
  virtual int device_characteristics() { return 0; }
  virtual int shm_map(int, int, int, void volatile** out) {
    *out = nullptr;
    return SQLITE_IOERR_SHMMAP;
  }
  virtual int shm_lock(int, int, int) { return SQLITE_IOERR_SHMLOCK; }
  virtual void shm_barrier() {}
  virtual int shm_unmap(int) { return SQLITE_OK; }
};

// What SQLite allocates (szOsFile bytes): its base struct, then our object.
struct Handle {
  sqlite3_file base;
  File* file;
};

File& file_of(sqlite3_file* f) {
  return *reinterpret_cast<Handle*>(f)->file;
}

// A temporary file (statement journal, sorter, temp database) kept in memory: it never has to
// survive a crash, so it never touches the disk.
class MemoryFile final : public File {
 public:
  int close() override { return SQLITE_OK; }
  int read(uint8_t* out, int64_t amount, int64_t offset) override {
    const int64_t available = std::clamp<int64_t>(static_cast<int64_t>(bytes_.size()) - offset, 0, amount);
    if (available > 0) std::memcpy(out, bytes_.data() + offset, static_cast<size_t>(available));
    if (available == amount) return SQLITE_OK;
    std::memset(out + available, 0, static_cast<size_t>(amount - available));
    return SQLITE_IOERR_SHORT_READ;
  }
  int write(const uint8_t* data, int64_t amount, int64_t offset) override {
    if (static_cast<int64_t>(bytes_.size()) < offset + amount) bytes_.resize(static_cast<size_t>(offset + amount));
    std::memcpy(bytes_.data() + offset, data, static_cast<size_t>(amount));
    return SQLITE_OK;
  }
  int truncate(int64_t size) override {
    if (size < static_cast<int64_t>(bytes_.size())) bytes_.resize(static_cast<size_t>(size));
    return SQLITE_OK;
  }
  int sync(int) override { return SQLITE_OK; }
  int file_size(sqlite3_int64* size) override {
    *size = static_cast<sqlite3_int64>(bytes_.size());
    return SQLITE_OK;
  }

 private:
  std::vector<uint8_t> bytes_;
};

// The main database, its WAL or a journal, over a file of the default VFS. Each page payload is
// a slot: in the database, page n at (n - 1) * page_size; in the WAL, frame n's payload after its
// header; in a journal, each old page image (see is_journal_page).
class EncryptedFile final : public File {
 public:
  EncryptedFile(State& vfs, FileKind kind, std::string label)
      : vfs_(vfs),
        kind_(kind),
        label_(std::move(label)),
        real_storage_(static_cast<size_t>(vfs.real->szOsFile)),
        cipher_(vfs.key) {}

  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(real_storage_.data()); }

  // Draws the nonce prefix and, for an existing file, learns its page size.
  int start() {
    if (!draw_prefix()) return SQLITE_CANTOPEN;
    return learn_page_size() == SQLITE_OK ? SQLITE_OK : SQLITE_CANTOPEN;
  }

  int close() override {
    const int rc = flush_pending_header();
    const int closed = real()->pMethods ? real()->pMethods->xClose(real()) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : closed;
  }

  int read(uint8_t* out, int64_t amount, int64_t offset) override {
    if (kind_ == FileKind::kJournal) {
      return is_journal_page(amount, offset) ? read_journal_page(out, amount, offset) : real_read(out, amount, offset);
    }
    if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
    // Another connection may have written the first pages since this one opened the file.
    if (page_size_ == 0) {
      if (int rc = learn_page_size(); rc != SQLITE_OK) return rc;
    }
    const int rc = page_size_ == 0 ? real_read(out, amount, offset)  // nothing written yet
                                   : read_slots(out, amount, offset);
    // SQLite takes a WAL whose header fails its checksum for an empty one, silently dropping
    // the transactions in it; only a damaged file has one.
    if (kind_ == FileKind::kWal && offset == 0 && amount >= kWalHeaderBytes && rc == SQLITE_OK &&
        !wal_header_intact(out)) {
      vfs_.report(label_ + ": the WAL header failed its checksum (damaged file)");
      return SQLITE_IOERR_DATA;
    }
    return rc;
  }

  int read_slots(uint8_t* out, int64_t amount, int64_t offset) {
    int result = SQLITE_OK;
    for (int64_t at = offset; at < offset + amount;) {
      uint8_t* destination = out + (at - offset);
      const auto slot = slot_containing(at);
      const int64_t stop = std::min(offset + amount, slot ? slot_start(*slot) + page_size_ : next_slot_start(at));
      int rc;
      if (!slot) {
        rc = real_read(destination, stop - at, at);
      } else if (kind_ == FileKind::kDatabase && at == slot_start(*slot) && stop - at == page_size_) {
        rc = read_page(*slot, destination);  // a whole page: decrypted in place
      } else {
        uint8_t* page = scratch_.data() + kFrameHeaderBytes;
        rc = read_page(*slot, page);
        std::memcpy(destination, page + (at - slot_start(*slot)), static_cast<size_t>(stop - at));
      }
      if (rc == SQLITE_IOERR_SHORT_READ) {
        result = rc;
      } else if (rc != SQLITE_OK) {
        return rc;
      }
      at = stop;
    }
    return result;
  }

  int write(const uint8_t* data, int64_t amount, int64_t offset) override {
    switch (kind_) {
      case FileKind::kDatabase:
        return write_database(data, amount, offset);
      case FileKind::kWal:
        return write_wal(data, amount, offset);
      case FileKind::kJournal:
        return is_journal_page(amount, offset) ? write_journal_page(data, amount, offset)
                                               : real_write(data, amount, offset);
    }
    return SQLITE_IOERR_WRITE;
  }

  int truncate(int64_t size) override {
    if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
    recent_frames_.clear();
    return real()->pMethods->xTruncate(real(), size);
  }
  int sync(int flags) override {
    if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
    return real()->pMethods->xSync(real(), flags);
  }
  int file_size(sqlite3_int64* size) override {
    if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
    return real()->pMethods->xFileSize(real(), size);
  }
  int lock(int level) override { return real()->pMethods->xLock(real(), level); }
  int unlock(int level) override { return real()->pMethods->xUnlock(real(), level); }
  int check_reserved_lock(int* out) override { return real()->pMethods->xCheckReservedLock(real(), out); }
  int file_control(int op, void* arg) override { return real()->pMethods->xFileControl(real(), op, arg); }
  int sector_size() override { return real()->pMethods->xSectorSize(real()); }
  // Atomic-write capabilities would let SQLite write less than a page at a time; the rest holds.
  int device_characteristics() override {
    constexpr int kAtomic = SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_ATOMIC512 | SQLITE_IOCAP_ATOMIC1K |
                            SQLITE_IOCAP_ATOMIC2K | SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_ATOMIC8K |
                            SQLITE_IOCAP_ATOMIC16K | SQLITE_IOCAP_ATOMIC32K | SQLITE_IOCAP_ATOMIC64K |
                            SQLITE_IOCAP_BATCH_ATOMIC;
    return real()->pMethods->xDeviceCharacteristics(real()) & ~kAtomic;
  }
  // The shared-memory wal-index holds page numbers, frame counts and salts, no content.
  int shm_map(int region, int size, int extend, void volatile** out) override {
    return real()->pMethods->xShmMap(real(), region, size, extend, out);
  }
  int shm_lock(int offset, int n, int flags) override { return real()->pMethods->xShmLock(real(), offset, n, flags); }
  void shm_barrier() override { real()->pMethods->xShmBarrier(real()); }
  int shm_unmap(int delete_flag) override { return real()->pMethods->xShmUnmap(real(), delete_flag); }

 private:
  using Slot = int64_t;  // page number in the database, frame number in the WAL (both from 1)

  int64_t slot_start(Slot slot) const {
    return kind_ == FileKind::kDatabase
               ? (slot - 1) * page_size_
               : kWalHeaderBytes + (slot - 1) * (kFrameHeaderBytes + page_size_) + kFrameHeaderBytes;
  }
  std::optional<Slot> slot_containing(int64_t offset) const {
    if (kind_ == FileKind::kDatabase) return offset / page_size_ + 1;
    if (offset < kWalHeaderBytes) return std::nullopt;
    const Slot slot = (offset - kWalHeaderBytes) / (kFrameHeaderBytes + page_size_) + 1;
    if (offset < slot_start(slot)) return std::nullopt;
    return slot;
  }
  // Where the next page payload begins, for an offset in a clear header of the WAL.
  int64_t next_slot_start(int64_t offset) const {
    if (offset < kWalHeaderBytes) return slot_start(1);
    return slot_start((offset - kWalHeaderBytes) / (kFrameHeaderBytes + page_size_) + 1);
  }
  bool overlaps_a_slot(int64_t amount, int64_t offset) const {
    return slot_containing(offset).has_value() || next_slot_start(offset) < offset + amount;
  }

  // From the header on disk, once there is one: page 1's (which must be Tandem's) or the WAL's.
  int learn_page_size() {
    sqlite3_int64 size = 0;
    if (int rc = real()->pMethods->xFileSize(real(), &size); rc != SQLITE_OK) return rc;
    if (kind_ == FileKind::kDatabase && size > 0) {
      std::array<uint8_t, kClearHeaderBytes> header{};
      const int rc = real_read(header.data(), static_cast<int64_t>(header.size()), 0);
      if ((rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) ||
          std::memcmp(header.data(), kTandemMagic.data(), kTandemMagic.size()) != 0 ||
          !valid_page_size(header_page_size(header.data())) || header[20] < kReserved) {
        vfs_.report(label_ + " is not in Tandem's encrypted format (stored in clear, or its header is damaged)");
        return SQLITE_IOERR_DATA;
      }
      set_page_size(header_page_size(header.data()));
    } else if (kind_ == FileKind::kWal && size >= kWalHeaderBytes) {
      std::array<uint8_t, kWalHeaderBytes> header{};
      if (real_read(header.data(), kWalHeaderBytes, 0) == SQLITE_OK && valid_page_size(read_be32(header.data() + 8))) {
        set_page_size(read_be32(header.data() + 8));
      }
    }
    return SQLITE_OK;
  }

  void set_page_size(int64_t page_size) {
    page_size_ = page_size;
    scratch_.resize(static_cast<size_t>(kFrameHeaderBytes + page_size));
  }

  int real_read(uint8_t* out, int64_t amount, int64_t offset) {
    return real()->pMethods->xRead(real(), out, static_cast<int>(amount), offset);
  }
  int real_write(const uint8_t* data, int64_t amount, int64_t offset) {
    return real()->pMethods->xWrite(real(), data, static_cast<int>(amount), offset);
  }

  bool draw_prefix() {
    counter_ = 0;
    return privacy::random_bytes(prefix_).ok();
  }

  // How many leading bytes of a payload stay in clear: page 1's header fields.
  int64_t clear_bytes(Slot slot) const { return kind_ == FileKind::kDatabase && slot == 1 ? kClearHeaderBytes : 0; }

  // Kind, slot, and the clear bytes that go with the payload (page 1's header, a frame's header).
  struct Aad {
    std::array<uint8_t, 1 + 8 + 24> bytes{};
    size_t size = 0;
  };
  Aad aad_for(Slot slot, const uint8_t* clear, int64_t clear_size) const {
    Aad aad;
    aad.bytes[0] = static_cast<uint8_t>(kind_);
    for (int i = 0; i < 8; ++i) aad.bytes[1 + i] = static_cast<uint8_t>(static_cast<uint64_t>(slot) >> (56 - 8 * i));
    std::memcpy(aad.bytes.data() + 9, clear, static_cast<size_t>(clear_size));
    aad.size = 9 + static_cast<size_t>(clear_size);
    return aad;
  }
  // The AAD's clear part: for the WAL the frame header just before the payload.
  const uint8_t* associated_clear(const uint8_t* page) const {
    return kind_ == FileKind::kWal ? page - kFrameHeaderBytes : page;
  }
  int64_t associated_size(Slot slot) const { return kind_ == FileKind::kWal ? kFrameHeaderBytes : clear_bytes(slot); }

  // Encrypts `plain` into `page`, whose clear bytes (page 1's header) the caller has set; its last
  // kReserved bytes receive the nonce and the tag. For the WAL, the frame header sits in the
  // kFrameHeaderBytes before `page`.
  bool seal(Slot slot, const uint8_t* plain, uint8_t* page) {
    if (counter_ == UINT32_MAX && !draw_prefix()) return false;
    privacy::Nonce nonce{};
    std::memcpy(nonce.data(), prefix_.data(), prefix_.size());
    const uint32_t count = counter_++;
    for (int i = 0; i < 4; ++i) nonce[8 + i] = static_cast<uint8_t>(count >> (24 - 8 * i));
    const int64_t clear = clear_bytes(slot);
    const Aad aad = aad_for(slot, associated_clear(page), associated_size(slot));
    const auto body_size = static_cast<size_t>(page_size_ - kReserved - clear);
    privacy::Tag tag{};
    if (!cipher_.encrypt(nonce, {aad.bytes.data(), aad.size}, {plain + clear, body_size}, {page + clear, body_size},
                         tag)) {
      return false;
    }
    std::memcpy(page + page_size_ - kReserved, nonce.data(), nonce.size());
    std::memcpy(page + page_size_ - privacy::kTagBytes, tag.data(), tag.size());
    return true;
  }

  // Decrypts a page in place and hands SQLite its reserved bytes zeroed, as it wrote them (the
  // WAL checksums cover them).
  int open(Slot slot, uint8_t* page) {
    const int64_t clear = clear_bytes(slot);
    if (clear > 0 && std::memcmp(page, kTandemMagic.data(), kTandemMagic.size()) != 0) {
      vfs_.report(label_ + ": page 1 is not in Tandem's encrypted format (damaged file)");
      return SQLITE_IOERR_DATA;
    }
    privacy::Nonce nonce{};
    privacy::Tag tag{};
    std::memcpy(nonce.data(), page + page_size_ - kReserved, nonce.size());
    std::memcpy(tag.data(), page + page_size_ - privacy::kTagBytes, tag.size());
    const Aad aad = aad_for(slot, associated_clear(page), associated_size(slot));
    std::span<uint8_t> body(page + clear, static_cast<size_t>(page_size_ - kReserved - clear));
    if (!cipher_.decrypt(nonce, {aad.bytes.data(), aad.size}, body, tag, body)) {
      vfs_.report(label_ + ": " + slot_name(slot) + " failed authentication (wrong key or damaged file)");
      return SQLITE_IOERR_DATA;
    }
    std::memset(page + page_size_ - kReserved, 0, static_cast<size_t>(kReserved));
    if (clear > 0) std::memcpy(page, kSqliteMagic.data(), kSqliteMagic.size());
    return SQLITE_OK;
  }

  // Reads and decrypts one slot into `page` (for the WAL, `page` must be scratch_ + header, which
  // receives the frame header too). A slot past the end of the file reads as zeros.
  int read_page(Slot slot, uint8_t* page) {
    const int64_t before = kind_ == FileKind::kWal ? kFrameHeaderBytes : 0;
    const int rc = real_read(page - before, before + page_size_, slot_start(slot) - before);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      std::memset(page, 0, static_cast<size_t>(page_size_));
      return rc;
    }
    if (rc != SQLITE_OK) return rc;
    if (kind_ == FileKind::kWal && recall_frame(slot, page - kFrameHeaderBytes, page)) return SQLITE_OK;
    return open(slot, page);
  }

  // The WAL frames this handle sealed since the WAL last restarted, in clear with the header each
  // was sealed under (frame n at n - 1, up to kRecentFrameBytes). A checkpoint reads every frame
  // back to copy it into the database: a frame whose header on disk is still the one this handle
  // wrote (same page, salts and running checksums, so the same generation of the WAL and the same
  // content) is handed back from here instead of being decrypted again. Any other frame (another
  // connection's, an older generation's, one with an edited header) is decrypted and
  // authenticated; a payload edited under an unchanged header is never read, SQLite gets the page
  // it wrote.
  struct RecentFrame {
    std::array<uint8_t, kFrameHeaderBytes> header{};
    std::vector<uint8_t> page;
  };

  void remember_frame(Slot slot, const uint8_t* header, const uint8_t* page) {
    if (slot * page_size_ > kRecentFrameBytes) return;
    if (static_cast<Slot>(recent_frames_.size()) < slot) recent_frames_.resize(static_cast<size_t>(slot));
    RecentFrame& frame = recent_frames_[static_cast<size_t>(slot - 1)];
    std::memcpy(frame.header.data(), header, frame.header.size());
    frame.page.assign(page, page + page_size_);
    // As open() hands a page back: the reserved bytes zeroed.
    std::memset(frame.page.data() + page_size_ - kReserved, 0, static_cast<size_t>(kReserved));
  }

  bool recall_frame(Slot slot, const uint8_t* header_on_disk, uint8_t* page) const {
    if (slot > static_cast<Slot>(recent_frames_.size())) return false;
    const RecentFrame& frame = recent_frames_[static_cast<size_t>(slot - 1)];
    if (static_cast<int64_t>(frame.page.size()) != page_size_ ||
        std::memcmp(frame.header.data(), header_on_disk, frame.header.size()) != 0) {
      return false;
    }
    std::memcpy(page, frame.page.data(), frame.page.size());
    return true;
  }

  std::string slot_name(Slot slot) const {
    switch (kind_) {
      case FileKind::kDatabase:
        return "page " + std::to_string(slot);
      case FileKind::kWal:
        return "frame " + std::to_string(slot);
      case FileKind::kJournal:
        return "the page image at byte " + std::to_string(slot);
    }
    return {};
  }

  // A rollback journal holds records of a 4-byte page number, the page's old image and a 4-byte
  // checksum, after a header padded to the sector size; SQLite writes and reads each image in one
  // call. Only images are page-sized calls at offsets of 4 mod 8 (headers start on sectors), and
  // each is sealed in its own reserved bytes, its offset as the slot.
  static bool is_journal_page(int64_t amount, int64_t offset) { return valid_page_size(amount) && offset % 8 == 4; }

  int read_journal_page(uint8_t* out, int64_t amount, int64_t offset) {
    if (page_size_ != amount) set_page_size(amount);
    const int rc = real_read(out, amount, offset);
    if (rc == SQLITE_IOERR_SHORT_READ) std::memset(out, 0, static_cast<size_t>(amount));
    return rc == SQLITE_OK ? open(offset, out) : rc;
  }

  int write_journal_page(const uint8_t* data, int64_t amount, int64_t offset) {
    if (page_size_ != amount) set_page_size(amount);
    if (!seal(offset, data, scratch_.data())) return SQLITE_IOERR_WRITE;
    return real_write(scratch_.data(), amount, offset);
  }

  int unexpected_write(int64_t amount, int64_t offset) {
    vfs_.report(label_ + ": SQLite wrote " + std::to_string(amount) + " bytes at " + std::to_string(offset) +
                ", not whole pages (was the reserve set before the first write?)");
    return SQLITE_IOERR_WRITE;
  }

  int write_database(const uint8_t* data, int64_t amount, int64_t offset) {
    if (page_size_ == 0 && valid_page_size(amount)) set_page_size(amount);
    if (amount != page_size_ || offset % page_size_ != 0) return unexpected_write(amount, offset);
    const Slot slot = offset / page_size_ + 1;
    uint8_t* page = scratch_.data();
    if (slot == 1) {
      if (data[20] < kReserved) return unexpected_write(amount, offset);
      std::memcpy(page, kTandemMagic.data(), kTandemMagic.size());
      std::memcpy(page + kTandemMagic.size(), data + kTandemMagic.size(),
                  static_cast<size_t>(kClearHeaderBytes) - kTandemMagic.size());
    }
    if (!seal(slot, data, page)) return SQLITE_IOERR_WRITE;
    return real_write(page, amount, offset);
  }

  // SQLite writes a frame as its header, then its payload: the header waits for the payload, so
  // that both land in one write and the payload's AAD can cover the header.
  int write_wal(const uint8_t* data, int64_t amount, int64_t offset) {
    if (offset == 0 && amount == kWalHeaderBytes && valid_page_size(read_be32(data + 8))) {
      if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
      set_page_size(read_be32(data + 8));
      recent_frames_.clear();  // a new generation: frames are numbered from 1 again
      return real_write(data, amount, offset);
    }
    if (page_size_ != 0 && amount == kFrameHeaderBytes && slot_containing(offset + kFrameHeaderBytes) &&
        slot_start(*slot_containing(offset + kFrameHeaderBytes)) == offset + kFrameHeaderBytes) {
      if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
      std::memcpy(pending_header_.data(), data, pending_header_.size());
      pending_at_ = offset;
      return SQLITE_OK;
    }
    if (page_size_ != 0 && amount == page_size_ && slot_containing(offset) &&
        slot_start(*slot_containing(offset)) == offset) {
      const Slot slot = *slot_containing(offset);
      uint8_t* frame = scratch_.data();
      if (pending_at_ == offset - kFrameHeaderBytes) {
        std::memcpy(frame, pending_header_.data(), pending_header_.size());
        pending_at_ = -1;
      } else if (int rc = flush_pending_header(); rc != SQLITE_OK) {
        return rc;
      } else if (real_read(frame, kFrameHeaderBytes, offset - kFrameHeaderBytes) != SQLITE_OK) {
        return SQLITE_IOERR_WRITE;
      }
      remember_frame(slot, frame, data);
      if (!seal(slot, data, frame + kFrameHeaderBytes)) return SQLITE_IOERR_WRITE;
      return real_write(frame, kFrameHeaderBytes + amount, offset - kFrameHeaderBytes);
    }
    if (int rc = flush_pending_header(); rc != SQLITE_OK) return rc;
    if (page_size_ == 0 || overlaps_a_slot(amount, offset)) return unexpected_write(amount, offset);
    return real_write(data, amount, offset);
  }

  // A frame header that came without its payload: SQLite rewriting the checksums of frames a
  // transaction changed again (walRewriteChecksums). The payload already on disk was sealed with
  // the old header as AAD, so it is opened with that one and sealed again with the new one.
  int flush_pending_header() {
    if (pending_at_ < 0) return SQLITE_OK;
    const int64_t at = pending_at_;
    pending_at_ = -1;
    const Slot slot = *slot_containing(at + kFrameHeaderBytes);
    uint8_t* page = scratch_.data() + kFrameHeaderBytes;
    const int rc = read_page(slot, page);
    if (rc == SQLITE_IOERR_SHORT_READ)
      return real_write(pending_header_.data(), kFrameHeaderBytes, at);  // no payload yet
    if (rc != SQLITE_OK) return rc;
    std::memcpy(scratch_.data(), pending_header_.data(), pending_header_.size());
    remember_frame(slot, scratch_.data(), page);
    if (!seal(slot, page, page)) return SQLITE_IOERR_WRITE;
    return real_write(scratch_.data(), kFrameHeaderBytes + page_size_, at);
  }

  State& vfs_;
  const FileKind kind_;
  const std::string label_;
  std::vector<uint8_t> real_storage_;  // the default VFS's sqlite3_file
  privacy::AesGcm cipher_;
  std::array<uint8_t, 8> prefix_{};
  uint32_t counter_ = 0;
  int64_t page_size_ = 0;  // 0 until known from the file or the first write
  std::vector<uint8_t> scratch_;
  std::array<uint8_t, kFrameHeaderBytes> pending_header_{};
  int64_t pending_at_ = -1;
  std::vector<RecentFrame> recent_frames_;  // the WAL only
};

// io_methods: each forwards to the File behind the handle.
int io_close(sqlite3_file* f) {
  File* file = &file_of(f);
  const int rc = file->close();
  delete file;
  f->pMethods = nullptr;
  return rc;
}
int io_read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  return file_of(f).read(static_cast<uint8_t*>(out), amount, offset);
}
int io_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  return file_of(f).write(static_cast<const uint8_t*>(data), amount, offset);
}
int io_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return file_of(f).truncate(size);
}
int io_sync(sqlite3_file* f, int flags) {
  return file_of(f).sync(flags);
}
int io_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return file_of(f).file_size(size);
}
int io_lock(sqlite3_file* f, int level) {
  return file_of(f).lock(level);
}
int io_unlock(sqlite3_file* f, int level) {
  return file_of(f).unlock(level);
}
int io_check_reserved_lock(sqlite3_file* f, int* out) {
  return file_of(f).check_reserved_lock(out);
}
int io_file_control(sqlite3_file* f, int op, void* arg) {
  return file_of(f).file_control(op, arg);
}
int io_sector_size(sqlite3_file* f) {
  return file_of(f).sector_size();
}
int io_device_characteristics(sqlite3_file* f) {
  return file_of(f).device_characteristics();
}
int io_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return file_of(f).shm_map(region, size, extend, out);
}
int io_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return file_of(f).shm_lock(offset, n, flags);
}
void io_shm_barrier(sqlite3_file* f) {
  file_of(f).shm_barrier();
}
int io_shm_unmap(sqlite3_file* f, int delete_flag) {
  return file_of(f).shm_unmap(delete_flag);
}

// Version 2: no xFetch, so SQLite never maps the ciphertext into memory and reads through xRead.
constexpr sqlite3_io_methods kIoMethods = {
    2,
    io_close,
    io_read,
    io_write,
    io_truncate,
    io_sync,
    io_file_size,
    io_lock,
    io_unlock,
    io_check_reserved_lock,
    io_file_control,
    io_sector_size,
    io_device_characteristics,
    io_shm_map,
    io_shm_lock,
    io_shm_barrier,
    io_shm_unmap,
    nullptr,
    nullptr,
};

State& state_of(sqlite3_vfs* vfs) {
  return *static_cast<State*>(vfs->pAppData);
}

int vfs_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  State& state = state_of(vfs);
  auto* handle = reinterpret_cast<Handle*>(f);
  handle->base.pMethods = nullptr;
  handle->file = nullptr;
  constexpr int kTemporary =
      SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_SUBJOURNAL;
  if (flags & kTemporary) {
    handle->file = new MemoryFile();
    if (out_flags) *out_flags = flags;
  } else {
    // Every other file SQLite opens is the database, its WAL, or a rollback or super journal.
    const FileKind kind = (flags & SQLITE_OPEN_MAIN_DB) ? FileKind::kDatabase
                          : (flags & SQLITE_OPEN_WAL)   ? FileKind::kWal
                                                        : FileKind::kJournal;
    auto file = std::make_unique<EncryptedFile>(state, kind, base_name(name));
    if (int rc = state.real->xOpen(state.real, name, file->real(), flags, out_flags); rc != SQLITE_OK) return rc;
    if (int rc = file->start(); rc != SQLITE_OK) {
      file->close();
      return rc;
    }
    handle->file = file.release();
  }
  handle->base.pMethods = &kIoMethods;
  return SQLITE_OK;
}

// Everything but opening files is the default VFS's business.
int vfs_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return state_of(vfs).real->xDelete(state_of(vfs).real, name, sync_dir);
}
int vfs_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return state_of(vfs).real->xAccess(state_of(vfs).real, name, flags, out);
}
int vfs_full_pathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return state_of(vfs).real->xFullPathname(state_of(vfs).real, name, size, out);
}
void* vfs_dl_open(sqlite3_vfs* vfs, const char* name) {
  return state_of(vfs).real->xDlOpen(state_of(vfs).real, name);
}
void vfs_dl_error(sqlite3_vfs* vfs, int size, char* out) {
  state_of(vfs).real->xDlError(state_of(vfs).real, size, out);
}
void (*vfs_dl_sym(sqlite3_vfs* vfs, void* library, const char* symbol))(void) {
  return state_of(vfs).real->xDlSym(state_of(vfs).real, library, symbol);
}
void vfs_dl_close(sqlite3_vfs* vfs, void* library) {
  state_of(vfs).real->xDlClose(state_of(vfs).real, library);
}
int vfs_randomness(sqlite3_vfs* vfs, int size, char* out) {
  return state_of(vfs).real->xRandomness(state_of(vfs).real, size, out);
}
int vfs_sleep(sqlite3_vfs* vfs, int microseconds) {
  return state_of(vfs).real->xSleep(state_of(vfs).real, microseconds);
}
int vfs_current_time(sqlite3_vfs* vfs, double* out) {
  return state_of(vfs).real->xCurrentTime(state_of(vfs).real, out);
}
int vfs_get_last_error(sqlite3_vfs* vfs, int size, char* out) {
  return state_of(vfs).real->xGetLastError(state_of(vfs).real, size, out);
}
int vfs_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return state_of(vfs).real->xCurrentTimeInt64(state_of(vfs).real, out);
}

}  // namespace

EncryptedVfs::EncryptedVfs(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<EncryptedVfs>> EncryptedVfs::create(const privacy::Key& key) {
  static std::atomic<uint64_t> instances{0};
  auto state = std::make_unique<State>();
  state->real = sqlite3_vfs_find(nullptr);
  if (state->real == nullptr || state->real->iVersion < 2) {
    return make_error(ErrorCode::kInternal, "SQLite has no default VFS to encrypt over");
  }
  state->key = key;
  state->name = "tandem-aes-gcm-" + std::to_string(++instances);
  sqlite3_vfs& vfs = state->vfs;
  vfs.iVersion = 2;
  vfs.szOsFile = sizeof(Handle);
  vfs.mxPathname = state->real->mxPathname;
  vfs.zName = state->name.c_str();
  vfs.pAppData = state.get();
  vfs.xOpen = vfs_open;
  vfs.xDelete = vfs_delete;
  vfs.xAccess = vfs_access;
  vfs.xFullPathname = vfs_full_pathname;
  vfs.xDlOpen = vfs_dl_open;
  vfs.xDlError = vfs_dl_error;
  vfs.xDlSym = vfs_dl_sym;
  vfs.xDlClose = vfs_dl_close;
  vfs.xRandomness = vfs_randomness;
  vfs.xSleep = vfs_sleep;
  vfs.xCurrentTime = vfs_current_time;
  vfs.xGetLastError = vfs_get_last_error;
  vfs.xCurrentTimeInt64 = vfs_current_time_int64;
  if (sqlite3_vfs_register(&vfs, /*makeDflt=*/0) != SQLITE_OK) {
    return make_error(ErrorCode::kInternal, "cannot register the encrypting SQLite VFS");
  }
  return std::unique_ptr<EncryptedVfs>(new EncryptedVfs(std::move(state)));
}

EncryptedVfs::~EncryptedVfs() {
  sqlite3_vfs_unregister(&state_->vfs);
}

const char* EncryptedVfs::name() const {
  return state_->name.c_str();
}

std::optional<std::string> EncryptedVfs::damage() const {
  return state_->first_damage();
}

std::optional<std::string> EncryptedVfs::damage(sqlite3* db) {
  sqlite3_vfs* vfs = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK || vfs == nullptr ||
      vfs->xOpen != vfs_open) {
    return std::nullopt;
  }
  return state_of(vfs).first_damage();
}

DatabaseFileKind database_file_kind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 16> magic{};
  if (!in.read(magic.data(), magic.size()))
    return in.gcount() == 0 ? DatabaseFileKind::kAbsent : DatabaseFileKind::kUnknown;
  if (magic == kSqliteMagic) return DatabaseFileKind::kClear;
  if (magic == kTandemMagic) return DatabaseFileKind::kEncrypted;
  return DatabaseFileKind::kUnknown;
}

}  // namespace tandem::knowledge
