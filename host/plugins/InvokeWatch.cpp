#include "plugins/InvokeWatch.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "plugins/HostServices.h"

namespace sb::invoke_watch {

namespace {

// One thread's call, in fixed buffers: a signal handler reads them as they
// are, and the watchdog copies them under the slot's lock.
struct Slot {
  std::mutex mutex;                  // the watchdog's copy against the thread's next call
  std::atomic<int64_t> since_ms{0};  // a steady clock's; 0: in no call
  bool may_take_its_time = false;
  char plugin[64] = {}, instance[128] = {}, entry[64] = {}, rule[200] = {}, step[200] = {};
  int64_t execution_id = 0;
};

// Copied whole characters only: a name cut inside one would make the note
// that names it no JSON.
template <size_t N>
void put(char (&to)[N], std::string_view from) {
  size_t n = std::min(from.size(), N - 1);
  if (n < from.size())
    while (n > 0 && (static_cast<unsigned char>(from[n]) & 0xC0) == 0x80) --n;
  if (n > 0) std::memcpy(to, from.data(), n);  // an empty view's data may be null
  to[n] = '\0';
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Never destroyed: a thread may end after the statics are gone.
std::mutex& registry_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
std::vector<Slot*>& registry() {
  static auto* slots = new std::vector<Slot*>;
  return *slots;
}

// A thread's slot, registered while the thread lives, and the stack a fatal
// signal's handler runs on (a plugin's runaway recursion leaves none).
struct Registered {
  Slot slot;
#if !defined(__SANITIZE_ADDRESS__)  // the sanitizer keeps an alternate stack of its own
  static constexpr size_t kSignalStackBytes = 64 << 10;
  std::unique_ptr<char[]> signal_stack{new char[kSignalStackBytes]};
#endif
  Registered() {
#if !defined(__SANITIZE_ADDRESS__)
    stack_t stack = {};
    stack.ss_sp = signal_stack.get();
    stack.ss_size = kSignalStackBytes;
    sigaltstack(&stack, nullptr);
#endif
    std::lock_guard lock(registry_mutex());
    registry().push_back(&slot);
  }
  ~Registered() {
#if !defined(__SANITIZE_ADDRESS__)
    stack_t none = {};
    none.ss_flags = SS_DISABLE;
    sigaltstack(&none, nullptr);
#endif
    std::lock_guard lock(registry_mutex());
    auto& slots = registry();
    slots.erase(std::remove(slots.begin(), slots.end(), &slot), slots.end());
  }
};

thread_local Slot* tls_slot = nullptr;  // what the signal handler reads: set before any call is marked

Slot& my_slot() {
  thread_local Registered mine;
  tls_slot = &mine.slot;
  return mine.slot;
}

// ---- the fatal signal's note: async-signal-safe, into a fixed buffer

char note_path[4096] = {};

struct Text {
  char data[2048];
  size_t size = 0;
  void raw(const char* s) {
    for (; *s && size + 1 < sizeof data; ++s) data[size++] = *s;
  }
  // A JSON string's content: quotes and backslashes escaped, control characters left out.
  void escaped(const char* s) {
    for (; *s && size + 2 < sizeof data; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c < 0x20) continue;
      if (c == '"' || c == '\\') data[size++] = '\\';
      data[size++] = static_cast<char>(c);
    }
  }
  void number(int64_t n) {
    char digits[24];
    size_t k = 0;
    const bool negative = n < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
    do {
      digits[k++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u && k < sizeof digits);
    if (negative && size + 1 < sizeof data) data[size++] = '-';
    while (k && size + 1 < sizeof data) data[size++] = digits[--k];
  }
  void field(const char* name, const char* value) {
    raw(",\"");
    raw(name);
    raw("\":\"");
    escaped(value);
    raw("\"");
  }
};

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void on_fatal_signal(int signal) {
  const Slot* slot = tls_slot;
  const bool in_call = slot && slot->since_ms.load(std::memory_order_relaxed) != 0;
  Text note;
  note.raw("{\"signal\":");
  note.number(signal);
  if (in_call) {
    note.field("plugin", slot->plugin);
    note.field("instance", slot->instance);
    note.field("entry", slot->entry);
    note.field("rule", slot->rule);
    note.field("step", slot->step);
    note.raw(",\"execution_id\":");
    note.number(slot->execution_id);
  }
  note.raw("}");
  Text line;
  // On a line of its own, whatever another thread was writing.
  line.raw("\n{\"level\":\"fatal\",\"component\":\"host\",\"msg\":\"");
  line.raw(in_call ? "the host is crashing in a plugin's call" : "the host is crashing");
  line.raw("\",\"crash\":");
  for (size_t i = 0; i < note.size && line.size + 3 < sizeof line.data; ++i) line.data[line.size++] = note.data[i];
  line.raw("}\n");
  write_all(STDERR_FILENO, line.data, line.size);
  if (note_path[0] != '\0') {
    const int fd = ::open(note_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      write_all(fd, note.data, note.size);
      ::close(fd);
    }
  }
  // Die of it, as without this handler (a core dump, the exit status): SA_RESETHAND made it the default again.
  std::raise(signal);
}

}  // namespace

Scope::Scope(std::string_view plugin, std::string_view instance, std::string_view entry, const CallSubject* subject,
             Kind kind) {
  Slot& slot = my_slot();
  outermost_ = slot.since_ms.load(std::memory_order_relaxed) == 0;
  if (!outermost_) return;
  std::lock_guard lock(slot.mutex);
  put(slot.plugin, plugin);
  put(slot.instance, instance);
  put(slot.entry, entry);
  put(slot.rule, subject ? std::string_view(subject->rule) : std::string_view());
  put(slot.step, subject ? std::string_view(subject->step) : std::string_view());
  slot.execution_id = subject ? subject->execution_id : 0;
  slot.may_take_its_time = kind == kMayTakeItsTime;
  slot.since_ms.store(std::max<int64_t>(steady_ms(), 1), std::memory_order_relaxed);
}

Scope::~Scope() {
  if (outermost_) tls_slot->since_ms.store(0, std::memory_order_relaxed);
}

std::vector<Call> longer_than(int64_t over_ms) {
  const int64_t now = steady_ms();
  std::vector<Call> out;
  std::lock_guard registered(registry_mutex());
  for (Slot* slot : registry()) {
    std::lock_guard lock(slot->mutex);
    const int64_t since = slot->since_ms.load(std::memory_order_relaxed);
    if (since == 0 || slot->may_take_its_time || now - since <= over_ms) continue;
    std::string identity = std::to_string(reinterpret_cast<uintptr_t>(slot)) + ":" + std::to_string(since);
    out.push_back({slot->plugin, slot->instance, slot->entry, slot->rule, slot->step, slot->execution_id, now - since,
                   std::move(identity)});
  }
  return out;
}

void note_crashes_in(const std::filesystem::path& note) {
  const std::string path = note.string();
  const size_t n = std::min(path.size(), sizeof note_path - 1);
  std::memcpy(note_path, path.data(), n);
  note_path[n] = '\0';
  struct sigaction action = {};
  action.sa_handler = on_fatal_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_ONSTACK;  // a thread without an alternate stack uses its own
  for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(signal, &action, nullptr);
}

std::optional<nlohmann::json> take_crash_note(const std::filesystem::path& note) {
  std::ifstream in(note);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  std::error_code ignored;
  std::filesystem::remove(note, ignored);
  nlohmann::json read = nlohmann::json::parse(text.str(), nullptr, false);
  if (!read.is_object()) read = nlohmann::json{{"unreadable", text.str().substr(0, 200)}};
  return read;
}

}  // namespace sb::invoke_watch
