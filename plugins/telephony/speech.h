// A dry run's preview: the text rendered to a WAV with espeak-ng, so that an
// admin hears the message before any call is made.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "call.h"
#include "serial_worker.h"

namespace telephony {

// True when espeak-ng is on PATH.
bool can_render_speech();

// Renders `call`'s text (its language, speed and volume; repeats left out)
// into `file`; false with the reason when it could not.
bool render_speech(const Call& call, const std::filesystem::path& file, std::string& error);

// Renders one call at a time on a thread of its own (espeak-ng takes a
// moment: not on the host's thread) and hands each result on. Owned by the
// instance: its destructor finishes the render under way and tells the
// ones still queued that they were not rendered, before the host goes.
class SpeechRenderer {
 public:
  // `rendered(ok, error)` runs on the renderer's thread, exactly once per job.
  using Rendered = std::function<void(bool ok, const std::string& error)>;

  void render(Call call, std::filesystem::path file, Rendered rendered);

 private:
  switchboard_plugins::SerialWorker worker_;
};

}  // namespace telephony
