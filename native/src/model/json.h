// A small JSON reader, enough for config.json, safetensors headers and
// model.safetensors.index.json. Parse errors throw tunesmith::Error naming the source and the byte
// offset. Numbers keep an exact int64 when they are integers (safetensors offsets can pass 2^31).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tunesmith {

class JsonValue {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_object() const { return kind_ == Kind::Object; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_integer() const { return kind_ == Kind::Number && is_integer_; }

  // Typed access; throw tunesmith::Error on the wrong kind (the message names `what`).
  bool as_bool(const std::string& what = "value") const;
  double as_number(const std::string& what = "value") const;
  int64_t as_int(const std::string& what = "value") const;
  const std::string& as_string(const std::string& what = "value") const;
  const std::vector<JsonValue>& as_array(const std::string& what = "value") const;
  const std::vector<std::pair<std::string, JsonValue>>& as_object(const std::string& what = "value") const;

  // Object member lookup: nullptr when absent (or when this is not an object).
  const JsonValue* find(const std::string& key) const;

  static JsonValue make_null() { return JsonValue(); }
  static JsonValue make_bool(bool b);
  static JsonValue make_number(double d, bool is_integer, int64_t integer);
  static JsonValue make_string(std::string s);
  static JsonValue make_array(std::vector<JsonValue> items);
  static JsonValue make_object(std::vector<std::pair<std::string, JsonValue>> members);

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0.0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

// `source` names the file (or "header of X") in error messages.
JsonValue parse_json(const char* data, size_t size, const std::string& source);
JsonValue parse_json(const std::string& text, const std::string& source);

// Writes a JSON string literal with escapes (for the safetensors writer).
std::string json_quote(const std::string& s);

}  // namespace tunesmith
