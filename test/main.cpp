// The test executable's main: doctest's own, with its command line
// (e.g. --source-file=*stream_tests.cpp, --test-case="...").
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
