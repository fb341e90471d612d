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
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", kT0).over, "");
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", kT0 + 10).over, "");
  const auto third = limits.take("id:C1", "sms", "marketing", kT0 + 20);
  EXPECT_EQ(third.over, "over the frequency cap: at most 2 marketing sms messages per 1h to this contact");
  EXPECT_EQ(third.free_at_ms, kT0 + kHour);
  EXPECT_EQ(limits.take("id:C2", "sms", "marketing", kT0 + 20).over, "");         // another contact
  EXPECT_EQ(limits.take("id:C1", "sms", "transactional", kT0 + 20).over, "");     // no cap on that category
  EXPECT_EQ(limits.take("id:C1", "whatsapp", "marketing", kT0 + 20).over, "");    // nor that channel
  EXPECT_EQ(limits.take("id:C1", "sms", "marketing", kT0 + kHour + 1).over, "");  // the first one has left the hour
  // A cap without a category counts every category.
  EXPECT_EQ(limits.take("id:C1", "email", "transactional", kT0).over, "");
  EXPECT_NE(limits.take("id:C1", "email", "marketing", kT0 + 1).over, "");
}

TEST_F(FrequencyCapsTest, CountsSurviveARestart) {
  {
    FrequencyCaps limits(caps(), *store_);
    EXPECT_EQ(limits.take("id:C1", "sms", "marketing", kT0).over, "");
    EXPECT_EQ(limits.take("id:C1", "sms", "marketing", kT0 + 1).over, "");
  }
  store_.reset();  // waits for the writes in flight
  open();
  FrequencyCaps again(caps(), *store_);
  EXPECT_NE(again.take("id:C1", "sms", "marketing", kT0 + 2).over, "");
}

}  // namespace
}  // namespace sb
