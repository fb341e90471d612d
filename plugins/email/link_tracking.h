// Puts tracked links into an HTML body: every http(s) href of an <a> goes
// through the host's click redirect, and a 1x1 image before </body> reports
// the open. Links the mapper declines stay as they are.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace email {

using LinkMapper = std::function<std::optional<std::string>(const std::string& url)>;

std::string track_links(std::string_view html, const LinkMapper& click, const std::optional<std::string>& pixel_url);

// The HTML character reference at `at` of `html` (&amp;, &lt;, &#39;,
// &#x27; ...) appended to `out` as UTF-8 (&nbsp; as a plain space when
// `nbsp_as_space`); returns how many characters it took, 0 when none is there.
size_t html_entity(std::string_view html, size_t at, std::string& out, bool nbsp_as_space);
// The HTML attribute value with &amp; and friends decoded (an href as written in markup).
std::string attribute_text(std::string_view value);
// Escaped for a double-quoted HTML attribute.
std::string attribute_escape(std::string_view value);

}  // namespace email
