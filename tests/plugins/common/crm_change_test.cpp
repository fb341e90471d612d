// How the record plugins (crm, tasks, segments) read the host's refusals.
#include "crm_change.h"

#include <gtest/gtest.h>

namespace {

using switchboard_plugins::change_refused;

// A host that is stopping refuses changes: the step runs again after the
// restart, it does not end as a dead letter.
TEST(CrmChange, ARefusalWhileTheHostStopsIsRetriedNotADeadLetter) {
  EXPECT_EQ(change_refused(SB_ERR_UNAVAILABLE).outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(change_refused(SB_ERR_UNSUPPORTED).outcome, SB_OUTCOME_PERMANENT);  // no grant: the config's to fix
  EXPECT_EQ(change_refused(SB_ERR_INVALID_ARGUMENT).outcome, SB_OUTCOME_PERMANENT);
}

}  // namespace
