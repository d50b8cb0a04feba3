// A randomized stress of the engine, for the sanitizers (TSan above all):
// trees of tasks that mix blocking gets (some with deadlines), coroutine
// awaits, nested resource requests and sleeps, while the driver cancels
// whole trees and shuts the runtime down at random points. Every future
// must end (no hang, no loss), every value must be right, every error must
// be one the engine may give, and no argument may outlive its task.
#include "test_support.hpp"

#include <memory>
#include <random>
#include <vector>

using namespace fray_test;
using fray::ContextKind;
using fray::Resources;
using fray::TaskOptions;

namespace {

// Counts the instances alive: arguments that outlive their task show here.
struct Payload {
  static inline std::atomic<int> alive{0};
  Payload() { alive.fetch_add(1); }
  Payload(const Payload&) { alive.fetch_add(1); }
  Payload(Payload&&) noexcept { alive.fetch_add(1); }
  ~Payload() { alive.fetch_sub(1); }
};

enum class Kind { leaf, plain_get, plain_get_deadline, coroutine_await, coroutine_sleep };

// The plan of one tree, drawn before anything runs, so each node's value
// (the size of its subtree) is known.
struct Plan {
  Kind kind = Kind::leaf;
  bool wants_cpu = false;
  std::vector<std::shared_ptr<const Plan>> children;
  int size = 1;
};

std::shared_ptr<const Plan> draw(std::mt19937& rng, int depth) {
  auto plan = std::make_shared<Plan>();
  std::uniform_int_distribution<int> kind(0, 4);
  plan->kind = depth == 0 ? Kind::leaf : static_cast<Kind>(kind(rng));
  plan->wants_cpu = std::uniform_int_distribution<int>(0, 3)(rng) == 0;
  if (plan->kind != Kind::leaf) {
    const int fanout = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int i = 0; i < fanout; ++i) {
      plan->children.push_back(draw(rng, depth - 1));
      plan->size += plan->children.back()->size;
    }
  }
  return plan;
}

TaskOptions options_of(const Plan& plan) {
  TaskOptions options;
  if (plan.wants_cpu) options.with_resources(Resources{}.cpu(1));
  return options;
}

fray::Future<int> start(const std::shared_ptr<const Plan>& plan);

int run_plain(std::shared_ptr<const Plan> plan, Payload) {
  std::vector<fray::Future<int>> children;
  for (const auto& child : plan->children) children.push_back(start(child));
  int total = 1;
  for (auto& child : children) {
    total += plan->kind == Kind::plain_get_deadline ? child.get(std::chrono::milliseconds(2)) : child.get();
  }
  return total;
}

fray::Task<int> run_coroutine(std::shared_ptr<const Plan> plan, Payload) {
  if (plan->kind == Kind::coroutine_sleep) co_await fray::current_context().sleep(std::chrono::microseconds(200));
  std::vector<fray::Future<int>> children;
  for (const auto& child : plan->children) children.push_back(start(child));
  int total = 1;
  for (int value : co_await fray::when_all(std::move(children))) total += value;
  co_return total;
}

fray::Future<int> start(const std::shared_ptr<const Plan>& plan) {
  switch (plan->kind) {
    case Kind::leaf:
      return fray::run(options_of(*plan), [](Payload) { return 1; }, Payload{});
    case Kind::plain_get:
    case Kind::plain_get_deadline:
      return fray::run(options_of(*plan), run_plain, plan, Payload{});
    case Kind::coroutine_await:
    case Kind::coroutine_sleep:
      return fray::run(options_of(*plan), run_coroutine, plan, Payload{});
  }
  return {};
}

// An error the engine may give here: a cancel (of the tree or by the
// shutdown) or a deadline that passed.
bool expected_error(fray::Future<int>& future) {
  try {
    future.get();
  } catch (const fray::TaskCancelled&) {
    return true;
  } catch (const fray::GetTimeout&) {
    return true;
  } catch (...) {
    return false;
  }
  return false;
}

}  // namespace

TEST_CASE("stress: random trees of blocking gets, awaits, resources, cancels and shutdowns always end correctly") {
  Watchdog watchdog("the engine stress test", std::chrono::seconds(240));
  constexpr int kIterations = 24;
  int completed = 0;
  int failed = 0;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    CAPTURE(iteration);
    std::mt19937 rng(static_cast<std::mt19937::result_type>(iteration));
    const ContextKind kind = iteration % 4 == 3 ? ContextKind::sync : ContextKind::threads;
    std::vector<std::shared_ptr<const Plan>> plans;
    std::vector<fray::Future<int>> roots;
    {
      fray::Runtime runtime(options_for(kind).with_capacity(Resources{}.cpu(2)));
      auto& ctx = runtime.context();
      const int tree_count = kind == ContextKind::sync ? 6 : 24;
      for (int i = 0; i < tree_count; ++i) {
        plans.push_back(draw(rng, std::uniform_int_distribution<int>(1, 3)(rng)));
        roots.push_back(ctx.run([](std::shared_ptr<const Plan> plan) { return start(plan).get(); }, plans.back()));
      }
      // Cancel some trees, wait for a few, and leave the rest to the shutdown.
      for (std::size_t i = 0; i < roots.size(); ++i) {
        switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
          case 0: roots[i].cancel(); break;
          case 1:
            try {
              (void)roots[i].get(std::chrono::milliseconds(20));
            } catch (const std::exception&) {
              // Not ready yet, or failed: checked below.
            }
            break;
          default: break;
        }
      }
      if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
        ctx.wait(roots, roots.size() / 2, std::chrono::milliseconds(50));
      }
    }  // the shutdown, wherever the trees are
    for (std::size_t i = 0; i < roots.size(); ++i) {
      CAPTURE(i);
      REQUIRE(roots[i].ready());
      if (!roots[i].has_error()) {
        CHECK(roots[i].get() == plans[i]->size);
        ++completed;
      } else {
        CHECK(expected_error(roots[i]));
        ++failed;
      }
    }
  }
  CHECK(Payload::alive.load() == 0);
  // The mix must really run trees to the end, and really cut some short.
  MESSAGE("trees completed: " << completed << ", ended early: " << failed);
  CHECK(completed > 0);
  CHECK(failed > 0);
}
