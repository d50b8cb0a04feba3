// Logical resources a task asks for and a runtime has: cpu, gpu, memory and
// any named resource, fractional amounts allowed. As in Ray they are used for
// admission only; nothing pins a thread or a device.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fray {

class Resources {
 public:
  // Amounts are kept in fixed point (1/10000 of a unit, as Ray does) so that
  // 0.1 + 0.2 handed back ten times adds up exactly.
  static constexpr std::int64_t kScale = 10000;
  // The largest amount set() takes (its fixed point must fit an int64);
  // more, a negative one or a non-finite one is InvalidOptions.
  static constexpr double kMaxAmount = 9e14;

  Resources() = default;

  Resources& cpu(double amount) { return set("cpu", amount); }
  Resources& gpu(double amount) { return set("gpu", amount); }
  Resources& memory(double bytes) { return set("memory", bytes); }
  Resources& set(std::string_view name, double amount);

  double get(std::string_view name) const;
  bool empty() const { return entries_.empty(); }

  // True when every amount here is at most the matching amount in `other`.
  bool fits_in(const Resources& other) const;
  // Names of the resources this asks for beyond `other`, e.g. "gpu: 2 > 1".
  std::string shortfall(const Resources& other) const;
  void add(const Resources& other);
  void subtract(const Resources& other);
  std::string to_string() const;

  friend bool operator==(const Resources&, const Resources&) = default;

 private:
  std::int64_t fixed(std::string_view name) const;
  void set_fixed(std::string_view name, std::int64_t fixed);
  std::vector<std::pair<std::string, std::int64_t>> entries_;  // sorted by name
};

}  // namespace fray
