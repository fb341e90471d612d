// A name for this run of this host: "<host name>-<pid>-<random>". Two hosts,
// or two runs of one, never share it; it is the owner of the leases the host
// takes and its row among the nodes sharing a store.
#pragma once

#include <string>

namespace sb {

std::string unique_node_id();
std::string host_name();

}  // namespace sb
