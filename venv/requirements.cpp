#include "fray/detail/requirements.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "fray/detail/fs_util.hpp"
#include "fray/venv_errors.hpp"

namespace fray::detail {

namespace fs = std::filesystem;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_name_char(char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

bool has_scheme(std::string_view text) {
  const auto colon = text.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  return std::all_of(text.begin(), text.begin() + long(colon),
                     [](char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; });
}

constexpr std::array<std::string_view, 6> kArchiveSuffixes = {".whl", ".tar.gz", ".zip", ".tgz", ".tar.bz2", ".tar"};

bool looks_like_path(std::string_view text) {
  if (text.find('/') != std::string_view::npos || text.starts_with(".") || text.starts_with("~")) return true;
  return std::any_of(kArchiveSuffixes.begin(), kArchiveSuffixes.end(),
                     [text](std::string_view suffix) { return text.ends_with(suffix); });
}

[[noreturn]] void invalid(std::string_view requirement, const std::string& reason) {
  throw InvalidRequirement(std::string(requirement), reason);
}

// A cursor over one requirement, for the PEP 508 grammar.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }
  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  bool eat(std::string_view token) {
    if (text_.substr(pos_).starts_with(token)) {
      pos_ += token.size();
      return true;
    }
    return false;
  }
  std::string_view take_while(bool (*pred)(char)) {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && pred(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  char next() { return text_[pos_++]; }
  std::string_view rest() const { return text_.substr(std::min(pos_, text_.size())); }
  std::size_t pos() const { return pos_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string_view take_name(Scanner& s, std::string_view requirement, std::string_view what) {
  std::string_view name = s.take_while(is_name_char);
  if (name.empty() || !is_alnum(name.front()) || !is_alnum(name.back())) {
    invalid(requirement, fmt::format("expected a {} (letters, digits, '-', '_', '.'; starting and ending with a letter or digit)", what));
  }
  return name;
}

// A version after an operator: digits, letters, ".", "*", "+", "!", "-", "_".
bool is_version_char(char c) { return is_alnum(c) || c == '.' || c == '*' || c == '+' || c == '!' || c == '-' || c == '_'; }
bool is_arbitrary_char(char c) { return c != ',' && c != ';' && c != ')' && !is_space(c) && c != '\0'; }

std::string parse_specifiers(Scanner& s, std::string_view requirement) {
  static constexpr std::array<std::string_view, 8> kOperators = {"===", "~=", "==", "!=", "<=", ">=", "<", ">"};
  std::string canonical;
  for (;;) {
    s.skip_space();
    std::string_view op;
    for (std::string_view candidate : kOperators) {
      if (s.eat(candidate)) {
        op = candidate;
        break;
      }
    }
    if (op.empty()) invalid(requirement, "expected a version operator (==, !=, <=, >=, <, >, ~=, ===)");
    s.skip_space();
    const std::string_view version = s.take_while(op == "===" ? is_arbitrary_char : is_version_char);
    if (version.empty()) invalid(requirement, fmt::format("'{}' needs a version after it", op));
    if (op != "===") {
      const auto star = version.find('*');
      if (star != std::string_view::npos && (star != version.size() - 1 || !version.ends_with(".*") || (op != "==" && op != "!="))) {
        invalid(requirement, fmt::format("'{}{}': a wildcard is only allowed as a trailing '.*' after == or !=", op, version));
      }
      if (!is_alnum(version.front())) invalid(requirement, fmt::format("'{}' is not a version", version));
    }
    if (!canonical.empty()) canonical += ",";
    canonical += op;
    canonical += version;
    s.skip_space();
    if (!s.eat(",")) return canonical;
  }
}

// Environment markers (PEP 508): value op value, joined by and/or, in parentheses.
class MarkerParser {
 public:
  MarkerParser(std::string_view marker, std::string_view requirement) : s_(marker), requirement_(requirement) {}

  std::string parse() {
    std::string canonical = expression();
    s_.skip_space();
    if (!s_.done()) fail(fmt::format("unexpected '{}'", s_.rest()));
    return canonical;
  }

 private:
  [[noreturn]] void fail(const std::string& why) { invalid(requirement_, "bad environment marker: " + why); }

  std::string expression() {
    std::string canonical = term();
    for (;;) {
      s_.skip_space();
      if (keyword("and")) {
        canonical += " and " + term();
      } else if (keyword("or")) {
        canonical += " or " + term();
      } else {
        return canonical;
      }
    }
  }

  std::string term() {
    s_.skip_space();
    if (s_.eat("(")) {
      std::string inner = expression();
      s_.skip_space();
      if (!s_.eat(")")) fail("missing ')'");
      return "(" + inner + ")";
    }
    std::string left = value();
    s_.skip_space();
    std::string op = comparison();
    std::string right = value();
    return left + " " + op + " " + right;
  }

  bool keyword(std::string_view word) {
    const std::string_view rest = s_.rest();
    if (!rest.starts_with(word)) return false;
    if (rest.size() > word.size() && (is_alnum(rest[word.size()]) || rest[word.size()] == '_')) return false;
    s_.eat(word);
    return true;
  }

  std::string comparison() {
    static constexpr std::array<std::string_view, 7> kOperators = {"===", "~=", "==", "!=", "<=", ">=", "<"};
    for (std::string_view op : kOperators) {
      if (s_.eat(op)) return std::string(op);
    }
    if (s_.eat(">")) return ">";
    if (keyword("in")) return "in";
    if (keyword("not")) {
      s_.skip_space();
      if (keyword("in")) return "not in";
    }
    fail("expected a comparison (==, !=, <, >, <=, >=, ~=, ===, in, not in)");
  }

  std::string value() {
    static constexpr std::array<std::string_view, 18> kVariables = {
        "python_version", "python_full_version", "os_name", "sys_platform", "platform_release", "platform_system",
        "platform_version", "platform_machine", "platform_python_implementation", "implementation_name",
        "implementation_version", "extra", "os.name", "sys.platform", "platform.version", "platform.machine",
        "platform.python_implementation", "python_implementation"};
    s_.skip_space();
    const char quote = s_.peek();
    if (quote == '"' || quote == '\'') {
      s_.next();
      std::string text;
      while (!s_.done() && s_.peek() != quote) text += s_.next();
      if (s_.done()) fail("unterminated string");
      s_.next();
      return "\"" + text + "\"";
    }
    const std::string_view name = s_.take_while([](char c) { return is_alnum(c) || c == '_' || c == '.'; });
    if (std::find(kVariables.begin(), kVariables.end(), name) == kVariables.end()) {
      fail(name.empty() ? "expected a marker variable or a quoted string" : fmt::format("unknown marker variable '{}'", name));
    }
    return std::string(name);
  }

  Scanner s_;
  std::string_view requirement_;
};

std::string canonical_marker(std::string_view marker, std::string_view requirement) {
  marker = trim(marker);
  if (marker.empty()) invalid(requirement, "';' must be followed by an environment marker");
  return MarkerParser(marker, requirement).parse();
}

std::string canonical_named(std::string_view requirement) {
  Scanner s(requirement);
  std::string canonical = normalize_name(take_name(s, requirement, "package name"));
  s.skip_space();
  if (s.eat("[")) {
    std::vector<std::string> extras;
    s.skip_space();
    if (!s.eat("]")) {
      for (;;) {
        s.skip_space();
        extras.push_back(normalize_name(take_name(s, requirement, "extra name")));
        s.skip_space();
        if (s.eat("]")) break;
        if (!s.eat(",")) invalid(requirement, "expected ',' or ']' in the extras");
      }
    }
    std::sort(extras.begin(), extras.end());
    extras.erase(std::unique(extras.begin(), extras.end()), extras.end());
    canonical += fmt::format("[{}]", fmt::join(extras, ","));
    s.skip_space();
  }
  if (s.eat("@")) {
    s.skip_space();
    const std::string_view url = s.take_while([](char c) { return !is_space(c); });
    if (!has_scheme(url)) invalid(requirement, "expected a URL (scheme://...) after '@'");
    canonical += " @ " + std::string(url);
    s.skip_space();
    if (s.eat(";")) {
      canonical += " ; " + canonical_marker(s.rest(), requirement);
      return canonical;
    }
    if (!s.done()) invalid(requirement, fmt::format("unexpected '{}' after the URL", s.rest()));
    return canonical;
  }
  if (s.peek() == '(') {
    s.eat("(");
    canonical += parse_specifiers(s, requirement);
    s.skip_space();
    if (!s.eat(")")) invalid(requirement, "missing ')' after the version specifiers");
  } else if (!s.done() && s.peek() != ';') {
    canonical += parse_specifiers(s, requirement);
  }
  s.skip_space();
  if (s.eat(";")) {
    canonical += "; " + canonical_marker(s.rest(), requirement);
    return canonical;
  }
  if (!s.done()) invalid(requirement, fmt::format("unexpected '{}'", s.rest()));
  return canonical;
}

// A requirements file's line, with continuations joined and the comment gone.
std::vector<std::string> logical_lines(const std::string& content) {
  std::vector<std::string> lines;
  std::string current;
  std::size_t start = 0;
  while (start <= content.size()) {
    std::size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // A comment starts with '#' at the line's start or after whitespace.
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || is_space(line[i - 1]))) {
        line.resize(i);
        break;
      }
    }
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      current += line;
    } else {
      current += line;
      lines.push_back(std::move(current));
      current.clear();
    }
    start = end + 1;
  }
  if (!current.empty()) lines.push_back(std::move(current));
  return lines;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

void read_file_into(const fs::path& file, Requirements& into, bool constraints, int depth) {
  if (depth > 16) throw InvalidRequirement(file.string(), "requirements files include each other too deeply (a cycle?)");
  const auto content = read_file(file);
  std::error_code ec;
  if (!content || fs::is_directory(file, ec)) {
    throw RequirementsFileNotFound(fmt::format("cannot read the requirements file {}", file.string()));
  }
  const fs::path dir = file.parent_path();
  auto relative_to_file = [&dir](const std::string& value) {
    if (has_scheme(value) || fs::path(value).is_absolute()) return value;
    return (dir / value).lexically_normal().string();
  };
  for (const std::string& raw : logical_lines(*content)) {
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    if (line.front() != '-') {
      // A requirement, perhaps with --hash options after it.
      std::string_view requirement = line;
      std::vector<std::string> hashes;
      if (const auto option = line.find(" --"); option != std::string_view::npos) {
        requirement = trim(line.substr(0, option));
        std::vector<std::string> words = split_words(line.substr(option));
        for (std::size_t i = 0; i < words.size(); ++i) {
          if (words[i].starts_with("--hash=")) {
            hashes.push_back(words[i]);
          } else if (words[i] == "--hash" && i + 1 < words.size()) {
            hashes.push_back("--hash=" + words[++i]);
          } else {
            invalid(line, fmt::format("unsupported per-requirement option '{}' (only --hash is)", words[i]));
          }
        }
        std::sort(hashes.begin(), hashes.end());
      }
      std::string canonical = canonical_requirement(requirement, into.local_files);
      for (const auto& hash : hashes) canonical += " " + hash;
      (constraints ? into.constraints : into.requirements).push_back(std::move(canonical));
      if (!constraints) into.as_given.emplace_back(requirement);
      continue;
    }
    std::vector<std::string> words = split_words(line);
    std::string option = words.front();
    std::string value;
    if (const auto equals = option.find('='); option.starts_with("--") && equals != std::string::npos) {
      value = option.substr(equals + 1);
      option.resize(equals);
    } else if (option.size() > 2 && option[1] != '-') {
      value = option.substr(2);  // -rfile, -ifile
      option.resize(2);
    } else if (words.size() > 1) {
      value = words[1];
    }
    auto need_value = [&] {
      if (value.empty()) invalid(line, fmt::format("{} needs a value", option));
    };
    if (option == "-r" || option == "--requirement" || option == "-c" || option == "--constraint") {
      need_value();
      read_file_into(fs::path(relative_to_file(value)), into, constraints || option == "-c" || option == "--constraint", depth + 1);
    } else if (option == "-i" || option == "--index-url") {
      need_value();
      if (!into.index_url) into.index_url = value;
    } else if (option == "--extra-index-url") {
      need_value();
      into.extra_index_urls.push_back(value);
    } else if (option == "-f" || option == "--find-links") {
      need_value();
      into.find_links.push_back(relative_to_file(value));
    } else if (option == "--no-index") {
      into.no_index = true;
    } else if (option == "--pre" || option == "--prefer-binary") {
      into.option_lines.push_back(option);
    } else if (option == "--trusted-host" || option == "--only-binary" || option == "--no-binary") {
      need_value();
      into.option_lines.push_back(option + " " + value);
    } else if (option == "-e" || option == "--editable") {
      invalid(line, "editable installs are not supported in an isolated env: build a wheel and install that");
    } else {
      invalid(line, fmt::format("'{}' is not supported in a requirements file here", option));
    }
  }
}

}  // namespace

void Requirements::canonicalize() {
  auto sort_unique = [](auto& items) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
  };
  sort_unique(requirements);
  sort_unique(constraints);
  sort_unique(option_lines);
  sort_unique(local_files);
}

std::string normalize_name(std::string_view name) {
  std::string normalized;
  bool in_separator = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      in_separator = true;
      continue;
    }
    if (in_separator && !normalized.empty()) normalized += '-';
    in_separator = false;
    normalized += char(std::tolower(static_cast<unsigned char>(c)));
  }
  return normalized;
}

std::string canonical_requirement(std::string_view text, std::vector<fs::path>& local_files) {
  const std::string_view requirement = trim(text);
  if (requirement.empty()) invalid(text, "empty requirement");
  if (requirement.find('\n') != std::string_view::npos || requirement.find('\0') != std::string_view::npos) {
    invalid(requirement, "a requirement is one line");
  }
  if (requirement.front() == '-') {
    invalid(requirement, "options are not requirements (use VenvOptions fields, or a requirements file)");
  }
  if (has_scheme(requirement)) {
    if (requirement.find_first_of(" \t") != std::string_view::npos) invalid(requirement, "a URL holds no spaces");
    return std::string(requirement);
  }
  if (looks_like_path(requirement) && requirement.find('@') == std::string_view::npos &&
      requirement.find(';') == std::string_view::npos) {
    std::error_code ec;
    const fs::path path = fs::absolute(fs::path(requirement), ec).lexically_normal();
    if (fs::is_directory(path, ec)) {
      invalid(requirement, "local directories are not supported: build a wheel (pip wheel DIR) and name that");
    }
    if (!fs::is_regular_file(path, ec)) invalid(requirement, "no such file (a local requirement is a wheel or an sdist)");
    local_files.push_back(path);
    return path.string();
  }
  return canonical_named(requirement);
}

void read_requirements_file(const fs::path& file, Requirements& into) {
  std::error_code ec;
  read_file_into(fs::absolute(file, ec).lexically_normal(), into, false, 0);
}

}  // namespace fray::detail
