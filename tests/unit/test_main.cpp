// The doctest entry point of the unit test binary; the tests themselves live
// in one test_<module>.cpp file per module.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
