#include "util/NodeId.h"

#include <unistd.h>

#include <cstdio>
#include <random>

namespace sb {

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string unique_node_id() {
  std::random_device rd;
  char random[17];
  std::snprintf(random, sizeof random, "%08x%08x", rd(), rd());
  return host_name() + "-" + std::to_string(::getpid()) + "-" + random;
}

}  // namespace sb
