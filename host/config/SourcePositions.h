// Where, in a config file's text, the value a JSON Pointer names begins: an
// error about "/rules/3/steps/1/params/to" can then say "line 41, column 17"
// as well, which an admin finds in any editor.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

struct ConfigIssue;

struct TextPosition {
  size_t line = 0;    // from 1
  size_t column = 0;  // from 1, in characters
};

// The line and column of the value at `pointer` in `text` (a JSON document
// that parses), or of its nearest ancestor the text has (a missing member is
// reported at the object that lacks it). The text is read only as far as
// that value; nothing when what is read is not JSON (or nests deeper than
// 256 levels).
std::optional<TextPosition> position_of(std::string_view text, const std::string& pointer);

// Gives each issue the line and column of its pointer in its file (each
// file read once); an issue whose file cannot be read keeps none. Never
// throws (it runs while an error is built).
void locate(std::vector<ConfigIssue>& issues) noexcept;

}  // namespace sb
