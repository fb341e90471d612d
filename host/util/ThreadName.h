// Names the calling thread, as `top -H`, `perf` and gdb show it ("sb-store",
// "sb-in-0"): the host's threads are otherwise all called "switchboard".
#pragma once

#include <pthread.h>

#include <string>

namespace sb {

// Linux keeps 15 characters of it.
inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace sb
