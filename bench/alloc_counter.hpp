// Counts heap allocations made through operator new in the benchmark programs, to show that a
// training step allocates nothing once warm.
#pragma once

#include <cstdint>

namespace bench {
std::uint64_t heap_allocations();
}
