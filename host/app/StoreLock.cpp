#include "app/StoreLock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sb {

StoreLock::StoreLock(const std::filesystem::path& store_file) {
  const std::filesystem::path path = store_file.string() + ".lock";
  std::error_code ignored;
  std::filesystem::create_directories(path.parent_path(), ignored);  // the store makes it too, later
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno) +
                             " (the store's folder, the config's data_dir or store.sqlite.path, must be one this "
                             "host can write in)");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    char holder[32] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (why != EWOULDBLOCK) throw std::runtime_error("cannot lock " + path.string() + ": " + std::strerror(why));
    const std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown";
    throw std::runtime_error("another host (pid " + pid + ") runs on the store " + store_file.string() +
                             ": stop it first, or give this one another data_dir");
  }
  // The pid is only for the message another host gives: not written, it loses nothing.
  const std::string pid = std::to_string(::getpid());
  [[maybe_unused]] const bool written =
      ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace sb
