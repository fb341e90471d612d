// A web address as an HTTP Location carries it (RFC 9110 10.2.2, RFC 3986):
// its host in ASCII (IDNA 2008), every other byte beyond ASCII, control
// characters and spaces percent-encoded:
// "https://школа.рф/путь" -> "https://xn--80atdl2c.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C".
#pragma once

#include <string>

namespace sb {

std::string ascii_url(const std::string& url);

}  // namespace sb
