#include "standard_webhooks.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <climits>
#include <stdexcept>

#include "base64.h"

namespace standard_webhooks {

namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::string_view kVersion = "v1";

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

std::optional<std::string> verify(std::string_view secret, std::string_view id, std::string_view timestamp,
                                  std::string_view body, std::string_view signature_header, int64_t now_s,
                                  int64_t tolerance_s) {
  if (id.empty()) return "missing webhook-id header";
  if (timestamp.empty()) return "missing webhook-timestamp header";
  if (signature_header.empty()) return "missing webhook-signature header";
  const std::optional<int64_t> sent_at = parse_seconds(timestamp);
  if (!sent_at) return "invalid webhook-timestamp header";
  // Both bounds: an old timestamp is a possible replay, a future one a way to
  // make a captured message replayable for longer.
  if (now_s - *sent_at > tolerance_s) return "message timestamp too old";
  if (*sent_at - now_s > tolerance_s) return "message timestamp too new";
  const std::optional<std::string> key = decode_secret(secret);
  if (!key) return "the signing secret is not valid base64";

  const std::string expected = signature_base64(*key, id, timestamp, body);
  size_t pos = 0;
  while (pos < signature_header.size()) {
    size_t end = signature_header.find(' ', pos);
    if (end == std::string_view::npos) end = signature_header.size();
    const std::string_view entry = signature_header.substr(pos, end - pos);
    pos = end + 1;
    const size_t comma = entry.find(',');
    // Entries of other versions (or malformed ones) are skipped so that a
    // sender can add a new scheme next to v1 without breaking receivers.
    if (comma == std::string_view::npos || entry.substr(0, comma) != kVersion) continue;
    if (equal_constant_time(entry.substr(comma + 1), expected)) return std::nullopt;
  }
  return "no matching signature";
}

}  // namespace standard_webhooks
