#include "speech.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

extern char** environ;

namespace telephony {

namespace {
constexpr char kProgram[] = "espeak-ng";
constexpr int kNormalWordsPerMinute = 175;  // espeak-ng's default rate
}  // namespace

bool can_render_speech() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const size_t end = std::min(dirs.find(':'), dirs.size());
    const std::filesystem::path candidate = std::filesystem::path(std::string(dirs.substr(0, end))) / kProgram;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    dirs.remove_prefix(std::min(end + 1, dirs.size()));
  }
  return false;
}

bool render_speech(const Call& call, const std::filesystem::path& file, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  // espeak-ng's voices are languages: "ru-RU" is "ru".
  const std::string voice = call.language.empty() ? "en" : call.language.substr(0, call.language.find('-'));
  const int words_per_minute = std::clamp(kNormalWordsPerMinute * call.speed / 100, 80, 450);
  const int amplitude = std::clamp(static_cast<int>(std::lround(100 * std::pow(10.0, call.volume_db / 20.0))), 0, 200);
  std::vector<std::string> args = {
      kProgram, "-v",          voice, "-s",     std::to_string(words_per_minute), "-a", std::to_string(amplitude),
      "-w",     file.string(), "--",  call.text};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, kProgram, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    error = std::string("cannot run espeak-ng: ") + std::strerror(spawned);
    return false;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error = "espeak-ng failed (exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
    return false;
  }
  return true;
}

}  // namespace telephony

namespace telephony {

void SpeechRenderer::render(Call call, std::filesystem::path file, Rendered rendered) {
  worker_.post([call = std::move(call), file = std::move(file), rendered = std::move(rendered)](bool stopping) {
    if (stopping) return rendered(false, "the instance stopped before it was rendered");
    std::string error;
    const bool ok = render_speech(call, file, error);
    rendered(ok, error);
  });
}

}  // namespace telephony
