#include "standard_webhooks.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <climits>
#include <memory>
#include <stdexcept>

#include "base64.h"

namespace standard_webhooks {

namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::string_view kPublicKeyPrefix = "whpk_";
constexpr std::string_view kVersion = "v1";
constexpr std::string_view kAsymmetricVersion = "v1a";
constexpr size_t kEd25519KeyBytes = 32;

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// EVP_DecodeBlock tolerates '=' inside the input and counts padding as decoded
// zero bytes, so the text is checked here first and the padding subtracted
// after.
std::optional<std::string> base64_decode(std::string_view text) {
  size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const size_t data_len = text.size() - pad;
  if (pad > 2 || data_len == 0 || text.size() > INT_MAX / 2) return std::nullopt;
  for (size_t i = 0; i < data_len; ++i)
    if (!is_base64_char(text[i])) return std::nullopt;
  std::string padded(text);
  if (pad == 0) {
    // Unpadded base64 (seen in hand-written secrets): restore the padding
    // EVP_DecodeBlock requires. One leftover character can never be valid.
    if (data_len % 4 == 1) return std::nullopt;
    pad = (4 - data_len % 4) % 4;
    padded.append(pad, '=');
  }
  if (padded.size() % 4 != 0) return std::nullopt;
  std::string out(padded.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The base64 HMAC-SHA256 of "{id}.{timestamp}.{body}". The one-shot HMAC()
// needs the content in one buffer; copying a body of at most a few MB costs
// far less than the MAC itself.
std::string signature_base64(std::string_view key, std::string_view id, std::string_view timestamp,
                             std::string_view body) {
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (key.size() > INT_MAX ||
      !HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &mac_len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return switchboard_plugins::base64(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

// The length of a v1 signature is public (fixed by SHA-256); only the bytes
// must not leak through timing.
bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Unix seconds: digits only, few enough that arithmetic on them cannot overflow.
std::optional<int64_t> parse_seconds(std::string_view text) {
  if (text.empty() || text.size() > 15) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

std::optional<std::string> decode_secret(std::string_view secret) {
  if (secret.substr(0, kSecretPrefix.size()) == kSecretPrefix) secret.remove_prefix(kSecretPrefix.size());
  return base64_decode(secret);
}

std::string sign(std::string_view key, std::string_view id, std::string_view timestamp, std::string_view body) {
  return std::string(kVersion) + "," + signature_base64(key, id, timestamp, body);
}

namespace {

// The checks before any signature: the three headers there, the timestamp
// within the tolerance.
std::optional<std::string> headers_problem(std::string_view id, std::string_view timestamp,
                                           std::string_view signature_header, int64_t now_s, int64_t tolerance_s) {
  if (id.empty()) return "missing webhook-id header";
  if (timestamp.empty()) return "missing webhook-timestamp header";
  if (signature_header.empty()) return "missing webhook-signature header";
  const std::optional<int64_t> sent_at = parse_seconds(timestamp);
  if (!sent_at) return "invalid webhook-timestamp header";
  // Both bounds: an old timestamp is a possible replay, a future one a way to
  // make a captured message replayable for longer.
  if (now_s - *sent_at > tolerance_s) return "message timestamp too old";
  if (*sent_at - now_s > tolerance_s) return "message timestamp too new";
  return std::nullopt;
}

// Whether an entry of `version` in the header satisfies `matches` (given
// what follows the comma). Entries of other versions, or malformed ones,
// are skipped, so that a sender can add a new scheme next to this one.
template <typename Matches>
bool any_entry(std::string_view signature_header, std::string_view version, const Matches& matches) {
  size_t pos = 0;
  while (pos < signature_header.size()) {
    size_t end = signature_header.find(' ', pos);
    if (end == std::string_view::npos) end = signature_header.size();
    const std::string_view entry = signature_header.substr(pos, end - pos);
    pos = end + 1;
    const size_t comma = entry.find(',');
    if (comma == std::string_view::npos || entry.substr(0, comma) != version) continue;
    if (matches(entry.substr(comma + 1))) return true;
  }
  return false;
}

bool ed25519_valid(std::string_view public_key, std::string_view signature, std::string_view content) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
                                  public_key.size()),
      &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  return key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(content.data()), content.size()) == 1;
}

}  // namespace

std::optional<std::string> decode_public_key(std::string_view public_key) {
  if (public_key.substr(0, kPublicKeyPrefix.size()) != kPublicKeyPrefix) return std::nullopt;
  auto key = base64_decode(public_key.substr(kPublicKeyPrefix.size()));
  return key && key->size() == kEd25519KeyBytes ? key : std::nullopt;
}

std::optional<std::string> verify_asymmetric(std::string_view public_key, std::string_view id,
                                             std::string_view timestamp, std::string_view body,
                                             std::string_view signature_header, int64_t now_s, int64_t tolerance_s) {
  if (auto problem = headers_problem(id, timestamp, signature_header, now_s, tolerance_s)) return problem;
  const std::optional<std::string> key = decode_public_key(public_key);
  if (!key) return "the signing public key is not 'whpk_' followed by a base64 Ed25519 key";
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  const bool valid = any_entry(signature_header, kAsymmetricVersion, [&](std::string_view encoded) {
    const auto signature = base64_decode(encoded);
    return signature && ed25519_valid(*key, *signature, content);
  });
  return valid ? std::nullopt : std::optional<std::string>("no matching signature");
}

std::optional<std::string> verify(std::string_view secret, std::string_view id, std::string_view timestamp,
                                  std::string_view body, std::string_view signature_header, int64_t now_s,
                                  int64_t tolerance_s) {
  if (auto problem = headers_problem(id, timestamp, signature_header, now_s, tolerance_s)) return problem;
  const std::optional<std::string> key = decode_secret(secret);
  if (!key) return "the signing secret is not valid base64";

  const std::string expected = signature_base64(*key, id, timestamp, body);
  const bool valid = any_entry(signature_header, kVersion,
                               [&](std::string_view entry) { return equal_constant_time(entry, expected); });
  return valid ? std::nullopt : std::optional<std::string>("no matching signature");
}

}  // namespace standard_webhooks
