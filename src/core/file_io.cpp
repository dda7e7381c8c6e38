#include "core/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tandem {

WriterLock::WriterLock(const std::string& path) : lock_path_(path + ".lock") {
  std::error_code ignored;  // a folder that cannot be made fails the open() below, with its reason
  const auto folder = std::filesystem::path(path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ignored);
  fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error_ = errno;
    return;
  }
  int rc = 0;
  do {
    rc = ::flock(fd_, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) error_ = errno;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);
}

Status WriterLock::status() const {
  if (error_ == 0) return {};
  return make_error(ErrorCode::kUnavailable, io_error("cannot lock", lock_path_, error_));
}

std::string io_error(std::string_view what, const std::string& path, int error_number) {
  return std::string(what) + " " + path + ": " + std::strerror(error_number);
}

Status replace_file_atomically(const std::string& path, std::string_view content) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, io_error("cannot create", temp, errno));
  int error_number = ::fchmod(fd, 0600) == 0 ? 0 : errno;  // a temp file left by a crash may have other bits
  size_t done = 0;
  while (error_number == 0 && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_number = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (error_number == 0 && ::fsync(fd) != 0) error_number = errno;
  ::close(fd);
  if (error_number == 0 && ::rename(temp.c_str(), path.c_str()) != 0) error_number = errno;
  if (error_number != 0) {
    ::unlink(temp.c_str());
    return make_error(ErrorCode::kUnavailable, io_error("cannot write", path, error_number));
  }
  // The rename itself is durable only once the folder is synced.
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

}  // namespace tandem
