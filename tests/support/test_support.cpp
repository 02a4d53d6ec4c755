#include "support/test_support.hpp"

namespace tapegrad::testing {

std::string fixture(const std::string& name) {
  return std::string(TAPEGRAD_FIXTURE_DIR) + "/" + name;
}

}  // namespace tapegrad::testing
