// Lowers the calling thread's scheduling priority (its nice value; on Linux
// a thread's own, not the process's), so that on a full machine it runs
// after the host's other threads, not beside them.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

namespace sb {

// Only lowers: raising a priority needs a capability the host should not
// ask for. A failure leaves the thread as it was (it only runs sooner).
inline void lower_this_threads_priority(int nice) {
  if (nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
}

}  // namespace sb
