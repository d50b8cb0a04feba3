#include "fray/detail/url_redaction.hpp"

#include <cctype>

namespace fray::detail {

namespace {

bool is_scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
}

// Where a URL inside free text stops: pip quotes URLs in its messages, and
// fray's command lines are shell-quoted.
bool ends_url_in_text(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>';
}

// "user:pass" -> "user:****"; a token alone (or a user alone: the token
// form cannot be told from it) -> "****", as pip shows them.
void append_hidden_userinfo(std::string& out, std::string_view userinfo) {
  const auto colon = userinfo.find(':');
  if (colon != std::string_view::npos) out.append(userinfo.substr(0, colon)).append(":");
  out += "****";
}

// The authority ("userinfo@host:port"), its userinfo hidden. The last '@'
// ends the userinfo: the host holds none, a password may.
void append_authority(std::string& out, std::string_view authority) {
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) {
    out += authority;
    return;
  }
  append_hidden_userinfo(out, authority.substr(0, at));
  out += authority.substr(at);
}

// Where the scheme before "://" at `separator` starts, or npos when what
// precedes it is not a scheme (RFC 3986: a letter, then letters, digits,
// '+', '-', '.').
std::size_t scheme_start(std::string_view text, std::size_t separator) {
  std::size_t start = separator;
  while (start > 0 && is_scheme_char(text[start - 1])) --start;
  while (start < separator && std::isalpha(static_cast<unsigned char>(text[start])) == 0) ++start;
  return start < separator ? start : std::string_view::npos;
}

bool is_path(std::string_view text) {
  return text.starts_with('/') || text.starts_with('.') || text.starts_with('~');
}

}  // namespace

std::string redact_url(std::string_view url) {
  if (url.empty() || is_path(url)) return std::string(url);
  std::size_t authority_start = 0;
  if (const auto separator = url.find("://"); separator != std::string_view::npos) {
    if (scheme_start(url, separator) != 0) return redact_text(url);  // not one URL: text holding some
    authority_start = separator + 3;
  }
  const auto authority_end = std::min(url.find('/', authority_start), url.size());
  std::string out(url.substr(0, authority_start));
  append_authority(out, url.substr(authority_start, authority_end - authority_start));
  out += url.substr(authority_end);
  return out;
}

std::string redact_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t separator = text.find("://"); separator != std::string_view::npos;
       separator = text.find("://", separator + 3)) {
    if (separator < copied || scheme_start(text, separator) == std::string_view::npos) continue;
    const std::size_t start = separator + 3;
    std::size_t end = start;
    while (end < text.size() && text[end] != '/' && !ends_url_in_text(text[end])) ++end;
    out += text.substr(copied, start - copied);
    append_authority(out, text.substr(start, end - start));
    copied = end;
  }
  out += text.substr(copied);
  return out;
}

std::vector<std::string> redact_texts(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  out.reserve(texts.size());
  for (const auto& text : texts) out.push_back(redact_text(text));
  return out;
}

}  // namespace fray::detail
