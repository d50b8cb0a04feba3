// Hiding the credentials in URLs before fray writes or prints them (the
// build log, fray-env.json, error messages, progress, listings, job files),
// the way pip shows them: "https://user:****@host/simple", and a bare token
// "https://****@host/simple". What pip or uv is given stays whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fray::detail {

// One URL (or a path, left as it is). The userinfo is what comes before the
// last '@' of the authority, which ends at the first '/' after "scheme://"
// (or after the start, for a URL without a scheme): a password holding '@',
// ':', '?' or '#' is hidden whole, a revision after the path ("repo.git@v1")
// is kept. A '/' in a password must be percent-encoded (%2F), as in any URL
// pip or uv would read. Paths (starting with '/', '.' or '~') are never touched.
std::string redact_url(std::string_view url);

// Free text (a line of pip's output, an error message, a requirement such as
// "pkg @ https://token@host/pkg.whl"): every "scheme://userinfo@" in it,
// where the URL ends at whitespace or a quote.
std::string redact_text(std::string_view text);

// redact_text of each.
std::vector<std::string> redact_texts(const std::vector<std::string>& texts);

}  // namespace fray::detail
