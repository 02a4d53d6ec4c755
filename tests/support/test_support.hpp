// Helpers for the test suites.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tapegrad/autograd/gradcheck_gtest.hpp"
#include "tapegrad/tapegrad.hpp"

namespace tapegrad::testing {

/// Path of a committed fixture: tests/fixtures/<name>.
std::string fixture(const std::string& name);

}  // namespace tapegrad::testing
