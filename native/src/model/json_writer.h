// Serialises a JsonValue back to text (for config.json rewrites and adapter_config.json). Object
// members keep their order; integers print exactly; other numbers print with the fewest digits
// that read back to the same double (like Python's repr), so 1e-05 stays 1e-05.
#pragma once
#include <string>

#include "model/json.h"

namespace tunesmith {

// indent > 0: pretty-printed with that many spaces per level (as json.dumps(indent=2)).
std::string json_serialize(const JsonValue& value, int indent = 2);

}  // namespace tunesmith
