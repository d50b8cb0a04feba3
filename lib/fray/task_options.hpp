// Per-task options, following Ray's @ray.remote options.
#pragma once

#include <exception>
#include <functional>
#include <string>

#include "fray/resources.hpp"

namespace fray {

struct TaskOptions {
  // Shown in errors and logs.
  std::string name;
  // How many times to run the task again after it throws. Cancellation and
  // unschedulable requests are never retried.
  int max_retries = 0;
  // Opt-in filter: only exceptions for which this returns true are retried.
  // Empty means every exception is retried (up to max_retries).
  std::function<bool(const std::exception_ptr&)> retry_if;
  // What the task holds while it runs; empty asks for nothing.
  Resources resources;

  TaskOptions& with_name(std::string value) { name = std::move(value); return *this; }
  TaskOptions& with_max_retries(int value) { max_retries = value; return *this; }
  TaskOptions& with_retry_if(std::function<bool(const std::exception_ptr&)> value) {
    retry_if = std::move(value);
    return *this;
  }
  TaskOptions& with_resources(Resources value) { resources = std::move(value); return *this; }

  // Retries on exceptions of type E (or derived) only.
  template <class E>
  static std::function<bool(const std::exception_ptr&)> retry_on() {
    return [](const std::exception_ptr& error) {
      try {
        std::rethrow_exception(error);
      } catch (const E&) {
        return true;
      } catch (...) {
        return false;
      }
    };
  }
};

}  // namespace fray
