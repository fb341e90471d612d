// Frequency caps over the store's key-value state: counted per contact,
// channel and category, freed as the period passes, kept across restarts,
// and counted one after the other by hosts sharing the store.
#include <gtest/gtest.h>

#include <future>
#include <thread>

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

// One message counted, once committed.
FrequencyCaps::Verdict take(FrequencyCaps& limits, const std::string& contact, const std::string& channel,
                            const std::string& category, const std::string& message, int64_t now) {
  std::promise<FrequencyCaps::Verdict> decided;
  limits.take(contact, channel, category, message, now,
              [&](const StoreStatus& status, const FrequencyCaps::Verdict& v) {
                EXPECT_TRUE(status.ok()) << status.message;
                decided.set_value(v);
              });
  return decided.get_future().get();
}

TEST_F(FrequencyCapsTest, AContactGetsAtMostTheLimitPerPeriodAndPerCategory) {
  FrequencyCaps limits(caps(), *store_);
  EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "m1", kT0).over, "");
  EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "m2", kT0 + 10).over, "");
  const auto third = take(limits, "id:C1", "sms", "marketing", "m3", kT0 + 20);
  EXPECT_EQ(third.over, "over the frequency cap: at most 2 marketing sms messages per 1h to this contact");
  EXPECT_EQ(third.free_at_ms, kT0 + kHour);
  EXPECT_EQ(take(limits, "id:C2", "sms", "marketing", "m4", kT0 + 20).over, "");       // another contact
  EXPECT_EQ(take(limits, "id:C1", "sms", "transactional", "m5", kT0 + 20).over, "");   // no cap on that category
  EXPECT_EQ(take(limits, "id:C1", "whatsapp", "marketing", "m6", kT0 + 20).over, "");  // nor that channel
  EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "m7", kT0 + kHour + 1).over,
            "");  // the first one has left the hour
  // A cap without a category counts every category.
  EXPECT_EQ(take(limits, "id:C1", "email", "transactional", "m8", kT0).over, "");
  EXPECT_NE(take(limits, "id:C1", "email", "marketing", "m9", kT0 + 1).over, "");
}

TEST_F(FrequencyCapsTest, ARetryOfTheSameMessageIsNotRefusedByItsFirstAttempt) {
  FrequencyCaps limits(caps(), *store_);
  EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "exec-1:promo:0", kT0).over, "");
  EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "exec-1:promo:0", kT0 + 60'000).over, "");  // the retry
  EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "exec-2:promo:0", kT0 + 60'000).over, "");  // the second of two
  EXPECT_NE(take(limits, "id:C1", "sms", "marketing", "exec-3:promo:0", kT0 + 60'000).over, "");
}

TEST_F(FrequencyCapsTest, CountsSurviveARestart) {
  {
    FrequencyCaps limits(caps(), *store_);
    EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "m10", kT0).over, "");
    EXPECT_EQ(take(limits, "id:C1", "sms", "marketing", "m11", kT0 + 1).over, "");
  }
  store_.reset();  // waits for the writes in flight
  open();
  FrequencyCaps again(caps(), *store_);
  EXPECT_NE(take(again, "id:C1", "sms", "marketing", "m12", kT0 + 2).over, "");
}

TEST_F(FrequencyCapsTest, TwoHostsSharingTheStoreCountOneAfterTheOther) {
  SqliteStore other_store(SqliteStore::Options{dir_ / "store.db"});  // another host on the same store
  FrequencyCaps here(caps(), *store_), there(caps(), other_store);
  // Ten messages to one contact at once, half from each host: the cap (2 an hour) lets two go.
  std::vector<std::future<FrequencyCaps::Verdict>> sent;
  for (int i = 0; i < 10; ++i)
    sent.push_back(std::async(std::launch::async, [&, i] {
      return take(i % 2 ? here : there, "id:C1", "sms", "marketing", "m" + std::to_string(i), kT0 + i);
    }));
  int allowed = 0;
  for (auto& s : sent) allowed += s.get().over.empty() ? 1 : 0;
  EXPECT_EQ(allowed, 2);
}

TEST_F(FrequencyCapsTest, AMessageNoCapCountsIsAllowedWithoutAWrite) {
  FrequencyCaps limits(caps(), *store_);
  EXPECT_EQ(take(limits, "id:C1", "whatsapp", "marketing", "m1", kT0).over, "");
  EXPECT_EQ(take(limits, "", "sms", "marketing", "m2", kT0).over, "");  // no contact to count for
  EXPECT_EQ(store_->kv_get(kFrequencyKeys, "id:C1|whatsapp"), std::nullopt);
}

}  // namespace
}  // namespace sb
