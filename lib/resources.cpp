#include "fray/resources.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "fray/errors.hpp"

namespace fray {

namespace {
double to_units(std::int64_t fixed) { return static_cast<double>(fixed) / Resources::kScale; }
}  // namespace

Resources& Resources::set(std::string_view name, double amount) {
  if (name.empty()) throw InvalidOptions("a resource needs a name");
  if (!(amount >= 0) || !std::isfinite(amount)) {
    throw InvalidOptions(fmt::format("resource '{}' must be a finite amount >= 0, got {}", name, amount));
  }
  // Past this the fixed-point amount overflows its int64: it came out
  // negative, fitted every capacity and broke the admission's accounting.
  if (amount > kMaxAmount) throw InvalidOptions(fmt::format("resource '{}' must be at most {}, got {}", name, kMaxAmount, amount));
  set_fixed(name, static_cast<std::int64_t>(std::llround(amount * kScale)));
  return *this;
}

void Resources::set_fixed(std::string_view name, std::int64_t fixed) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& entry, std::string_view key) { return entry.first < key; });
  if (it != entries_.end() && it->first == name) {
    if (fixed == 0) {
      entries_.erase(it);
    } else {
      it->second = fixed;
    }
  } else if (fixed != 0) {
    entries_.emplace(it, std::string(name), fixed);
  }
}

std::int64_t Resources::fixed(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& entry, std::string_view key) { return entry.first < key; });
  return (it != entries_.end() && it->first == name) ? it->second : 0;
}

double Resources::get(std::string_view name) const { return to_units(fixed(name)); }

bool Resources::fits_in(const Resources& other) const {
  return std::all_of(entries_.begin(), entries_.end(),
                     [&](const auto& entry) { return entry.second <= other.fixed(entry.first); });
}

std::string Resources::shortfall(const Resources& other) const {
  std::string out;
  for (const auto& [name, amount] : entries_) {
    const std::int64_t have = other.fixed(name);
    if (amount <= have) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{}: {} > {}", name, to_units(amount), to_units(have));
  }
  return out;
}

void Resources::add(const Resources& other) {
  for (const auto& [name, amount] : other.entries_) set_fixed(name, fixed(name) + amount);
}

void Resources::subtract(const Resources& other) {
  for (const auto& [name, amount] : other.entries_) {
    set_fixed(name, std::max<std::int64_t>(fixed(name) - amount, 0));
  }
}

std::string Resources::to_string() const {
  if (entries_.empty()) return "{}";
  std::string out = "{";
  for (const auto& [name, amount] : entries_) {
    if (out.size() > 1) out += ", ";
    out += fmt::format("{}: {}", name, to_units(amount));
  }
  return out + "}";
}

}  // namespace fray
