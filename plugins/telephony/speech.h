// A dry run's preview: the text rendered to a WAV with espeak-ng, so that an
// admin hears the message before any call is made.
#pragma once

#include <filesystem>
#include <string>

#include "call.h"

namespace telephony {

// True when espeak-ng is on PATH.
bool can_render_speech();

// Renders `call`'s text (its language, speed and volume; repeats left out)
// into `file`; false with the reason when it could not.
bool render_speech(const Call& call, const std::filesystem::path& file, std::string& error);

}  // namespace telephony
