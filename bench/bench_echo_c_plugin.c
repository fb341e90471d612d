/* The cheapest possible action in plain C, without the C++ wrapper: the
 * cost of crossing the ABI itself. */
#include <string.h>
#include <switchboard/plugin.h>

#define LIT(s) \
  { s, sizeof(s) - 1 }

struct sb_instance {
  const sb_host* host;
};
static struct sb_instance the_instance;

static sb_status create(const sb_host* host, sb_str config, sb_instance** out, const sb_error_buffer* error) {
  (void)config;
  (void)error;
  the_instance.host = host;
  *out = &the_instance;
  return SB_OK;
}
static void destroy(sb_instance* instance) { (void)instance; }
static sb_status invoke(sb_instance* instance, const sb_action_call* call, sb_completion* completion,
                        const sb_error_buffer* error) {
  (void)call;
  (void)error;
  sb_action_result result;
  memset(&result, 0, sizeof result);
  result.struct_size = sizeof result;
  result.outcome = SB_OUTCOME_DONE;
  instance->host->complete(instance->host, completion, &result);
  return SB_OK;
}

static const sb_capability echo = {sizeof(sb_capability), LIT("echo"), LIT(""), LIT("{}"), 0};
static const sb_capability* const actions[] = {&echo};
static const sb_plugin_descriptor descriptor = {sizeof(sb_plugin_descriptor),
                                                {SB_ABI_VERSION_MAJOR, SB_ABI_VERSION_MINOR, 0},
                                                LIT("bench_echo_c"),
                                                LIT("1.0.0"),
                                                LIT("bench"),
                                                LIT(""),
                                                LIT("{}"),
                                                actions,
                                                1,
                                                NULL,
                                                0,
                                                create,
                                                destroy,
                                                invoke,
                                                NULL,
                                                NULL,
                                                NULL};

SB_EXPORT const sb_plugin_descriptor* switchboard_plugin_entry(void) { return &descriptor; }
