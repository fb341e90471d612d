// The 1.0 part of the current header is the 1.0 that was released: every
// struct keeps its fields at their 1.0 offsets (and may only grow at the
// end), every enum value and constant stays (static_assert against
// abi_layout_1_0.inc). Like Envoy's ABI hash, the frozen header and the
// layout table are pinned by their SHA-256: editing either fails here, so
// a change to 1.0 cannot slip in with its own "expected" values.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <switchboard/plugin.h>

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#if defined(__LP64__)
#define SB_FIELD(type, field, offset) static_assert(offsetof(type, field) == (offset), #type "." #field " moved");
#define SB_SIZE(type, size) static_assert(sizeof(type) >= (size), #type " shrank");
#define SB_VALUE(name, value) static_assert((name) == (value), #name " changed");
#define SB_STRING(name, value) static_assert(std::string_view(name) == std::string_view(value), #name " changed");
#include "abi/abi_layout_1_0.inc"
#endif

static_assert(SB_ABI_VERSION_MAJOR == 1, "a 1.x host loads 1.0 plugins");

namespace sb {
namespace {

std::string sha256_of_file(const std::string& relative) {
  std::ifstream in(std::string(SB_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string data = text.str();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  static const char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

TEST(Abi10, TheFrozenHeaderAndItsLayoutAreAsReleased) {
  EXPECT_EQ(sha256_of_file("tests/abi/frozen/1.0/switchboard/plugin.h"),
            "7e0ecc393038c41ecbe5850550b8dcf68892728f3a0e05d2bedd798c3676aac6")
      << "ABI 1.0 was released with this header: plugins built against it must keep loading. Change "
         "sdk/include/switchboard/plugin.h (appending, in a new minor version) instead.";
  EXPECT_EQ(sha256_of_file("tests/abi/abi_layout_1_0.inc"),
            "ae38228d68aeb3fd2c458413142dab1630439cd5fc35a92743e8fae831fcfc89")
      << "the 1.0 layout table was read from the released header once and is never edited";
}

}  // namespace
}  // namespace sb
