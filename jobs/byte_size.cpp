#include "fray/byte_size.hpp"

#include <charconv>
#include <cctype>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

namespace fray {

namespace {

// The number of bytes `text` says, unbounded; nullopt when it is not a size.
std::optional<double> scaled_bytes(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  if (digits == 0) return std::nullopt;
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + digits, number);
  if (error != std::errc() || end != text.data() + digits || !std::isfinite(number) || number < 0) return std::nullopt;
  std::string unit;
  for (char c : text.substr(digits)) unit += char(std::toupper(static_cast<unsigned char>(c)));
  double scale = 1;
  if (!unit.empty() && unit != "B") {
    static constexpr std::string_view units = "KMGTPE";
    const auto power = units.find(unit.front());
    const std::string_view tail = std::string_view(unit).substr(1);
    if (power == std::string_view::npos || !(tail.empty() || tail == "B" || tail == "IB")) return std::nullopt;
    scale = std::pow(1024.0, double(power + 1));
  }
  return number * scale;
}

}  // namespace

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  const auto bytes = scaled_bytes(text);
  // 2^63 is exactly representable in a double.
  if (!bytes || !(*bytes <= double(max_byte_size))) return std::nullopt;
  return static_cast<std::uint64_t>(*bytes);
}

bool byte_size_too_large(std::string_view text) {
  const auto bytes = scaled_bytes(text);
  return bytes && !(*bytes <= double(max_byte_size));
}

std::string format_byte_size(std::uint64_t bytes) {
  static constexpr std::string_view units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = double(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace fray
