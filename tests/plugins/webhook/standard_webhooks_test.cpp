#include "standard_webhooks.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

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
