#include "model/json_writer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace tunesmith {
namespace {

std::string number_text(const JsonValue& v) {
  if (v.is_integer()) return std::to_string(v.as_int());
  const double d = v.as_number();
  if (std::isnan(d)) return "NaN";  // what Python's json module writes
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  // Keep it a float in the reader's eyes ("10000.0", not "10000") when it has no '.', 'e' or 'n'.
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

void write(const JsonValue& v, int indent, int depth, std::string& out) {
  const std::string pad = indent > 0 ? "\n" + std::string(size_t(indent * (depth + 1)), ' ') : "";
  const std::string close_pad = indent > 0 ? "\n" + std::string(size_t(indent * depth), ' ') : "";
  switch (v.kind()) {
    case JsonValue::Kind::Null: out += "null"; return;
    case JsonValue::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case JsonValue::Kind::Number: out += number_text(v); return;
    case JsonValue::Kind::String: out += json_quote(v.as_string()); return;
    case JsonValue::Kind::Array: {
      const auto& items = v.as_array();
      if (items.empty()) { out += "[]"; return; }
      out += "[";
      for (size_t i = 0; i < items.size(); ++i) {
        out += (i ? "," : "") + pad;
        write(items[i], indent, depth + 1, out);
      }
      out += close_pad + "]";
      return;
    }
    case JsonValue::Kind::Object: {
      const auto& members = v.as_object();
      if (members.empty()) { out += "{}"; return; }
      out += "{";
      for (size_t i = 0; i < members.size(); ++i) {
        out += (i ? "," : "") + pad + json_quote(members[i].first) + (indent > 0 ? ": " : ":");
        write(members[i].second, indent, depth + 1, out);
      }
      out += close_pad + "}";
      return;
    }
  }
}

}  // namespace

std::string json_serialize(const JsonValue& value, int indent) {
  std::string out;
  write(value, indent, 0, out);
  return out;
}

}  // namespace tunesmith
