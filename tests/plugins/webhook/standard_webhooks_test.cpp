#include "standard_webhooks.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>

#include "base64.h"

namespace {

using standard_webhooks::decode_secret;
using standard_webhooks::sign;
using standard_webhooks::verify;

// The vector every official Standard Webhooks library tests against.
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::string_view kTimestamp = "1614265330";
constexpr int64_t kNow = 1614265330;
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
constexpr int64_t kTolerance = 300;

std::optional<std::string> verify_header(std::string_view header, int64_t now = kNow) {
  return verify(kSecret, kId, kTimestamp, kBody, header, now, kTolerance);
}

TEST(StandardWebhooks, PublicVectorVerifies) { EXPECT_EQ(verify_header(kSignature), std::nullopt); }

TEST(StandardWebhooks, SignProducesThePublicVector) {
  const auto key = decode_secret(kSecret);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(sign(*key, kId, kTimestamp, kBody), kSignature);
}

TEST(StandardWebhooks, BareBase64SecretVerifies) {
  const std::string_view bare = kSecret.substr(std::string_view("whsec_").size());
  EXPECT_EQ(verify(bare, kId, kTimestamp, kBody, kSignature, kNow, kTolerance), std::nullopt);
}

TEST(StandardWebhooks, DecodesPaddedAndUnpaddedBase64) {
  EXPECT_EQ(decode_secret("whsec_YWJjZA=="), "abcd");
  EXPECT_EQ(decode_secret("YWJjZA"), "abcd");
  EXPECT_EQ(decode_secret("YWJjZGU="), "abcde");
  EXPECT_EQ(decode_secret("YWJjZGU"), "abcde");
  EXPECT_EQ(decode_secret("YWJj"), "abc");
}

TEST(StandardWebhooks, RejectsSecretsThatAreNotBase64) {
  EXPECT_EQ(decode_secret(""), std::nullopt);
  EXPECT_EQ(decode_secret("whsec_"), std::nullopt);
  EXPECT_EQ(decode_secret("not base64!"), std::nullopt);
  EXPECT_EQ(decode_secret("YQ=a"), std::nullopt);   // '=' inside
  EXPECT_EQ(decode_secret("YWJjZ"), std::nullopt);  // one character too many
  EXPECT_EQ(decode_secret("YQ==="), std::nullopt);  // three padding characters
  EXPECT_EQ(decode_secret("YWJj\nZA=="), std::nullopt);
}

TEST(StandardWebhooks, UnknownVersionIsSkippedWhenAValidV1Follows) {
  EXPECT_EQ(verify_header("v2,abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG= " + std::string(kSignature)), std::nullopt);
  EXPECT_EQ(verify_header("v1a,Zm9v " + std::string(kSignature)), std::nullopt);
}

TEST(StandardWebhooks, OnlyAnUnknownVersionFails) {
  EXPECT_EQ(verify_header("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "no matching signature");
}

TEST(StandardWebhooks, EmptyV1EntryFails) {
  EXPECT_EQ(verify_header("v1,"), "no matching signature");
  EXPECT_EQ(verify_header("v1"), "no matching signature");
}

TEST(StandardWebhooks, SecondOfSeveralSignaturesMayBeTheValidOne) {
  const std::string wrong = "v1,Ek5tQxUmmkbZzCpwVQWqsQfbhJCRBFYgiYxuMAbqgpg=";
  EXPECT_EQ(verify_header(wrong + " " + std::string(kSignature)), std::nullopt);
  EXPECT_EQ(verify_header(wrong + "  " + std::string(kSignature) + " "), std::nullopt);  // extra spaces
  EXPECT_EQ(verify_header(wrong), "no matching signature");
}

TEST(StandardWebhooks, TamperedBodyFails) {
  EXPECT_EQ(verify(kSecret, kId, kTimestamp, R"({"test": 2432232315})", kSignature, kNow, kTolerance),
            "no matching signature");
}

TEST(StandardWebhooks, TamperedIdOrTimestampFails) {
  EXPECT_EQ(verify(kSecret, "msg_other", kTimestamp, kBody, kSignature, kNow, kTolerance), "no matching signature");
  EXPECT_EQ(verify(kSecret, kId, "1614265331", kBody, kSignature, kNow, kTolerance), "no matching signature");
}

TEST(StandardWebhooks, WrongSecretFails) {
  EXPECT_EQ(verify("whsec_YWJjZA==", kId, kTimestamp, kBody, kSignature, kNow, kTolerance), "no matching signature");
}

TEST(StandardWebhooks, TimestampWithinToleranceEitherWayPasses) {
  EXPECT_EQ(verify_header(kSignature, kNow + kTolerance), std::nullopt);
  EXPECT_EQ(verify_header(kSignature, kNow - kTolerance), std::nullopt);
}

TEST(StandardWebhooks, TimestampTooOldFails) {
  EXPECT_EQ(verify_header(kSignature, kNow + kTolerance + 1), "message timestamp too old");
}

TEST(StandardWebhooks, TimestampTooNewFails) {
  EXPECT_EQ(verify_header(kSignature, kNow - kTolerance - 1), "message timestamp too new");
}

TEST(StandardWebhooks, MalformedTimestampFails) {
  for (std::string_view ts : {"abc", "-1614265330", "1614265330.0", " 1614265330", "99999999999999999999"})
    EXPECT_EQ(verify(kSecret, kId, ts, kBody, kSignature, kNow, kTolerance), "invalid webhook-timestamp header") << ts;
}

TEST(StandardWebhooks, MissingHeadersFail) {
  EXPECT_EQ(verify(kSecret, "", kTimestamp, kBody, kSignature, kNow, kTolerance), "missing webhook-id header");
  EXPECT_EQ(verify(kSecret, kId, "", kBody, kSignature, kNow, kTolerance), "missing webhook-timestamp header");
  EXPECT_EQ(verify(kSecret, kId, kTimestamp, kBody, "", kNow, kTolerance), "missing webhook-signature header");
}

TEST(StandardWebhooks, ReasonsNeverContainTheSecretOrTheExpectedSignature) {
  const std::string expected = std::string(kSignature.substr(3));
  for (const auto& reason : {verify_header("v1,"), verify_header("v1,AAAA"), verify_header(kSignature, kNow + 9999),
                             verify(kSecret, kId, kTimestamp, "{}", kSignature, kNow, kTolerance)}) {
    ASSERT_TRUE(reason.has_value());
    EXPECT_EQ(reason->find("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string::npos) << *reason;
    EXPECT_EQ(reason->find(expected), std::string::npos) << *reason;
  }
}

}  // namespace

// v1a: an Ed25519 signature of the same content, checked with the sender's
// public key ("whpk_" + base64 of its 32 bytes), as the standard's libraries
// make them.
namespace {

struct Ed25519Pair {
  std::string public_key;  // whpk_...
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, &EVP_PKEY_free};
};

Ed25519Pair new_pair() {
  Ed25519Pair pair;
  pair.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  unsigned char raw[32];
  size_t length = sizeof raw;
  EVP_PKEY_get_raw_public_key(pair.key.get(), raw, &length);
  pair.public_key = "whpk_" + switchboard_plugins::base64(std::string_view(reinterpret_cast<char*>(raw), length));
  return pair;
}

std::string sign_v1a(const Ed25519Pair& pair, std::string_view content) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char signature[64];
  size_t length = sizeof signature;
  EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pair.key.get());
  EVP_DigestSign(ctx.get(), signature, &length, reinterpret_cast<const unsigned char*>(content.data()), content.size());
  return "v1a," + switchboard_plugins::base64(std::string_view(reinterpret_cast<char*>(signature), length));
}

const std::string kContent = std::string(kId) + "." + std::string(kTimestamp) + "." + std::string(kBody);

TEST(StandardWebhooksV1a, AnEd25519SignatureVerifiesWithThePublicKey) {
  const Ed25519Pair pair = new_pair();
  const std::string header = sign_v1a(pair, kContent);
  EXPECT_EQ(standard_webhooks::verify_asymmetric(pair.public_key, kId, kTimestamp, kBody, header, kNow, kTolerance),
            std::nullopt);
  // Among other entries, in any order.
  EXPECT_EQ(standard_webhooks::verify_asymmetric(pair.public_key, kId, kTimestamp, kBody,
                                                 std::string(kSignature) + " " + header, kNow, kTolerance),
            std::nullopt);
}

// The vector of the standard's Go library (webhook_asymmetric_test.go): the
// same message as the v1 vector, signed with a fixed Ed25519 key.
TEST(StandardWebhooksV1a, TheReferenceLibrarysVectorVerifies) {
  constexpr std::string_view kPublicKey = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";
  constexpr std::string_view kV1a =
      "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
  EXPECT_EQ(standard_webhooks::verify_asymmetric(kPublicKey, kId, kTimestamp, kBody, kV1a, kNow, kTolerance),
            std::nullopt);
  EXPECT_EQ(standard_webhooks::verify_asymmetric(kPublicKey, kId, "1614265331", kBody, kV1a, kNow, kTolerance),
            "no matching signature");
}

TEST(StandardWebhooksV1a, ATamperedBodyAnotherKeyOrAV1EntryFails) {
  const Ed25519Pair pair = new_pair();
  const std::string header = sign_v1a(pair, kContent);
  EXPECT_EQ(standard_webhooks::verify_asymmetric(pair.public_key, kId, kTimestamp, R"({"test": 1})", header, kNow,
                                                 kTolerance),
            "no matching signature");
  EXPECT_EQ(
      standard_webhooks::verify_asymmetric(new_pair().public_key, kId, kTimestamp, kBody, header, kNow, kTolerance),
      "no matching signature");
  EXPECT_EQ(standard_webhooks::verify_asymmetric(pair.public_key, kId, kTimestamp, kBody, kSignature, kNow, kTolerance),
            "no matching signature");  // an HMAC entry is not one
  EXPECT_EQ(
      standard_webhooks::verify_asymmetric(pair.public_key, kId, kTimestamp, kBody, header, kNow + 301, kTolerance),
      "message timestamp too old");
}

TEST(StandardWebhooksV1a, APublicKeyIsWhpkAndThirtyTwoBytes) {
  EXPECT_TRUE(standard_webhooks::decode_public_key(new_pair().public_key));
  EXPECT_EQ(standard_webhooks::decode_public_key("whpk_YWJjZA=="), std::nullopt);  // 4 bytes
  EXPECT_EQ(standard_webhooks::decode_public_key(std::string(kSecret)), std::nullopt);
}

}  // namespace
