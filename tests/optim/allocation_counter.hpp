// Counts heap allocations through operator new, for tests that a training step allocates nothing.
// allocation_counter.cpp replaces the global operator new / delete of the test_optim program
// (plain malloc / free, counted only between start and stop).
#pragma once

namespace optim_test {

/// Resets the count and starts counting.
void start_counting_allocations();
/// Stops counting; returns the number of operator new calls since start.
long stop_counting_allocations();

}  // namespace optim_test
