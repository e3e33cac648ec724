// The one exception type the engine throws. Every failure caused by user input (a bad file, a wrong
// shape, an unsupported config) ends up here with a message that names the file and the tensor,
// so the Node binding can turn it into a JS Error. Nothing in the engine asserts or aborts on input.
#pragma once
#include <stdexcept>
#include <string>

namespace tunesmith {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace tunesmith
