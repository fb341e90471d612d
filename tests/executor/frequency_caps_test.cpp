// Frequency caps over the store's key-value state: counted per contact,
// channel and category, freed as the period passes, kept across restarts.
#include <gtest/gtest.h>

#include "executor/FrequencyCaps.h"
#include "integration/test_support.h"
#include "store/SqliteStore.h"

namespace sb {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kT0 = 1'800'000'000'000;

class FrequencyCapsTest : public ::testing::Test {
 protected:
  FrequencyCapsTest() : dir_(test::make_temp_dir("sb_caps")) { open(); }
  ~FrequencyCapsTest() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() { store_ = std::make_unique<SqliteStore>(SqliteStore::Options{dir_ / "store.db"}); }
  std::vector<FrequencyCap> caps() const {
    return {{"sms", "marketing", 2, kHour, "1h"}, {"email", "", 1, 24 * kHour, "1d"}};
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(FrequencyCapsTest, AContactGetsAtMostTheLimitPerPeriodAndPerCategory) {
  FrequencyCaps limits(caps(), *store_);
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "m1", kT0).over, "");
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "m2", kT0 + 10).over, "");
  const auto third = limits.take("id:C1", "sms", "marketing", "m3", kT0 + 20);
  EXPECT_EQ(third.over, "over the frequency cap: at most 2 marketing sms messages per 1h to this contact");
  EXPECT_EQ(third.free_at_ms, kT0 + kHour);
  EXPECT_EQ(limits.take("id:C2", "sms", "marketing", "m4", kT0 + 20).over, "");       // another contact
  EXPECT_EQ(limits.take("id:C1", "sms", "transactional", "m5", kT0 + 20).over, "");   // no cap on that category
  EXPECT_EQ(limits.take("id:C1", "whatsapp", "marketing", "m6", kT0 + 20).over, "");  // nor that channel
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "m7", kT0 + kHour + 1).over,
            "");  // the first one has left the hour
  // A cap without a category counts every category.
  EXPECT_EQ(limits.take("id:C1", "email", "transactional", "m8", kT0).over, "");
  EXPECT_NE(limits.take("id:C1", "email", "marketing", "m9", kT0 + 1).over, "");
}

TEST_F(FrequencyCapsTest, ARetryOfTheSameMessageIsNotRefusedByItsFirstAttempt) {
  FrequencyCaps limits(caps(), *store_);
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "exec-1:promo:0", kT0).over, "");
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "exec-1:promo:0", kT0 + 60'000).over, "");  // the retry
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "exec-2:promo:0", kT0 + 60'000).over, "");  // the second of two
  EXPECT_NE(limits.take("id:C1", "sms", "marketing", "exec-3:promo:0", kT0 + 60'000).over, "");
}

TEST_F(FrequencyCapsTest, CountsSurviveARestart) {
  {
    FrequencyCaps limits(caps(), *store_);
    EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "m10", kT0).over, "");
    EXPECT_EQ(limits.take("id:C1", "sms", "marketing", "m11", kT0 + 1).over, "");
  }
  store_.reset();  // waits for the writes in flight
  open();
  FrequencyCaps again(caps(), *store_);
  EXPECT_NE(again.take("id:C1", "sms", "marketing", "m12", kT0 + 2).over, "");
}

}  // namespace
}  // namespace sb
