// Lowers the calling thread's scheduling priority (its nice value; on Linux
// a thread's own, not the process's), so that on a full machine it runs
// after the host's other threads, not beside them.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace sb {

// Only lowers: raising a priority needs a capability the host should not
// ask for. A failure leaves the thread as it was (it only runs sooner).
inline void lower_this_threads_priority(int nice) {
  const auto self = static_cast<id_t>(gettid());
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, self);  // -1 is a nice value too: errno tells
  if (errno == 0 && nice > now) setpriority(PRIO_PROCESS, self, nice);
}

}  // namespace sb
