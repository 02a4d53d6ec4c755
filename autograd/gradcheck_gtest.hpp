// GoogleTest helpers for gradcheck (header-only: the library itself does not link GoogleTest).
//   EXPECT_GRADCHECK([&](const auto& in) { return my_layer.forward(in[0]); }, {x});
#pragma once

#include <gtest/gtest.h>

#include "tapegrad/autograd/gradcheck.hpp"

#define EXPECT_GRADCHECK(fn, ...)                                                          \
  do {                                                                                     \
    const ::tapegrad::GradcheckReport tg_report_ = ::tapegrad::gradcheck(fn, __VA_ARGS__); \
    EXPECT_TRUE(tg_report_.ok) << tg_report_.summary;                                      \
  } while (0)

#define ASSERT_GRADCHECK(fn, ...)                                                          \
  do {                                                                                     \
    const ::tapegrad::GradcheckReport tg_report_ = ::tapegrad::gradcheck(fn, __VA_ARGS__); \
    ASSERT_TRUE(tg_report_.ok) << tg_report_.summary;                                      \
  } while (0)
