// The test executable's main: doctest's own, with its command line
// (e.g. --source-file=*stream_tests.cpp, --test-case="...").
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#if defined(__SANITIZE_THREAD__)
// A std::exception_ptr's reference count lives in libstdc++, which is not
// built with -fsanitize=thread: when a future's error crosses threads and the
// last reference goes on the producer's thread, TSan misses the
// synchronization and reports the exception's destructor as a race (a known
// false positive, e.g. arangodb/arangodb#21084). Only that is suppressed.
extern "C" const char* __tsan_default_suppressions() { return "race:__exception_ptr\n"; }
#endif
