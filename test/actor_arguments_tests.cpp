// Actor calls resolve futures among their arguments first, as run() does:
// the method receives the value (Ray resolves refs passed to actor methods).
#include "test_support.hpp"

using namespace fray_test;
using fray::ContextKind;

namespace {

struct Counter {
  int add(int n) { return value += n; }
  int value = 100;
};

}  // namespace

TEST_CASE("an actor call whose argument is a future receives the future's value") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("an actor call with a future argument (") + name_of(kind) + ")",
                      std::chrono::seconds(20));
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto counter = ctx.create_actor<Counter>();
    fray::Future<int> ten = ctx.run([] { return 10; });
    CHECK(counter.call(&Counter::add, ten).get() == 110);
  });
}

TEST_CASE("an actor call waits for its future argument before the method runs") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("an actor call with a promise's future as argument (") + name_of(kind) + ")",
                      std::chrono::seconds(20));
    fray::Runtime runtime(options_for(kind));
    auto counter = runtime.context().create_actor<Counter>();
    fray::Promise<int> later;
    auto sum = counter.call(&Counter::add, later.future());
    later.set_value(5);
    CHECK(sum.get() == 105);
  });
}
